/**
 * The barrier against real MariaDB and PostgreSQL: every ordering of
 * try/confirm/cancel is forced deterministically, and the business effect is
 * counted in a table of the test's own database. Every ordering and failure
 * runs on each database, twice: on a knex transaction (runInBarrier) and on a
 * plain connection (runInSqlBarrier).
 */
import type { Knex } from 'knex';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runInBarrier, runInSqlBarrier, sqlOnKnex } from '../../participant-sdk/barrier/barrier.ts';
import type { BarrierOptions, BarrierResult } from '../../participant-sdk/barrier/barrier.ts';
import { cleanupBarrier, startBarrierCleanup } from '../../participant-sdk/barrier/cleanup.ts';
import { createBarrierTable } from '../../participant-sdk/barrier/migration.ts';
import { BarrierInputError, ParticipantConfigError, TransactionLostError } from '../../participant-sdk/errors.ts';
import type { BranchOp } from '../../protocol/wire.ts';
import type { TestDatabase } from '../support/databases.ts';
import { BARRIER_DATABASES, rawRows, type BarrierDatabase } from '../support/barrier-databases.ts';
import { waitFor } from '../../tools/wait.ts';

const TABLE = 'dtx_barrier';
const GID = 'gid-barrier-1';
const BRANCH = '01';

/** The database of the suite running (BARRIER_DATABASES). */
let database: BarrierDatabase;
let db: TestDatabase;
let knex: Knex;
let clock = 1_000;

async function setUp(label: string): Promise<void> {
  db = await database.create(`barrier ${label}`);
  knex = database.connect(db);
  await createBarrierTable(knex, TABLE);
  await knex.schema.createTable('effects', (t) => {
    t.increments('id');
    const gid = t.string('gid', 128).notNullable();
    // PostgreSQL's text comparison is case-sensitive already.
    if (database.dialect === 'mysql') gid.collate('utf8mb4_bin');
    t.string('branch_id', 64).notNullable();
    t.string('op', 16).notNullable();
  });
  clock = 1_000;
}

async function tearDown(): Promise<void> {
  await knex?.destroy();
  await db?.drop();
}

/** One statement on the barrier's transaction; resolves to rows for a SELECT. */
type Run = (sql: string, values?: unknown[]) => Promise<unknown>;

