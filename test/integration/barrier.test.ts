/**
 * The barrier against real MariaDB: every ordering of try/confirm/cancel is
 * forced deterministically, and the business effect is counted in a table of
 * the test's own database. Every ordering and failure runs twice: on a knex
 * transaction (runInBarrier) and on a plain mysql2 connection (runInSqlBarrier).
 */
import knexFactory from 'knex';
import type { Knex } from 'knex';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { runInBarrier, runInSqlBarrier } from '../../participant-sdk/barrier/barrier.ts';
import type { BarrierOptions, BarrierResult } from '../../participant-sdk/barrier/barrier.ts';
import { cleanupBarrier, startBarrierCleanup } from '../../participant-sdk/barrier/cleanup.ts';
import { createBarrierTable } from '../../participant-sdk/barrier/migration.ts';
import { BarrierInputError, ParticipantConfigError } from '../../participant-sdk/errors.ts';
import type { BranchOp } from '../../participant-sdk/protocol/wire.ts';
import { createTestDatabase } from '../support/databases.ts';
import type { TestDatabase } from '../support/databases.ts';
import { waitFor } from '../support/wait.ts';

const TABLE = 'dtx_barrier';
const GID = 'gid-barrier-1';
const BRANCH = '01';

let db: TestDatabase;
let knex: Knex;
let clock = 1_000;

beforeEach(async (context) => {
  db = await createTestDatabase(inject('mysqlUrl'), `barrier ${context.task.name}`);
  knex = knexFactory({ client: 'mysql2', connection: db.url, pool: { min: 0, max: 8 } });
  await createBarrierTable(knex, TABLE);
  await knex.schema.createTable('effects', (t) => {
    t.increments('id');
    t.string('gid', 128).notNullable().collate('utf8mb4_bin');
    t.string('branch_id', 64).notNullable();
    t.string('op', 16).notNullable();
  });
  clock = 1_000;
});

afterEach(async () => {
  await knex?.destroy();
  await db?.drop();
});

/** One statement on the barrier's transaction; resolves to rows for a SELECT. */
type Run = (sql: string, values?: unknown[]) => Promise<unknown>;

/** The two ways a handler can share the barrier's transaction, behind one signature. */
const KINDS = {
  'knex transaction': <T>(options: BarrierOptions, work: (run: Run) => Promise<T>) =>
    runInBarrier(knex, options, (trx) => work(async (sql, values = []) => ((await trx.raw(sql, values as Knex.RawBinding[])) as [unknown])[0])),
  'plain SQL': <T>(options: BarrierOptions, work: (run: Run) => Promise<T>) =>
    runInSqlBarrier(knex, options, (sql) =>
      work(async (query, values = []) => {
        const result = await sql(query, values);
        return result.rows;
      }),
    ),
};
type Kind = keyof typeof KINDS;
let barrier: (typeof KINDS)[Kind] = KINDS['knex transaction'];

/** The business work of a test: one row in `effects` per run. */
async function recordEffect(run: Run, gid: string, branchId: string, op: BranchOp): Promise<string> {
  await run('insert into effects (gid, branch_id, op) values (?, ?, ?)', [gid, branchId, op]);
  return `${op} done`;
}

function call(op: BranchOp, gid = GID, branchId = BRANCH): Promise<BarrierResult<string>> {
  return barrier({ table: TABLE, gid, branchId, op, now: () => clock }, (run) => recordEffect(run, gid, branchId, op));
}

async function effects(op: BranchOp, gid = GID): Promise<number> {
  const [row] = await knex('effects').where({ gid, op }).count({ n: '*' });
  return Number(row?.['n']);
}

async function barrierRows(gid = GID): Promise<Array<{ op: string; origin_op: string }>> {
  return knex(TABLE).where({ gid }).select('op', 'origin_op').orderBy('id');
}

