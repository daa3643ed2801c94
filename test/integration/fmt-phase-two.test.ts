/**
 * FMT end to end on real MariaDB and PostgreSQL: refused statements never
 * run; a rollback gives back byte-identical tables; a commit leaves no undo
 * record (at once, or through the janitor); a dirty write is detected and
 * nothing is overwritten, and an operator resolves it either way; the
 * guards (rows per statement, rows changed that were not imaged); global
 * locks, through an in-memory lock table standing in for the coordinator's.
 */
import type { Knex } from 'knex';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  commitFmtBranch,
  createFmtUndoTable,
  DEFAULT_FMT_UNDO_TABLE,
  FmtImageMismatchError,
  FmtLockConflictError,
  FmtTooManyRowsError,
  FmtUndoJanitor,
  FmtUnsupportedStatementError,
  resolveFmtDirty,
  rollbackFmtBranch,
  runFmtPhaseOne,
  runWithGlobalLock,
  type GlobalLocks,
  type RowKey,
} from '../../participant-sdk/fmt/index.ts';
import type { FmtSession } from '../../participant-sdk/fmt/fmt-session.ts';
import { rowKeyId } from '../../participant-sdk/fmt/global-locks.ts';
import type { TestDatabase } from '../support/databases.ts';
import { BARRIER_DATABASES, rawRows, type BarrierDatabase } from '../support/barrier-databases.ts';

/**
 * The coordinator's global locks, in memory: a key is held by one gid.
 * `acquire` is all or none; `waitFree` polls until no other gid holds the
 * keys, up to `waitMs`, then throws FmtLockConflictError.
 */
class LockTable {
  readonly held = new Map<string, { gid: string; key: RowKey }>();
  /** Called once per waitFree, before it looks (a test's hook to act in between). */
  onWaitFree: (keys: RowKey[]) => Promise<void> = async () => undefined;

  constructor(private readonly waitMs = 300) {}