/** The two ways a handler can share the barrier's transaction, behind one signature. */
const KINDS = {
  'knex transaction': <T>(options: BarrierOptions, work: (run: Run) => Promise<T>) =>
    runInBarrier(knex, options, (trx) => work(async (sql, values = []) => rawRows(await trx.raw(sql, values as Knex.RawBinding[])))),
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

/**
 * Accounts a and b (balance 0), and a rendezvous for two transactions: each
 * locks its first account, awaits the returned function (it resolves once
 * both hold theirs), then locks the other one — a guaranteed deadlock.
 */
async function deadlockingAccounts(): Promise<() => Promise<void>> {
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
  return () => {
    if (++holding === 2) bothHolding();
    return bothHold;
  };
}

async function effects(op: BranchOp, gid = GID): Promise<number> {
  const [row] = await knex('effects').where({ gid, op }).count({ n: '*' });
  return Number(row?.['n']);
}

async function barrierRows(gid = GID): Promise<Array<{ op: string; origin_op: string }>> {
  return knex(TABLE).where({ gid }).select('op', 'origin_op').orderBy('id');
}

describe.each(BARRIER_DATABASES)('on $name', (suiteDatabase) => {
  beforeEach(async (context) => {
    database = suiteDatabase;
    await setUp(context.task.name);
  });

  afterEach(tearDown);

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
          const rows = (await run(database.isolationLevelSql)) as Array<{ level: string }>;
          // The barrier row is visible on the same transaction: the work is inside it.
          const own = (await run(`select 1 from ${TABLE} where gid = ? and op = 'try'`, [GID])) as unknown[];
          return { level: rows[0]?.level, sawBarrierRow: own.length === 1 };
        });
        expect(result).toEqual({ kind: 'ran', value: { level: 'READ COMMITTED', sawBarrierRow: true } });
      });

      it('takes ? for values and ?? for identifiers, as knex.raw does, on every database', async () => {
        const result = await barrier({ table: TABLE, gid: GID, branchId: BRANCH, op: 'try', now: () => clock }, async (run) => {
          await recordEffect(run, GID, BRANCH, 'try');
          return run('select op, branch_id from ?? where gid = ? and branch_id = ?', ['effects', GID, BRANCH]);
        });
        expect(result).toEqual({ kind: 'ran', value: [{ op: 'try', branch_id: BRANCH }] });
      });

      if (suiteDatabase.dialect === 'postgres')
        it('takes \\? for a literal question mark (a jsonb operator) on PostgreSQL', async () => {
          const result = await barrier({ table: TABLE, gid: GID, branchId: BRANCH, op: 'try', now: () => clock }, async (run) =>
            run(`select '{"a": 1}'::jsonb \\? ? as has, ?::int + 1 as next`, ['a', 41]),
          );
          expect(result).toEqual({ kind: 'ran', value: [{ has: true, next: 42 }] });
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
          await waitFor(async () => entered === 2 || (entered === 1 && (await barrierInsertsInFlight()) > 0), {
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
          await waitFor(async () => (await barrierInsertsInFlight()) > 0, { what: 'cancel blocked on the try row' });
        } finally {
          release();
        }

        expect((await tryCall).kind).toBe('ran');
        expect((await cancelCall)?.kind).toBe('ran');
        expect(await effects('cancel')).toBe(1);
      });
    });

    describe('phase-two refusals', () => {
      /** The barrier's locking read of the rows a confirm or cancel depends on. */
      const LOCKING_READ = 'select op, origin_op from';

      it('refuses a confirm whose try never ran here, running and writing nothing', async () => {
        expect(await call('confirm')).toEqual({ kind: 'refused', refusal: 'try-not-found' });
        expect(await effects('confirm')).toBe(0);
        expect(await barrierRows()).toEqual([]);
        // Refused again on a repeat: the refusal left no row that would read as a duplicate.
        expect(await call('confirm')).toEqual({ kind: 'refused', refusal: 'try-not-found' });
        expect(await barrierRows()).toEqual([]);
      });

      it('refuses a confirm whose try failed and rolled back', async () => {
        await barrier({ table: TABLE, gid: GID, branchId: BRANCH, op: 'try', now: () => clock }, async () => {
          throw new Error('try failed');
        }).catch(() => undefined);
        expect(await call('confirm')).toEqual({ kind: 'refused', refusal: 'try-not-found' });
        expect(await effects('confirm')).toBe(0);
        expect(await barrierRows()).toEqual([]);
      });

      it('refuses a confirm of a null-compensated branch (its try row was written by the cancel)', async () => {
        expect(await call('cancel')).toEqual({ kind: 'null-compensation' });
        expect(await call('confirm')).toEqual({ kind: 'refused', refusal: 'already-cancelled' });
        expect(await effects('confirm')).toBe(0);
        expect(await barrierRows()).toEqual([
          { op: 'try', origin_op: 'cancel' },
          { op: 'cancel', origin_op: 'cancel' },
        ]);
      });

      it('refuses a confirm after a cancel, and a cancel after a confirm; repeats stay duplicates', async () => {
        await call('try', GID, 'cancelled');
        expect((await call('cancel', GID, 'cancelled')).kind).toBe('ran');
        expect(await call('confirm', GID, 'cancelled')).toEqual({ kind: 'refused', refusal: 'already-cancelled' });
        expect(await call('cancel', GID, 'cancelled')).toEqual({ kind: 'duplicate' });

        await call('try', GID, 'confirmed');
        expect((await call('confirm', GID, 'confirmed')).kind).toBe('ran');
        expect(await call('cancel', GID, 'confirmed')).toEqual({ kind: 'refused', refusal: 'already-confirmed' });
        expect(await call('confirm', GID, 'confirmed')).toEqual({ kind: 'duplicate' });

        expect(await effects('confirm')).toBe(1);
        expect(await effects('cancel')).toBe(1);
        const rows = await knex(TABLE).where({ gid: GID }).orderBy('id').select('branch_id', 'op');
        expect(rows).toEqual([
          { branch_id: 'cancelled', op: 'try' },
          { branch_id: 'cancelled', op: 'cancel' },
          { branch_id: 'confirmed', op: 'try' },
          { branch_id: 'confirmed', op: 'confirm' },
        ]);
      });

      /** A try held inside its work until `finish` is called; it then commits, or rolls back with `fail`. */
      function heldTry(): { done: Promise<BarrierResult<string>>; inside: Promise<void>; finish(fail?: Error): void } {
        let entered!: () => void;
        const inside = new Promise<void>((resolve) => (entered = resolve));
        let finish!: (fail?: Error) => void;
        const gate = new Promise<Error | undefined>((resolve) => (finish = resolve));
        const done = barrier({ table: TABLE, gid: GID, branchId: BRANCH, op: 'try', now: () => clock }, async (run) => {
          const value = await recordEffect(run, GID, BRANCH, 'try');
          entered();
          const fail = await gate;
          if (fail) throw fail;
          return value;
        });
        return { done, inside, finish };
      }

      /** Start `op` and wait until it waits on a lock in one of `statements` (prefixes of its SQL); fails fast if it finishes instead. */
      async function startBlocked(op: BranchOp, statements: readonly string[]): Promise<{ pending: Promise<BarrierResult<string>> }> {
        let settled = false;
        const pending = call(op);
        void pending.then(
          () => (settled = true),
          () => (settled = true),
        );
        await waitFor(
          async (bail) => {
            if (settled) bail(new Error(`${op} finished without waiting: ${JSON.stringify(await pending.catch((e: unknown) => String(e)))}`));
            for (const statement of statements) if ((await barrierStatementsInFlight(statement)) > 0) return true;
            return false;
          },
          { what: `${op} waiting on a lock in ${statements.join(' or ')}` },
        );
        // Wrapped: returning the promise itself from an async function would wait for it.
        return { pending };
      }

      it('waits for a try in flight before deciding a confirm, and runs it once the try commits', async () => {
        const tryCall = heldTry();
        let confirm: Promise<BarrierResult<string>> | undefined;
        try {
          await tryCall.inside;
          confirm = (await startBlocked('confirm', [LOCKING_READ])).pending;
        } finally {
          tryCall.finish();
        }
        expect((await tryCall.done).kind).toBe('ran');
        expect((await confirm)?.kind).toBe('ran');
        expect(await effects('confirm')).toBe(1);
      });

      it('waits for a try in flight before deciding a confirm, and refuses it once the try rolls back', async () => {
        const tryCall = heldTry();
        let confirm: Promise<BarrierResult<string>> | undefined;
        const failure = new Error('try failed');
        try {
          await tryCall.inside;
          confirm = (await startBlocked('confirm', [LOCKING_READ])).pending;
        } finally {
          tryCall.finish(failure);
        }
        await expect(tryCall.done).rejects.toBe(failure);
        expect(await confirm).toEqual({ kind: 'refused', refusal: 'try-not-found' });
        expect(await effects('confirm')).toBe(0);
        expect(await barrierRows()).toEqual([]);
      });

      /** `first` held inside its work while `second` of the same branch arrives; `second` must wait for it, then be refused. */
      async function race(first: 'confirm' | 'cancel', second: 'confirm' | 'cancel') {
        await call('try');
        let release!: () => void;
        const gate = new Promise<void>((resolve) => (release = resolve));
        let entered!: () => void;
        const inside = new Promise<void>((resolve) => (entered = resolve));
        const firstCall = barrier({ table: TABLE, gid: GID, branchId: BRANCH, op: first, now: () => clock }, async (run) => {
          await recordEffect(run, GID, BRANCH, first);
          entered();
          await gate;
        });
        let secondCall: Promise<BarrierResult<string>> | undefined;
        try {
          await inside;
          secondCall = (await startBlocked(second, [LOCKING_READ, 'insert ignore into'])).pending;
        } finally {
          release();
        }
        return { first: await firstCall, second: await secondCall };
      }

      it('never runs a confirm and a cancel of the same branch: a cancel arriving during its confirm is refused', async () => {
        const { first, second } = await race('confirm', 'cancel');
        expect(first.kind).toBe('ran');
        expect(second).toEqual({ kind: 'refused', refusal: 'already-confirmed' });
        expect(await effects('confirm')).toBe(1);
        expect(await effects('cancel')).toBe(0);
        expect((await barrierRows()).map((r) => r.op)).toEqual(['try', 'confirm']);
      });

      it('never runs a confirm and a cancel of the same branch: a confirm arriving during its cancel is refused', async () => {
        const { first, second } = await race('cancel', 'confirm');
        expect(first.kind).toBe('ran');
        expect(second).toEqual({ kind: 'refused', refusal: 'already-cancelled' });
        expect(await effects('cancel')).toBe(1);
        expect(await effects('confirm')).toBe(0);
        expect((await barrierRows()).map((r) => r.op)).toEqual(['try', 'cancel']);
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
        expect(await refused(GID, BRANCH, 'prepare')).toBe('op');
        const [row] = await knex(TABLE).count({ n: '*' });
        expect(Number(row?.['n'])).toBe(0);

        // The longest valid ids are stored whole, not truncated.
        const longGid = 'g'.repeat(128);
        const longBranch = 'b'.repeat(64);
        expect((await call('try', longGid, longBranch)).kind).toBe('ran');
        expect(await knex(TABLE).where({ gid: longGid, branch_id: longBranch }).first()).toBeDefined();
      });

      it('replays the whole transaction, work included, when it is chosen as a deadlock victim', async () => {
        const bothHold = await deadlockingAccounts();
        const retries: number[] = [];
        // Each transfer locks its first account, waits until the other holds its
        // own first account, then locks the other one: a guaranteed deadlock.
        const transfer = (branchId: string, first: string, second: string) =>
          barrier({ table: TABLE, gid: GID, branchId, op: 'try', now: () => clock, onRetry: (_e, n) => retries.push(n) }, async (run) => {
            await run('update accounts set balance = balance + 1 where id = ?', [first]);
            await bothHold();
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

      describe('a handler that swallows the error that lost its transaction', () => {
        /**
         * Two tries (branches x and y) that deadlock on two accounts, as above,
         * with handlers that catch the error of their second update and go on
         * to record their effect, as a careless handler would.
         */
        async function swallowingTransfers(maxAttempts: number) {
          const bothHold = await deadlockingAccounts();
          const swallowed: unknown[] = [];
          const afterLoss: unknown[] = [];
          const retries: number[] = [];
          const transfer = (branchId: string, first: string, second: string) =>
            barrier({ table: TABLE, gid: GID, branchId, op: 'try', now: () => clock, maxAttempts, onRetry: (_e, n) => retries.push(n) }, async (run) => {
              await run('update accounts set balance = balance + 1 where id = ?', [first]);
              await bothHold();
              let lost = false;
              try {
                await run('update accounts set balance = balance + 1 where id = ?', [second]);
              } catch (error) {
                swallowed.push(error);
                lost = true;
              }
              try {
                await recordEffect(run, GID, branchId, 'try');
              } catch (error) {
                if (!lost) throw error;
                afterLoss.push(error);
              }
              return 'returned normally';
            });
          const results = await Promise.allSettled([transfer('x', 'a', 'b'), transfer('y', 'b', 'a')]);
          const effectsOf = async (branchId: string) => Number((await knex('effects').where({ gid: GID, branch_id: branchId }).count({ n: '*' }))[0]?.['n']);
          return {
            results,
            swallowed,
            afterLoss,
            retries,
            effects: { x: await effectsOf('x'), y: await effectsOf('y') },
            balances: await knex('accounts').orderBy('id').pluck('balance'),
          };
        }

        it('fails the call (never success), and refuses the statements it sends after the loss', async () => {
          const outcome = await swallowingTransfers(1);
          expect(outcome.swallowed).toHaveLength(1);
          expect(outcome.swallowed[0]).toMatchObject(database.deadlockError);
          const ran = outcome.results.filter((r) => r.status === 'fulfilled');
          const failed = outcome.results.filter((r) => r.status === 'rejected');
          expect(ran.map((r) => r.value)).toEqual([{ kind: 'ran', value: 'returned normally' }]);
          expect(failed.map((r) => r.reason)).toEqual([outcome.swallowed[0]]);
          // The statement after the loss was refused, not run in autocommit.
          expect(outcome.afterLoss).toHaveLength(1);
          if (kind === 'plain SQL') expect(outcome.afterLoss[0]).toBeInstanceOf(TransactionLostError);
          expect(outcome.effects.x + outcome.effects.y).toBe(1);
          expect((await barrierRows()).map((r) => r.op)).toEqual(['try']);
          expect(outcome.balances).toEqual([1, 1]);
        });

        it('replays the call; its work is applied exactly once', async () => {
          const outcome = await swallowingTransfers(5);
          expect(outcome.swallowed).toHaveLength(1);
          expect(outcome.retries).toEqual([1]);
          expect(outcome.results.map((r) => r.status === 'fulfilled' && r.value)).toEqual([
            { kind: 'ran', value: 'returned normally' },
            { kind: 'ran', value: 'returned normally' },
          ]);
          expect(outcome.effects).toEqual({ x: 1, y: 1 });
          expect(outcome.balances).toEqual([2, 2]);
          expect(await barrierRows()).toHaveLength(2);
        });
      });

      it('fails a call whose connection was killed under it, even if the handler swallows the error', async () => {
        const afterLoss: unknown[] = [];
        let swallowed: unknown;
        const outcome = await barrier({ table: TABLE, gid: GID, branchId: BRANCH, op: 'try', now: () => clock }, async (run) => {
          const [own] = (await run(database.sessionIdSql)) as Array<{ id: number }>;
          await recordEffect(run, GID, BRANCH, 'try');
          await database.killSession(knex, Number(own?.id));
          try {
            await run('select 1');
          } catch (error) {
            swallowed = error;
          }
          try {
            await recordEffect(run, GID, BRANCH, 'try');
          } catch (error) {
            afterLoss.push(error);
          }
          return 'returned normally';
        }).catch((error: unknown) => ({ failedWith: error }));

        expect(outcome).toEqual({ failedWith: swallowed });
        expect(afterLoss).toHaveLength(1);
        if (kind === 'plain SQL') expect(afterLoss[0]).toBeInstanceOf(TransactionLostError);
        expect(await effects('try')).toBe(0);
        expect(await barrierRows()).toEqual([]);
        // The dead connection is not handed out again.
        expect((await call('try')).kind).toBe('ran');
      });

      /** A try whose handler inserts a request id already there, catches the duplicate-key error, and goes on. */
      async function tryCatchingDuplicate() {
        await knex.schema.createTable('requests', (t) => t.string('id', 16).primary());
        await knex('requests').insert({ id: 'seen' });
        const later: unknown[] = [];
        let duplicate: unknown;
        const outcome = await barrier({ table: TABLE, gid: GID, branchId: BRANCH, op: 'try', now: () => clock }, async (run) => {
          try {
            await run('insert into requests (id) values (?)', ['seen']);
          } catch (error) {
            duplicate = error;
          }
          try {
            await run('insert into requests (id) values (?)', ['new']);
            await recordEffect(run, GID, BRANCH, 'try');
          } catch (error) {
            later.push(error);
          }
          return 'returned normally';
        }).catch((error: unknown) => ({ failedWith: error }));
        return { outcome, duplicate, later };
      }

      if (suiteDatabase.dialect === 'postgres')
        it('fails a handler that caught a duplicate-key error: PostgreSQL aborted its transaction, and nothing commits', async () => {
          const { outcome, duplicate, later } = await tryCatchingDuplicate();
          expect(duplicate).toMatchObject(database.duplicateKeyError);
          expect(outcome).toEqual({ failedWith: duplicate });
          // Refused without being sent: the aborted transaction would have refused it too, and its COMMIT rolled back.
          expect(later).toHaveLength(1);
          if (kind === 'plain SQL') expect(later[0]).toBeInstanceOf(TransactionLostError);
          expect(await effects('try')).toBe(0);
          expect(await knex('requests').orderBy('id').pluck('id')).toEqual(['seen']);
          expect(await barrierRows()).toEqual([]);
        });

      if (suiteDatabase.dialect === 'mysql')
        it('commits a handler that caught a duplicate-key error on purpose: an ordinary error does not lose the transaction', async () => {
          await knex.schema.createTable('requests', (t) => t.string('id', 16).primary());
          await knex('requests').insert({ id: 'seen' });
          const result = await barrier({ table: TABLE, gid: GID, branchId: BRANCH, op: 'try', now: () => clock }, async (run) => {
            let duplicate: unknown;
            try {
              await run('insert into requests (id) values (?)', ['seen']);
            } catch (error) {
              duplicate = error;
            }
            await run('insert into requests (id) values (?)', ['new']);
            await recordEffect(run, GID, BRANCH, 'try');
            return (duplicate as { errno?: number } | undefined)?.errno;
          });
          expect(result).toEqual({ kind: 'ran', value: 1062 });
          expect(await effects('try')).toBe(1);
          expect(await knex('requests').orderBy('id').pluck('id')).toEqual(['new', 'seen']);
          expect((await barrierRows()).map((r) => r.op)).toEqual(['try']);
        });
    });
  });

  describe('knex barrier', () => {
    it('refuses query-builder and ctx.sql statements after the transaction was lost, and fails the call', async () => {
      const bothHold = await deadlockingAccounts();
      const refused: Record<string, unknown[]> = { builder: [], sql: [] };
      const transfer = (branchId: string, first: string, second: string) =>
        runInBarrier(knex, { table: TABLE, gid: GID, branchId, op: 'try', now: () => clock, maxAttempts: 1 }, async (trx) => {
          const sql = sqlOnKnex(trx);
          await trx('accounts').where({ id: first }).increment('balance', 1);
          await bothHold();
          try {
            await sql('update accounts set balance = balance + 1 where id = ?', [second]);
          } catch {
            // swallowed, as a careless handler would
          }
          await trx('effects')
            .insert({ gid: GID, branch_id: branchId, op: 'try' })
            .catch((error: unknown) => refused['builder']!.push(error));
          await sql('insert into effects (gid, branch_id, op) values (?, ?, ?)', [GID, branchId, 'try']).catch((error: unknown) => refused['sql']!.push(error));
        });
      const results = await Promise.allSettled([transfer('x', 'a', 'b'), transfer('y', 'b', 'a')]);

      expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
      expect(results.find((r) => r.status === 'rejected')?.reason).toMatchObject(database.deadlockError);
      expect(refused['builder']).toHaveLength(1);
      expect(refused['sql']).toHaveLength(1);
      // Only the winner's two effect rows (builder and ctx.sql) were written.
      expect(await effects('try')).toBe(2);
      expect(await knex('accounts').orderBy('id').pluck('balance')).toEqual([1, 1]);
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

    it('reports SELECT rows and write counts to the handler (an AUTO_INCREMENT id on MySQL; none on PostgreSQL, where RETURNING gives it)', async () => {
      const result = await runInSqlBarrier(knex, { table: TABLE, gid: GID, branchId: BRANCH, op: 'try', now: () => clock }, async (sql) => {
        const inserted = await sql('insert into effects (gid, branch_id, op) values (?, ?, ?), (?, ?, ?)', [GID, 'x', 'try', GID, 'y', 'try']);
        const selected = await sql<{ branch_id: string }>('select branch_id from effects where gid = ? order by branch_id', [GID]);
        const updated = await sql('update effects set op = ? where gid = ? and branch_id = ?', ['try', GID, 'x']);
        const returning =
          database.dialect === 'postgres'
            ? await sql<{ id: number }>('insert into effects (gid, branch_id, op) values (?, ?, ?) returning id', [GID, 'z', 'try'])
            : null;
        return {
          inserted: inserted.affectedRows,
          firstId: inserted.insertId > 0,
          rows: selected.rows.map((r) => r.branch_id),
          selectCounts: [selected.affectedRows, selected.insertId],
          updated: updated.affectedRows,
          returning: returning && { affectedRows: returning.affectedRows, ids: returning.rows.length, insertId: returning.insertId },
        };
      });
      expect(result).toEqual({
        kind: 'ran',
        value: {
          inserted: 2,
          firstId: database.dialect === 'mysql',
          rows: ['x', 'y'],
          selectCounts: [0, 0],
          updated: 1,
          returning: database.dialect === 'postgres' ? { affectedRows: 1, ids: 1, insertId: 0 } : null,
        },
      });
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
      expect(Number((await knex(TABLE).where({ gid: 'late-cancel' }).count({ n: '*' }).first())?.['n'])).toBe(2);

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
});

describe('a knex instance on another client', () => {
  it('is refused by the plain-SQL barrier before it is touched', async () => {
    // Only the client name is read; a knex on another dialect would need its driver installed.
    const other = { client: { config: { client: 'sqlite3' } } } as unknown as Knex;
    let ran = false;
    const error = await runInSqlBarrier(other, { table: TABLE, gid: GID, branchId: BRANCH, op: 'try', now: () => clock }, async () => {
      ran = true;
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ParticipantConfigError);
    expect(ran).toBe(false);
  });
});

/**
 * Sessions of this database waiting on a lock: a barrier claim (an INSERT
 * IGNORE on MySQL) or, on PostgreSQL, anything (the branch's advisory lock
 * included). While another open transaction holds the same key uncommitted,
 * such a statement cannot finish. (On MySQL the processlist is used rather
 * than information_schema.innodb_trx, which MariaDB 10.11 was seen to omit
 * waiting transactions from.)
 */
async function barrierInsertsInFlight(): Promise<number> {
  return database.lockWaits(knex, db, ['insert ignore into']);
}

/** Sessions of this database waiting on a lock; on MySQL, statements starting with `prefix` still executing. */
async function barrierStatementsInFlight(prefix: string): Promise<number> {
  return database.lockWaits(knex, db, [prefix]);
}