describe.each(Object.keys(KINDS) as Kind[])('barrier on a %s', (kind) => {
beforeEach(() => {
  barrier = KINDS[kind];
});

describe('orderings', () => {
  it('runs a try once and answers a repeated try as a duplicate', async () => {
    expect(await call('try')).toEqual({ kind: 'ran', value: 'try done' });
    expect(await call('try')).toEqual({ kind: 'duplicate' });
    expect(await effects('try')).toBe(1);
  });

  it('runs the work in the barrier transaction at READ COMMITTED (no gap-lock deadlocks on the barrier insert)', async () => {
    const result = await barrier({ table: TABLE, gid: GID, branchId: BRANCH, op: 'try', now: () => clock }, async (run) => {
      const rows = (await run(
        'select trx_isolation_level as level from information_schema.innodb_trx where trx_mysql_thread_id = connection_id()',
      )) as Array<{ level: string }>;
      // The barrier row is visible on the same transaction: the work is inside it.
      const own = (await run(`select 1 from ${TABLE} where gid = ? and op = 'try'`, [GID])) as unknown[];
      return { level: rows[0]?.level, sawBarrierRow: own.length === 1 };
    });
    expect(result).toEqual({ kind: 'ran', value: { level: 'READ COMMITTED', sawBarrierRow: true } });
  });

  it('runs a confirm once and answers a repeated confirm as a duplicate', async () => {
    await call('try');
    expect((await call('confirm')).kind).toBe('ran');
    expect(await call('confirm')).toEqual({ kind: 'duplicate' });
    expect(await effects('confirm')).toBe(1);
  });

  it('runs a cancel after its try, once; a repeated cancel is a duplicate', async () => {
    await call('try');
    expect((await call('cancel')).kind).toBe('ran');
    expect(await call('cancel')).toEqual({ kind: 'duplicate' });
    expect(await effects('cancel')).toBe(1);
  });

  it('answers a cancel before any try as a null compensation, then refuses the late try', async () => {
    expect(await call('cancel')).toEqual({ kind: 'null-compensation' });
    expect(await effects('cancel')).toBe(0);
    expect(await barrierRows()).toEqual([
      { op: 'try', origin_op: 'cancel' },
      { op: 'cancel', origin_op: 'cancel' },
    ]);

    expect(await call('try')).toEqual({ kind: 'suspended' });
    expect(await effects('try')).toBe(0);
    // A repeated null compensation stays a no-op.
    expect(await call('cancel')).toEqual({ kind: 'duplicate' });
    expect(await effects('cancel')).toBe(0);
  });

  it('answers a try redelivered after try and cancel ran as a duplicate, without running it', async () => {
    await call('try');
    await call('cancel');
    expect(await call('try')).toEqual({ kind: 'duplicate' });
    expect(await effects('try')).toBe(1);
    expect(await effects('cancel')).toBe(1);
  });

  it('keeps branches apart: other branch, other gid, and gids differing only in case', async () => {
    await call('try', 'Tx-1', 'a');
    expect((await call('try', 'Tx-1', 'b')).kind).toBe('ran');
    expect((await call('try', 'tx-1', 'a')).kind).toBe('ran');
    expect(await effects('try', 'Tx-1')).toBe(2);
    expect(await effects('try', 'tx-1')).toBe(1);
  });

  it('applies two concurrent confirms exactly once', async () => {
    await call('try');
    let entered = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const confirm = () =>
      barrier({ table: TABLE, gid: GID, branchId: BRANCH, op: 'confirm', now: () => clock }, async (run) => {
        entered++;
        await recordEffect(run, GID, BRANCH, 'confirm');
        await gate;
      });
    const both = Promise.all([confirm(), confirm()]);

    // Both calls are in flight once either both are inside the work (a broken
    // barrier) or one is inside and the other waits on the barrier row's lock.
    try {
      await waitFor(async () => entered === 2 || (entered === 1 && (await barrierInsertsInFlight(db.name)) > 0), {
        what: 'both confirms in flight',
      });
    } finally {
      // Released even when the wait fails, so that a broken barrier fails the test instead of hanging it.
      release();
    }
    const results = await both;

    expect(results.map((r) => r.kind).sort()).toEqual(['duplicate', 'ran']);
    expect(entered).toBe(1);
    expect(await effects('confirm')).toBe(1);
  });

  it('waits for an in-flight try before deciding a concurrent cancel, then runs the cancel', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let tryEntered = false;
    const tryCall = barrier({ table: TABLE, gid: GID, branchId: BRANCH, op: 'try', now: () => clock }, async (run) => {
      await recordEffect(run, GID, BRANCH, 'try');
      tryEntered = true;
      await gate;
    });
    let cancelCall: Promise<BarrierResult<string>> | undefined;
    try {
      await waitFor(() => tryEntered, { what: 'try inside its work' });
      cancelCall = call('cancel');
      await waitFor(async () => (await barrierInsertsInFlight(db.name)) > 0, { what: 'cancel blocked on the try row' });
    } finally {
      release();
    }

    expect((await tryCall).kind).toBe('ran');
    expect((await cancelCall)?.kind).toBe('ran');
    expect(await effects('cancel')).toBe(1);
  });
});

describe('failures', () => {
  it('rolls back the barrier row of a failing try, so that a later cancel is a null compensation', async () => {
    const failure = new Error('try failed');
    await expect(
      barrier({ table: TABLE, gid: GID, branchId: BRANCH, op: 'try', now: () => clock }, async (run) => {
        await recordEffect(run, GID, BRANCH, 'try');
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(await barrierRows()).toEqual([]);

    expect(await call('cancel')).toEqual({ kind: 'null-compensation' });
    expect(await effects('cancel')).toBe(0);
  });

  it('rolls back business rows and barrier rows when the work fails, rethrowing the same error', async () => {
    await call('try');
    class LedgerError extends Error {
      readonly account = 'acc-1';
    }
    const failure = new LedgerError('ledger unavailable');
    const attempt = barrier({ table: TABLE, gid: GID, branchId: BRANCH, op: 'confirm', now: () => clock }, async (run) => {
      await recordEffect(run, GID, BRANCH, 'confirm');
      throw failure;
    });
    await expect(attempt).rejects.toBe(failure);
    expect(await effects('confirm')).toBe(0);
    expect((await barrierRows()).map((r) => r.op)).toEqual(['try']);

    // The confirm was not recorded: the retry runs it.
    expect((await call('confirm')).kind).toBe('ran');
    expect(await effects('confirm')).toBe(1);
  });

  it('refuses bad input before inserting anything', async () => {
    const refused = async (gid: string, branchId: string, op: string) => {
      let ran = false;
      const error = await barrier({ table: TABLE, gid, branchId, op: op as BranchOp, now: () => clock }, async () => {
        ran = true;
      }).catch((e: unknown) => e);
      expect(ran).toBe(false);
      expect(error).toBeInstanceOf(BarrierInputError);
      return (error as BarrierInputError).field;
    };
    expect(await refused('g'.repeat(200), BRANCH, 'try')).toBe('gid');
    expect(await refused('g'.repeat(129), BRANCH, 'try')).toBe('gid');
    expect(await refused('bad gid', BRANCH, 'try')).toBe('gid');
    expect(await refused('gid;drop', BRANCH, 'try')).toBe('gid');
    expect(await refused('gïd', BRANCH, 'try')).toBe('gid');
    expect(await refused('', BRANCH, 'try')).toBe('gid');
    expect(await refused(GID, 'b'.repeat(65), 'try')).toBe('branchId');
    expect(await refused(GID, 'b/1', 'try')).toBe('branchId');
    expect(await refused(GID, BRANCH, 'commit')).toBe('op');
    const [row] = await knex(TABLE).count({ n: '*' });
    expect(Number(row?.['n'])).toBe(0);

    // The longest valid ids are stored whole, not truncated.
    const longGid = 'g'.repeat(128);
    const longBranch = 'b'.repeat(64);
    expect((await call('try', longGid, longBranch)).kind).toBe('ran');
    expect(await knex(TABLE).where({ gid: longGid, branch_id: longBranch }).first()).toBeDefined();
  });

  it('replays the whole transaction, work included, when it is chosen as a deadlock victim', async () => {
    await knex.schema.createTable('accounts', (t) => {
      t.string('id', 16).primary();
      t.integer('balance').notNullable();
    });
    await knex('accounts').insert([
      { id: 'a', balance: 0 },
      { id: 'b', balance: 0 },
    ]);
    let holding = 0;
    let bothHolding!: () => void;
    const bothHold = new Promise<void>((resolve) => (bothHolding = resolve));
    const retries: number[] = [];
    // Each transfer locks its first account, waits until the other holds its
    // own first account, then locks the other one: a guaranteed deadlock.
    const transfer = (branchId: string, first: string, second: string) =>
      barrier({ table: TABLE, gid: GID, branchId, op: 'try', now: () => clock, onRetry: (_e, n) => retries.push(n) }, async (run) => {
        await run('update accounts set balance = balance + 1 where id = ?', [first]);
        if (++holding === 2) bothHolding();
        await bothHold;
        await run('update accounts set balance = balance + 1 where id = ?', [second]);
        await recordEffect(run, GID, branchId, 'try');
      });
    const results = await Promise.all([transfer('x', 'a', 'b'), transfer('y', 'b', 'a')]);

    expect(results.map((r) => r.kind)).toEqual(['ran', 'ran']);
    expect(retries).toEqual([1]);
    expect(await effects('try')).toBe(2);
    const balances = await knex('accounts').orderBy('id').pluck('balance');
    expect(balances).toEqual([2, 2]);
  });
});

});

describe('plain-SQL barrier', () => {
  it('gives the connection back to the pool after every call, committed or rolled back', async () => {
    const pool = knex.client.pool as { numUsed(): number };
    await KINDS['plain SQL']({ table: TABLE, gid: GID, branchId: BRANCH, op: 'try', now: () => clock }, async () => 'ok');
    await KINDS['plain SQL']({ table: TABLE, gid: GID, branchId: BRANCH, op: 'confirm', now: () => clock }, async () => {
      throw new Error('confirm failed');
    }).catch(() => undefined);
    expect(pool.numUsed()).toBe(0);
  });

  it('refuses a statement sent after the call ended, without running it', async () => {
    let kept: ((sql: string, values?: readonly unknown[]) => Promise<unknown>) | undefined;
    await runInSqlBarrier(knex, { table: TABLE, gid: GID, branchId: BRANCH, op: 'try', now: () => clock }, async (sql) => {
      kept = sql;
    });
    const late = await kept!('insert into effects (gid, branch_id, op) values (?, ?, ?)', [GID, BRANCH, 'late']).catch((e: unknown) => e);
    expect((late as { code?: string }).code).toBe('TRANSACTION_FINISHED');
    expect(await effects('late' as BranchOp)).toBe(0);
  });

  it('reports SELECT rows and write counts to the handler', async () => {
    const result = await runInSqlBarrier(knex, { table: TABLE, gid: GID, branchId: BRANCH, op: 'try', now: () => clock }, async (sql) => {
      const inserted = await sql('insert into effects (gid, branch_id, op) values (?, ?, ?), (?, ?, ?)', [GID, 'x', 'try', GID, 'y', 'try']);
      const selected = await sql<{ branch_id: string }>('select branch_id from effects where gid = ? order by branch_id', [GID]);
      return { inserted: inserted.affectedRows, firstId: inserted.insertId > 0, rows: selected.rows.map((r) => r.branch_id) };
    });
    expect(result).toEqual({ kind: 'ran', value: { inserted: 2, firstId: true, rows: ['x', 'y'] } });
  });

  it('refuses a knex instance that is not on the mysql2 client, before touching it', async () => {
    // Only the client name is read; a knex on another dialect would need its driver installed.
    const other = { client: { config: { client: 'pg' } } } as unknown as Knex;
    let ran = false;
    const error = await runInSqlBarrier(other, { table: TABLE, gid: GID, branchId: BRANCH, op: 'try', now: () => clock }, async () => {
      ran = true;
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ParticipantConfigError);
    expect(ran).toBe(false);
  });
});

describe('barrier cleanup', () => {
  async function seed(): Promise<void> {
    clock = 1_000;
    await call('try', 'old-confirmed');
    await call('confirm', 'old-confirmed');
    await call('try', 'old-unfinished');
    await call('cancel', 'old-null-compensated');
    clock = 9_000;
    await call('try', 'recent-confirmed');
    await call('confirm', 'recent-confirmed');
    // Phase two long after the try: retention counts from the phase-two row.
    clock = 1_000;
    await call('try', 'late-cancel');
    clock = 9_500;
    await call('cancel', 'late-cancel');
  }

  async function gidsLeft(): Promise<string[]> {
    return knex(TABLE).distinct('gid').orderBy('gid').pluck('gid');
  }

  it('deletes finished branches past the retention and keeps try-only and recent ones', async () => {
    await seed();
    const deleted = await cleanupBarrier(knex, { table: TABLE, olderThanMs: 5_000, now: () => 10_000, batchSize: 1 });
    expect(deleted).toBe(4);
    expect(await gidsLeft()).toEqual(['late-cancel', 'old-unfinished', 'recent-confirmed']);
    expect(await knex(TABLE).where({ gid: 'late-cancel' }).count({ n: '*' }).first()).toEqual({ n: 2 });

    // Nothing more is due; the try-only branch survives any retention.
    expect(await cleanupBarrier(knex, { table: TABLE, olderThanMs: 5_000, now: () => 10_000 })).toBe(0);
    expect(await cleanupBarrier(knex, { table: TABLE, olderThanMs: 0, now: () => 1_000_000 })).toBe(4);
    expect(await gidsLeft()).toEqual(['old-unfinished']);
  });

  it('runs on a schedule until stopped', async () => {
    await seed();
    const runs: number[] = [];
    const handle = startBarrierCleanup(knex, {
      table: TABLE,
      olderThanMs: 5_000,
      now: () => 10_000,
      intervalMs: 10,
      onRun: (n) => runs.push(n),
      onError: (e) => {
        throw e;
      },
    });
    await waitFor(() => runs.length >= 2, { what: 'two cleanup runs' });
    await handle.stop();
    expect(runs[0]).toBe(4);
    expect(runs.slice(1).every((n) => n === 0)).toBe(true);
    expect(await gidsLeft()).toEqual(['late-cancel', 'old-unfinished', 'recent-confirmed']);
  });
});

/**
 * Barrier INSERT statements of this database still executing. While another
 * open transaction holds the same key uncommitted, such a statement cannot
 * finish: it waits on the row lock. (The processlist is used rather than
 * information_schema.innodb_trx, which MariaDB 10.11 was seen to omit
 * waiting transactions from.)
 */
async function barrierInsertsInFlight(database: string): Promise<number> {
  const [rows] = (await knex.raw(
    `select count(*) as n from information_schema.processlist
      where db = ? and command = 'Query' and info like 'insert ignore into%'`,
    [database],
  )) as [Array<{ n: number }>];
  return Number(rows[0]?.n ?? 0);
}