  for(gid: string): GlobalLocks {
    return {
      acquire: async (keys) => {
        for (const key of keys) {
          const holder = this.held.get(rowKeyId(key));
          if (holder && holder.gid !== gid) throw new FmtLockConflictError(holder.gid, key);
        }
        for (const key of keys) this.held.set(rowKeyId(key), { gid, key });
      },
      waitFree: async (keys) => {
        await this.onWaitFree(keys);
        const deadline = Date.now() + this.waitMs;
        for (;;) {
          const busy = keys.map((key) => this.held.get(rowKeyId(key))).find((holder) => holder && holder.gid !== gid);
          if (!busy) return;
          if (Date.now() > deadline) throw new FmtLockConflictError(busy.gid, busy.key);
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      },
    };
  }

  release(gid: string): void {
    for (const [id, holder] of this.held) if (holder.gid === gid) this.held.delete(id);
  }
}

let database: BarrierDatabase;
let db: TestDatabase;
let knex: Knex;
let lockTable: LockTable;

async function createTables(): Promise<void> {
  const mysql = database.dialect === 'mysql';
  await knex.raw(`create table accounts (id int primary key, owner varchar(40) not null, balance decimal(20,2) not null, note text null)`);
  await knex.raw(`create table ledger (account_id int not null, line int not null, amount decimal(20,2) not null, primary key (account_id, line))`);
  await knex.raw(`create table nopk (x int not null)`);
  await knex.raw(`create table emails (id int primary key, email varchar(60) not null, unique (email))`);
  if (mysql) {
    await knex.raw(
      `create table stamped (id int primary key, v int not null, touched timestamp(6) not null default current_timestamp(6) on update current_timestamp(6))`,
    );
  }
  await knex('accounts').insert([
    { id: 1, owner: 'ann', balance: '100.00', note: null },
    { id: 2, owner: 'bob', balance: '50.00', note: 'ünï 😀' },
    { id: 3, owner: 'cy', balance: '0.00', note: '' },
  ]);
  await knex('ledger').insert([
    { account_id: 1, line: 1, amount: '100.00' },
    { account_id: 2, line: 1, amount: '50.00' },
  ]);
  await knex('nopk').insert({ x: 1 });
  await knex('emails').insert([
    { id: 1, email: 'a@x' },
    { id: 2, email: 'b@x' },
  ]);
}

/** Every row of the business tables, each value as the server's exact bytes (hex) or text: byte-identical or not. */
async function dump(): Promise<string> {
  const tables: Array<[string, string]> = [
    ['accounts', 'id'],
    ['ledger', 'account_id, line'],
    ['nopk', 'x'],
    ['emails', 'id'],
  ];
  const out: Record<string, unknown[]> = {};
  for (const [table, order] of tables) {
    const query = knex.raw(`select * from ${table} order by ${order}`);
    const raw: unknown =
      database.dialect === 'mysql'
        ? await query.options({ typeCast: (field: { buffer(): Buffer | null }) => field.buffer()?.toString('hex') ?? null })
        : await query.options({ types: { getTypeParser: () => (text: string) => text } });
    out[table] = rawRows(raw);
  }
  return JSON.stringify(out);
}

async function undoCount(gid?: string): Promise<number> {
  const query = knex(DEFAULT_FMT_UNDO_TABLE);
  if (gid) query.where({ gid });
  const [row] = await query.count({ n: '*' });
  return Number(row?.['n']);
}

/** A committed phase one of (gid, b1). */
function phaseOne<T>(gid: string, work: (session: FmtSession) => Promise<T>, options: { maxRowsPerStatement?: number } = {}) {
  return knex.transaction((trx) =>
    runFmtPhaseOne(trx, { gid, branchId: 'b1', resource: 'bank', locks: lockTable.for(gid), dialect: database.dialect, ...options }, work),
  );
}

function rollback(gid: string) {
  return knex.transaction((trx) => rollbackFmtBranch(trx, { gid, branchId: 'b1', dialect: database.dialect }));
}

/** A branch that touches every kind of row: multi-row insert, update, delete, the same row twice, a composite key, a unique key moved. */
async function busyBranch(session: FmtSession): Promise<void> {
  await session.sql('insert into accounts (id, owner, balance, note) values (?, ?, ?, ?), (?, ?, ?, ?)', [10, 'new1', '1.00', null, 11, 'new2', '2.00', 'x']);
  await session.sql('update accounts set balance = balance - ? where id = ?', ['30.00', 1]);
  await session.sql('update accounts set balance = balance - ?, note = ? where id in (?, ?)', ['5.00', 'twice', 1, 10]);
  await session.sql('delete from accounts where owner = ?', ['bob']);
  await session.sql('insert into ledger (account_id, line, amount) values (?, ?, ?), (?, ?, ?)', [1, 2, '-30.00', 1, 3, '-5.00']);
  await session.sql('delete from ledger where account_id = ? and line = ?', [2, 1]);
  // A unique value moved from one row to another: the restore must free it before giving it back.
  await session.sql('update emails set email = ? where id = ?', ['moved@x', 1]);
  await session.sql('insert into emails (id, email) values (?, ?)', [3, 'a@x']);
  await session.sql('update emails set email = ? where id = ?', ['again@x', 1]);
}

describe.each(BARRIER_DATABASES)('FMT phase two on $name', (suiteDatabase) => {
  beforeEach(async (context) => {
    database = suiteDatabase;
    db = await database.create(`fmt phase two ${context.task.name}`);
    knex = database.connect(db);
    await createFmtUndoTable(knex);
    await createFmtUndoTable(knex); // idempotent
    await createTables();
    lockTable = new LockTable();
  });

  afterEach(async () => {
    await knex?.destroy();
    await db?.drop();
  });

  it('never runs a refused statement: the tables stay as they were even when the work goes on and commits', async () => {
    const before = await dump();
    const refused: Array<[string, unknown[]]> = [
      ['delete from accounts', []],
      ['update accounts set balance = 0', []],
      ['update accounts set id = id + 100 where id = ?', [1]],
      ['update ledger set line = 9 where account_id = ?', [1]],
      [
        database.dialect === 'mysql'
          ? 'insert into accounts (id, owner, balance) values (1, ?, 0) on duplicate key update owner = ?'
          : 'insert into accounts (id, owner, balance) values (1, ?, 0) on conflict (id) do update set owner = ?',
        ['x', 'y'],
      ],
      ['insert into accounts (id, owner, balance) select id + 100, owner, balance from accounts', []],
      [
        database.dialect === 'mysql'
          ? 'update accounts a join ledger l on l.account_id = a.id set a.balance = 0 where l.line = ?'
          : 'update accounts set balance = 0 from ledger where ledger.account_id = accounts.id and ledger.line = ?',
        [1],
      ],
      ['delete from ledger where account_id = ? limit 1', [1]],
      ['update nopk set x = 2 where x = ?', [1]],
      ['drop table ledger', []],
      ['truncate table accounts', []],
      ['update accounts set balance = 0 where id = 1; delete from accounts where id = 2', []],
      ['insert into missing_table (a) values (1)', []],
    ];
    if (database.dialect === 'mysql')
      refused.push(
        ['replace into accounts (id, owner, balance) values (1, ?, 0)', ['z']],
        ['insert ignore into accounts (id, owner, balance) values (1, ?, 0)', ['z']],
      );
    const reasons = await phaseOne('gid-refused', async (session) => {
      const seen: string[] = [];
      for (const [sql, values] of refused) {
        try {
          await session.sql(sql, values);
          seen.push(`ran: ${sql}`);
        } catch (error) {
          expect(error, sql).toBeInstanceOf(FmtUnsupportedStatementError);
          seen.push((error as FmtUnsupportedStatementError).reason);
        }
      }
      return seen;
    });
    expect(reasons.value).toEqual([
      'no-where',
      'no-where',
      'primary-key-update',
      'primary-key-update',
      'upsert',
      'insert-select',
      'multi-table',
      'order-limit',
      'no-primary-key',
      'ddl',
      'ddl',
      'multiple-statements',
      'unknown-table',
      ...(database.dialect === 'mysql' ? ['replace', 'insert-ignore'] : []),
    ]);
    expect(await dump()).toBe(before);
    expect(await undoCount()).toBe(0);
    expect(reasons.keys).toEqual([]);
  });

  it('refuses a statement imaging more rows than allowed, before it runs', async () => {
    const before = await dump();
    const result = await phaseOne(
      'gid-many',
      async (session) => {
        await expect(session.sql('update accounts set note = ? where id > ?', ['bulk', 0])).rejects.toThrow(FmtTooManyRowsError);
        await expect(session.sql('insert into ledger (account_id, line, amount) values (9, 1, 0), (9, 2, 0), (9, 3, 0)')).rejects.toMatchObject({
          code: 'FMT_TOO_MANY_ROWS',
          rows: 3,
          limit: 2,
        });
        // Within the limit it runs.
        return session.sql('update accounts set note = ? where id in (?, ?)', ['two', 1, 2]);
      },
      { maxRowsPerStatement: 2 },
    );
    expect(result.value.affectedRows).toBe(2);
    const notes = await knex('accounts').select('id', 'note').orderBy('id');
    expect(notes.map((row: { note: string | null }) => row.note)).toEqual(['two', 'two', '']);
    expect(JSON.parse(await dump()).ledger).toEqual(JSON.parse(before).ledger);
  });

  it('rolls a committed branch back to byte-identical tables, then finds nothing to do', async () => {
    const before = await dump();
    const { keys } = await phaseOne('gid-rb', busyBranch);
    expect(await dump()).not.toBe(before);
    expect(await undoCount('gid-rb')).toBe(9);
    expect(keys.map((key) => `${key.table.split('.')[1]}:${key.pk.join('/')}`).sort()).toEqual(
      ['accounts:1', 'accounts:10', 'accounts:11', 'accounts:2', 'emails:1', 'emails:3', 'ledger:1/2', 'ledger:1/3', 'ledger:2/1'].sort(),
    );
    expect(await rollback('gid-rb')).toEqual({ kind: 'restored', rows: 9 });
    expect(await dump()).toBe(before);
    expect(await undoCount()).toBe(0);
    expect(await rollback('gid-rb')).toEqual({ kind: 'nothing' });
  });

  it('keeps the branches of one table apart: rolling one back leaves the other’s changes', async () => {
    await phaseOne('gid-one', (s) => s.sql('update accounts set balance = ? where id = ?', ['1.00', 1]));
    await phaseOne('gid-two', (s) => s.sql('update accounts set balance = ? where id = ?', ['2.00', 2]));
    expect(await rollback('gid-one')).toEqual({ kind: 'restored', rows: 1 });
    const balances = await knex('accounts').select('id', 'balance').orderBy('id');
    expect(balances.map((row: { balance: unknown }) => Number(row.balance))).toEqual([100, 2, 0]);
    expect(await undoCount('gid-two')).toBe(1);
  });

  it('commits: the changes stay and no undo record is left (once, again: idempotent)', async () => {
    await phaseOne('gid-commit', busyBranch);
    const changed = await dump();
    expect(await commitFmtBranch(knex, { gid: 'gid-commit', branchId: 'b1', dialect: database.dialect })).toBe(9);
    expect(await commitFmtBranch(knex, { gid: 'gid-commit', branchId: 'b1', dialect: database.dialect })).toBe(0);
    expect(await undoCount()).toBe(0);
    expect(await dump()).toBe(changed);
    expect(await rollback('gid-commit')).toEqual({ kind: 'nothing' });
    expect(await dump()).toBe(changed);
  });

  it('detects a dirty write, changes nothing and keeps the records; keep-current then drops them and keeps the data', async () => {
    await phaseOne('gid-dirty', busyBranch);
    // Someone writes a row the branch wrote, without the global lock.
    await knex('accounts').where({ id: 1 }).update({ balance: '999.00' });
    await knex('ledger').where({ account_id: 1, line: 3 }).del();
    const dirtyState = await dump();
    const result = await rollback('gid-dirty');
    expect(result.kind).toBe('dirty');
    if (result.kind !== 'dirty') return;
    expect(result.rows.map((row) => `${row.table.split('.')[1]}:${row.pk.join('/')}`)).toEqual(['accounts:1', 'ledger:1/3']);
    const account = result.rows[0]!;
    expect([account.before?.['balance'], account.after?.['balance'], account.current?.['balance']]).toEqual(['100.00', '65.00', '999.00']);
    expect(result.rows[1]).toMatchObject({ before: null, after: { amount: '-5.00' }, current: null });
    expect(await dump()).toBe(dirtyState);
    expect(await undoCount('gid-dirty')).toBe(9);

    const kept = await knex.transaction((trx) => resolveFmtDirty(trx, { gid: 'gid-dirty', branchId: 'b1', dialect: database.dialect, action: 'keep-current' }));
    expect(kept).toEqual({ kind: 'kept', records: 9 });
    expect(await dump()).toBe(dirtyState);
    expect(await undoCount()).toBe(0);
  });

  it('restore-before puts every row the branch wrote back as before it, over the dirty write', async () => {
    const before = await dump();
    await phaseOne('gid-force', busyBranch);
    await knex('accounts').where({ id: 1 }).update({ balance: '999.00' });
    await knex('accounts').where({ id: 10 }).del();
    await knex('ledger').insert({ account_id: 2, line: 1, amount: '7.00' });
    expect((await rollback('gid-force')).kind).toBe('dirty');
    const restored = await knex.transaction((trx) =>
      resolveFmtDirty(trx, { gid: 'gid-force', branchId: 'b1', dialect: database.dialect, action: 'restore-before' }),
    );
    expect(restored).toEqual({ kind: 'restored', rows: 9 });
    expect(await dump()).toBe(before);
    expect(await undoCount()).toBe(0);
    expect(
      await knex.transaction((trx) => resolveFmtDirty(trx, { gid: 'gid-force', branchId: 'b1', dialect: database.dialect, action: 'keep-current' })),
    ).toEqual({
      kind: 'nothing',
    });
  });

  if (suiteDatabase.dialect === 'mysql') {
    it('does not count an ON UPDATE CURRENT_TIMESTAMP column as dirty, and lets the database set it at restore', async () => {
      await knex('stamped').insert({ id: 1, v: 1, touched: '2001-01-01 00:00:00.000000' });
      await phaseOne('gid-stamp', (s) => s.sql('update stamped set v = ? where id = ?', [2, 1]));
      await knex('stamped').where({ id: 1 }).update({ touched: '2002-02-02 00:00:00.000000' });
      expect(await rollback('gid-stamp')).toEqual({ kind: 'restored', rows: 1 });
      const [row] = rawRows<{ v: number; touched: string }>(await knex.raw(`select v, cast(touched as char) as touched from stamped`));
      expect(row?.v).toBe(1);
      expect(row?.touched).not.toBe('2002-02-02 00:00:00.000000');
    });
  }

  it('batches commits through the janitor, and keeps entries a failed flush could not delete', async () => {
    await phaseOne('gid-j1', (s) => s.sql('update accounts set note = ? where id = ?', ['j1', 1]));
    await phaseOne('gid-j2', (s) => s.sql('update accounts set note = ? where id = ?', ['j2', 2]));
    await phaseOne('gid-j3', (s) => s.sql('update accounts set note = ? where id = ?', ['j3', 3]));
    const errors: unknown[] = [];
    const janitor = new FmtUndoJanitor(knex, { dialect: database.dialect, flushIntervalMs: 20, maxBatch: 2, onError: (error) => errors.push(error) });
    janitor.enqueue('gid-j1', 'b1');
    expect(janitor.pending).toBe(1);
    janitor.enqueue('gid-j2', 'b1'); // the batch is full: flushed at once
    await janitor.flush();
    expect(await undoCount()).toBe(1);
    janitor.enqueue('gid-j3', 'b1');
    await expect.poll(() => undoCount(), { timeout: 5_000 }).toBe(0);
    await janitor.close();
    expect(errors).toEqual([]);
    expect(() => janitor.enqueue('gid-j4', 'b1')).toThrow(/closed/);

    const failing = new FmtUndoJanitor(knex, {
      dialect: database.dialect,
      undoTable: 'fmt_undo_later',
      flushIntervalMs: 60_000,
      onError: (error) => errors.push(error),
    });
    failing.enqueue('gid-x', 'b1');
    await failing.flush();
    expect(errors).toHaveLength(1);
    expect(failing.pending).toBe(1);
    await createFmtUndoTable(knex, 'fmt_undo_later');
    await failing.close();
    expect(errors).toHaveLength(1);
    expect(failing.pending).toBe(0);
  });

  it('takes the global locks of every row written, and rolls the local work back when another global transaction holds one', async () => {
    const before = await dump();
    await lockTable
      .for('gid-holder')
      .acquire([{ resource: 'bank', table: database.dialect === 'mysql' ? `${db.name}.accounts` : 'public.accounts', pk: ['2'] }]);
    await expect(
      phaseOne('gid-blocked', async (s) => {
        await s.sql('update accounts set note = ? where id in (?, ?)', ['blocked', 1, 2]);
      }),
    ).rejects.toMatchObject({ code: 'FMT_LOCK_CONFLICT', holderGid: 'gid-holder', key: { pk: ['2'] } });
    expect(await dump()).toBe(before);
    expect(await undoCount()).toBe(0);

    lockTable.release('gid-holder');
    await phaseOne('gid-free', (s) => s.sql('update accounts set note = ? where id in (?, ?)', ['free', 1, 2]));
    expect([...lockTable.held.values()].map((holder) => `${holder.gid}:${holder.key.pk.join('/')}`).sort()).toEqual(['gid-free:1', 'gid-free:2']);
  });

  it('runs local work under the global locks: a held row waits, then fails without writing; a free one is written, with no undo record', async () => {
    await phaseOne('gid-global', (s) => s.sql('update accounts set note = ? where id = ?', ['global', 1]));
    const options = { resource: 'bank', locks: lockTable.for('local'), dialect: database.dialect };
    await expect(runWithGlobalLock(knex, options, (s) => s.sql('update accounts set balance = ? where id = ?', ['1.00', 1]))).rejects.toBeInstanceOf(
      FmtLockConflictError,
    );
    await expect(runWithGlobalLock(knex, options, (s) => s.selectForUpdate('select * from accounts where owner = ?', ['ann']))).rejects.toBeInstanceOf(
      FmtLockConflictError,
    );
    expect(Number((await knex('accounts').where({ id: 1 }).first()).balance)).toBe(100);

    // The holder ends meanwhile: the waiting write goes through.
    const released = setTimeout(() => lockTable.release('gid-global'), 50);
    const written = await runWithGlobalLock(knex, options, async (s) => {
      const read = await s.selectForUpdate<{ owner: string }>('select owner from accounts where id = ?', [1]);
      await s.sql('update accounts set balance = ? where id = ?', ['1.00', 1]);
      await s.sql('insert into accounts (id, owner, balance) values (?, ?, ?)', [20, 'local', '0.00']);
      return read.rows;
    });
    clearTimeout(released);
    expect(written).toEqual([{ owner: 'ann' }]);
    expect(Number((await knex('accounts').where({ id: 1 }).first()).balance)).toBe(1);
    expect(await undoCount('gid-global')).toBe(1);
    expect(await undoCount()).toBe(1);
  });

  it('refuses a statement that changed rows its WHERE did not select just before (a row committed in between), and breaks the session', async () => {
    let once = true;
    lockTable.onWaitFree = async () => {
      if (!once) return;
      once = false;
      // Between the image read and the statement, another transaction commits a row the WHERE selects.
      await knex('accounts').insert({ id: 30, owner: 'phantom', balance: '5.00' });
    };
    const broken = runWithGlobalLock(knex, { resource: 'bank', locks: lockTable.for('local'), dialect: database.dialect }, async (s) => {
      const first = await s.sql('update accounts set note = ? where balance > ?', ['seen', '1.00']).catch((error: unknown) => error);
      expect(first).toBeInstanceOf(FmtImageMismatchError);
      expect(first).toMatchObject({ imaged: 2, changed: 3 });
      // Whatever the work does next, the session refuses it: its changes would have no undo.
      await expect(s.sql('select 1')).rejects.toBe(first);
      return 'went on';
    });
    await expect(broken).rejects.toBeInstanceOf(FmtImageMismatchError);
    const notes = await knex('accounts').whereNotNull('note').where('note', 'seen').count({ n: '*' });
    expect(Number(notes[0]?.['n'])).toBe(0);
  });

  it('refuses work on a session after finish', async () => {
    let kept: FmtSession | undefined;
    await phaseOne('gid-finished', async (s) => {
      kept = s;
    });
    await expect(kept!.sql('select 1')).rejects.toMatchObject({ code: 'FMT_SESSION_FINISHED' });
  });
});
