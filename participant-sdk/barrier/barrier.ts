/**
 * Running a branch handler behind the barrier: idempotence, null
 * compensation, anti-suspension and the phase-two refusals, in one local DB
 * transaction shared with the business work.
 *
 * Phase-two refusals (answered 409 with their own code; nothing runs and the
 * claimed rows are rolled back, so nothing stays written):
 * - `TRY_NOT_FOUND`: a confirm whose try never succeeded here. No try row, or
 *   only the try row a null compensation wrote (origin_op 'cancel'). The
 *   protocol never sends such a confirm; honouring it would credit what was
 *   never reserved.
 * - `ALREADY_CANCELLED`: a confirm of a branch cancelled (or null-compensated) here.
 * - `ALREADY_CONFIRMED`: a cancel of a branch confirmed here.
 * Repeats stay repeats: a confirm after its confirm, a cancel after its
 * cancel, answer success without running. The coordinator keeps retrying a
 * 409 on confirm/cancel and raises the transaction to an operator.
 *
 * How the refusals stay right under concurrency: the op first claims its own
 * row (an insert unless present: a concurrent twin waits on it), then reads
 * the rows it depends on with a locked read at READ COMMITTED, which sees
 * every row committed before it and waits for a transaction still writing
 * one of them (a try in flight, a concurrent cancel), so the decision is
 * made on committed state. On MySQL the locking read (LOCK IN SHARE MODE)
 * itself waits for a row being inserted; on PostgreSQL, where it cannot, the
 * TCC ops of a branch first take the branch's advisory lock
 * (BarrierDialect.lockBranch), which orders them. A confirm and a cancel of
 * one branch each insert their row before reading the other's: whichever
 * reads second sees (or waits for) the first, so both can never run; if
 * they wait on each other, the database picks a deadlock victim, and its
 * replay sees the winner's committed row and is refused. The statements of
 * each database are its dialect's (dialect.ts).
 *
 * A lost local transaction (deadlock, lock wait timeout, lost connection;
 * on PostgreSQL any statement error) fails the call whatever the handler
 * does with the error: later statements are refused without being sent,
 * nothing is committed, and the call is replayed or answered as unknown
 * (lost-transaction.ts).
 *
 * Known trap, by design: a try (or action) whose work fails rolls back its own
 * barrier row together with its business rows. A cancel arriving afterwards
 * finds no try row and is answered as a null compensation, without running
 * the cancel handler. That is right when everything the try did was in this
 * database (it was all rolled back). It is WRONG if the try had effects
 * outside the database before failing (a call to another system, a message
 * sent, a file written): those are never undone. Handlers with external side
 * effects must make them idempotent and undo them in a way that does not
 * depend on the cancel handler running, or perform them only in confirm.
 */
import type { Knex } from 'knex';
import { BarrierInputError, DtxError } from '../errors.ts';
import type { BranchOp } from '@dtx/protocol';
import { forwardRowExisted, isBarrierOp, locksBranch, planBarrier, refusalOf } from './decision.ts';
import type { BarrierPlan, BarrierRefusal } from './decision.ts';
import type { BarrierDialect, BarrierKey, BarrierQuery, SqlResult } from './dialect.ts';
import { barrierDialectOf } from './dialect-of.ts';
import { assertBarrierKey, assertTableName, DEFAULT_BARRIER_TABLE, SEQ } from './input.ts';
import { isRetryableLockError, withLockRetry } from './lock-retry.ts';
import { GuardedStatements, watchKnexTransaction } from './lost-transaction.ts';
import type { Loss } from './lost-transaction.ts';

export type { BarrierRefusal } from './decision.ts';
export type { BarrierKey, BarrierQuery, SqlResult } from './dialect.ts';

/**
 * - `ran`: the work ran and committed with the barrier rows.
 * - `duplicate`: this op already committed for this branch; the work did not run.
 * - `null-compensation`: a cancel/compensate whose try/action never ran here;
 *   the work did not run and a late try/action is now blocked.
 * - `suspended`: a try/action arriving after its cancel/compensate; the work
 *   did not run and the caller must answer failure.
 * - `refused`: a confirm without a successful try, or a confirm and a cancel
 *   of the same branch (decision.ts, BarrierRefusal); the work did not run,
 *   nothing was written, and the caller must answer failure.
 */
export type BarrierResult<T> =
  { kind: 'ran'; value: T } | { kind: 'duplicate' } | { kind: 'null-compensation' } | { kind: 'suspended' } | { kind: 'refused'; refusal: BarrierRefusal };

/** Which branch op {@link runInBarrier} / {@link runInSqlBarrier} guard, and how they retry lock conflicts. */
export interface BarrierOptions {
  /** Barrier table name; defaults to `dtx_barrier`. */
  table?: string;
  /** The global transaction's id (the `dtx-gid` header of the call). */
  gid: string;
  /** The branch's id (the `dtx-branch-id` header). */
  branchId: string;
  /** The op asked (the `dtx-op` header). */
  op: BranchOp;
  /** Clock for `created_at`, in epoch milliseconds. */
  now: () => number;
  /** Attempts of the whole transaction on deadlock / lock wait timeout (or serialization failure), the first included. Default 5. */
  maxAttempts?: number;
  /** Upper bound of the first retry delay in ms (doubles, full jitter). Default 20. */
  retryBaseDelayMs?: number;
  /** Told about each retried lock conflict, e.g. to log it. */
  onRetry?: (error: unknown, attempt: number) => void;
}

/**
 * Run `work` at most once per (gid, branch id, op), in one READ COMMITTED
 * knex transaction with the barrier rows. This is the barrier alone, for
 * participants that receive dtx calls some other way than through
 * createParticipant (a message consumer, another RPC framework); the
 * participant runs every handler through it.
 *
 * Precondition: the barrier table exists (createBarrierTable); `knex` is on
 * the mysql2 client (MySQL, MariaDB) or the pg client (PostgreSQL).
 * Effect: on `ran`, the barrier rows and everything `work` did through `trx`
 * are committed together. If `work` throws, both are rolled back and the
 * error is rethrown unchanged. On `refused`, nothing is written. If a
 * statement loses the transaction (lost-transaction.ts), later queries on
 * `trx` are refused, nothing is committed and the call fails with that
 * statement's error, even if `work` caught it and returned. Deadlocks and
 * lock conflicts replay the whole transaction, `work` included, a bounded
 * number of times; a replay starts only once the previous `work` has
 * returned.
 *
 * @param knex - the participant's database, where the barrier table is
 * @param options - the branch op to guard; see {@link BarrierOptions}
 * @param work - the business work, on the barrier's transaction
 * @returns what happened; only `ran` carries `work`'s value, and the caller
 *   must answer `suspended` and `refused` as failures
 * @throws BarrierInputError, before touching the database, on an invalid
 *   gid, branch id, op or table; ParticipantConfigError when `knex` is on
 *   another client; whatever `work` throws, unchanged
 *
 * @example
 * ```ts
 * import { runInBarrier } from '@dtx/participant-sdk';
 *
 * const result = await runInBarrier(db, { gid, branchId, op: 'confirm', now: Date.now }, async (trx) => {
 *   await trx('accounts').where('id', 'alice').update({ frozen: trx.raw('frozen - ?', [30]) });
 * });
 * if (result.kind === 'suspended' || result.kind === 'refused') throw new Error(`not run: ${result.kind}`);
 * ```
 */
export async function runInBarrier<T>(knex: Knex, options: BarrierOptions, work: (trx: Knex.Transaction) => Promise<T>): Promise<BarrierResult<T>> {
  return runInKnexBarrier(barrierDialectOf(knex), knex, options, work);
}

/** runInBarrier with the dialect chosen beforehand (createParticipant chooses it once). */
export async function runInKnexBarrier<T>(
  dialect: BarrierDialect,
  knex: Knex,
  options: BarrierOptions,
  work: (trx: Knex.Transaction) => Promise<T>,
): Promise<BarrierResult<T>> {
  const steps = barrierSteps(dialect, options);
  const attempt = async (): Promise<BarrierResult<T>> => {
    const call: { watch?: { readonly loss: Loss | undefined }; settled: Promise<unknown> } = { settled: Promise.resolve() };
    try {
      const result = await knex.transaction(
        (trx) => {
          call.watch = watchKnexTransaction(trx, dialect);
          const run = steps(knexQuery(dialect, trx), () => work(trx));
          call.settled = run.catch(() => undefined);
          return run;
        },
        { isolationLevel: 'read committed' },
      );
      // Never success after a loss (knex cannot commit a transaction it rolled back; checked anyway).
      if (call.watch?.loss) throw call.watch.loss.error;
      return result;
    } catch (error) {
      // knex gives up on a lost transaction at once; the handler may still be running. The call
      // (and a replay of it) goes on only once the handler has returned.
      await call.settled;
      const loss = call.watch?.loss;
      return refusedOrThrow(loss ? loss.error : error);
    }
  };
  return withLockRetry(attempt, retryOptions(dialect, options));
}

/**
 * The same as runInBarrier, without a knex transaction: the barrier rows and
 * `work` share one READ COMMITTED transaction on a connection taken from
 * `knex`'s pool (mysql2's or pg's), and `work` runs its statements through
 * `sql`, with `?` placeholders on either database (see BranchSql).
 *
 * Why it exists: a knex transaction builds a whole query interface per call
 * (~90 KB of objects, bench/participant-alloc.ts), and the garbage
 * collections that follow are what makes a participant's latency tail
 * (docs/performance.md). A call here allocates a fraction of that.
 *
 * Precondition: `knex` uses the mysql2 or the pg client (checked: ParticipantConfigError).
 * Effect: as runInBarrier. The handler's statements are sent one at a time,
 * and COMMIT waits for every statement it started.
 *
 * @param knex - the participant's database, on the mysql2 or pg client
 * @param options - the branch op to guard; see {@link BarrierOptions}
 * @param work - the business work; runs its statements through `sql`
 * @returns what happened, as runInBarrier
 * @throws ParticipantConfigError when `knex` is on another client; BarrierInputError
 *   on invalid input; whatever `work` throws, unchanged
 *
 * @example
 * ```ts
 * import { runInSqlBarrier } from '@dtx/participant-sdk';
 *
 * const result = await runInSqlBarrier(db, { gid, branchId, op: 'try', now: Date.now }, async (sql) => {
 *   const { affectedRows } = await sql('update accounts set balance = balance - ?, frozen = frozen + ? where id = ? and balance >= ?', [30, 30, 'alice', 30]);
 *   return affectedRows === 1;
 * });
 * ```
 */
export async function runInSqlBarrier<T>(knex: Knex, options: BarrierOptions, work: (sql: BranchSql) => Promise<T>): Promise<BarrierResult<T>> {
  return runInPlainBarrier(barrierDialectOf(knex), knex, options, work);
}

/** runInSqlBarrier with the dialect chosen beforehand (createParticipant chooses it once). */
export async function runInPlainBarrier<T>(
  dialect: BarrierDialect,
  knex: Knex,
  options: BarrierOptions,
  work: (sql: BranchSql) => Promise<T>,
): Promise<BarrierResult<T>> {
  const steps = barrierSteps(dialect, options);
  const attempt = async (): Promise<BarrierResult<T>> => {
    const pooled: unknown = await knex.client.acquireConnection();
    const connection = dialect.plainConnection(pooled);
    let reusable = true;
    try {
      const { query } = connection;
      // The handler's own statements: refused once the transaction is lost or the call ended.
      const handler = new GuardedStatements(query, dialect);
      await connection.begin();
      try {
        const result = await steps(query, () => work(branchSql(dialect, handler.query)));
        await handler.settled();
        handler.finish();
        if (handler.loss) throw handler.loss.error;
        await connection.commit();
        return result;
      } catch (error) {
        await handler.settled();
        handler.finish();
        // A failed ROLLBACK leaves the session's state unknown: the connection is not reused.
        reusable = await connection.rollback().then(
          () => true,
          () => false,
        );
        return refusedOrThrow(handler.loss ? handler.loss.error : error);
      }
    } finally {
      if (!reusable) await connection.destroy();
      // knex's pool validates a connection before handing it out again and drops a destroyed one.
      await knex.client.releaseConnection(pooled);
    }
  };
  return withLockRetry(attempt, retryOptions(dialect, options));
}

/**
 * What a handler of a plain-SQL resource (and every handler, as `ctx.sql`)
 * runs its statements with, on the barrier's transaction. Placeholders are
 * `?` for values and `??` for identifiers on every database, as knex.raw
 * takes them (on PostgreSQL they are numbered `$1`, `$2`… before sending; a
 * literal `?`, such as a jsonb operator, is written `\?`). Values go to the
 * driver as it takes them (mysql2, pg).
 */
export type BranchSql = <Row = Record<string, unknown>>(sql: string, values?: readonly unknown[]) => Promise<SqlResult<Row>>;

/** One statement on a knex transaction, answered with the driver's own result (knex.raw wraps mysql2's as [result, fields]). */
function knexQuery(dialect: BarrierDialect, trx: Knex.Transaction): BarrierQuery {
  return async (sql, values) => dialect.fromKnexRaw(await trx.raw(sql, values as Knex.RawBinding[]));
}

/** `ctx.sql` for a handler on a knex transaction: the same plain-SQL runner defineSqlTcc handlers get. */
export function sqlOnKnex(trx: Knex.Transaction): BranchSql {
  return knexBranchSql(barrierDialectOf(trx), trx);
}

/** sqlOnKnex with the dialect chosen beforehand. */
export function knexBranchSql(dialect: BarrierDialect, trx: Knex.Transaction): BranchSql {
  return branchSql(dialect, knexQuery(dialect, trx));
}

export function branchSql(dialect: BarrierDialect, query: BarrierQuery): BranchSql {
  return async <Row>(sql: string, values: readonly unknown[] = []): Promise<SqlResult<Row>> => dialect.result<Row>(await query(sql, values));
}

function retryOptions(dialect: BarrierDialect, options: BarrierOptions) {
  return {
    maxAttempts: options.maxAttempts ?? 5,
    baseDelayMs: options.retryBaseDelayMs ?? 20,
    retryable: (error: unknown) => isRetryableLockError(error, dialect),
    ...(options.onRetry ? { onRetry: options.onRetry } : {}),
  };
}

/**
 * The barrier's statements for one call, on whatever runs the
 * transaction. Validates the input first (BarrierInputError, nothing sent).
 */
function barrierSteps(dialect: BarrierDialect, options: BarrierOptions) {
  const table = options.table ?? DEFAULT_BARRIER_TABLE;
  const { gid, branchId, op } = options;
  assertTableName(table);
  assertBarrierKey(gid, branchId, op);
  if (!isBarrierOp(op))
    throw new BarrierInputError('op', op, "a message sender's check (answerCheckBack) and XA's prepare (defineXa) are not run behind this barrier");
  const key: BarrierKey = { table, gid, branchId };
  const plan = planBarrier(op);
  const lock = locksBranch(op);
  const claim = (query: BarrierQuery, rowOp: BranchOp, now: number) => dialect.claim(query, { ...key, op: rowOp, originOp: plan.op, createdAt: now });

  return async <T>(query: BarrierQuery, work: () => Promise<T>): Promise<BarrierResult<T>> => {
    const now = options.now();
    if (lock) await dialect.lockBranch(query, key);
    if (plan.kind === 'forward') {
      if (!(await claim(query, plan.op, now))) {
        return { kind: forwardRowExisted(plan.op, await originOf(dialect, query, key, plan.op)) };
      }
      await refuseUnlessAllowed(dialect, query, key, plan);
      return { kind: 'ran', value: await work() };
    }
    // Inserted: the try never ran here (null compensation), and the row now blocks a late try.
    const nullCompensation = await claim(query, plan.undoes, now);
    // Recorded in both cases, so that a repeated cancel is a plain duplicate.
    const claimed = await claim(query, plan.op, now);
    if (!nullCompensation && !claimed) {
      await originOf(dialect, query, key, plan.op); // checks the row really is ours, see originOf
      return { kind: 'duplicate' };
    }
    await refuseUnlessAllowed(dialect, query, key, plan);
    return nullCompensation ? { kind: 'null-compensation' } : { kind: 'ran', value: await work() };
  };
}

/**
 * Thrown inside the barrier's transaction so that its claims roll back;
 * refusedOrThrow turns it into a `refused` result outside.
 */
class BarrierRefused extends Error {
  readonly refusal: BarrierRefusal;

  constructor(refusal: BarrierRefusal) {
    super(`barrier refused the call: ${refusal}`);
    this.refusal = refusal;
  }
}

function refusedOrThrow(error: unknown): { kind: 'refused'; refusal: BarrierRefusal } {
  if (error instanceof BarrierRefused) return { kind: 'refused', refusal: error.refusal };
  throw error;
}

/**
 * Read the rows the op depends on (plan.checks) and throw BarrierRefused if
 * they forbid it (decision.ts, refusalOf).
 *
 * Precondition: the op's own row is claimed in this transaction (and, on a
 * database that needs it, the branch locked: lockBranch), so that a
 * concurrent confirm/cancel of the branch that reads after this one waits
 * for it. Effect: shared locks on the rows found, until the end of the
 * transaction. The read sees the latest committed rows and waits for any
 * transaction still writing one of them.
 */
async function refuseUnlessAllowed(dialect: BarrierDialect, query: BarrierQuery, key: BarrierKey, plan: BarrierPlan): Promise<void> {
  if (plan.checks.length === 0) return;
  const refusal = refusalOf(plan.op, await dialect.lockedRows(query, key, plan.checks));
  if (refusal) throw new BarrierRefused(refusal);
}

/**
 * The origin_op of a row that a claim found present. The row must exist with
 * exactly this key (the claim waited for its writer to commit; on MySQL the
 * ignored insert also holds a shared lock on it until commit); if it does
 * not, the insert was ignored for another reason, such as a truncated key
 * matching someone else's row, or the row was deleted meanwhile, and
 * answering "duplicate" would skip a branch, so fail instead.
 */
export async function originOf(dialect: BarrierDialect, query: BarrierQuery, key: BarrierKey, op: BranchOp): Promise<string> {
  const { rows } = dialect.result<{ origin_op?: unknown }>(
    await query('select origin_op from ?? where gid = ? and branch_id = ? and op = ? and seq = ?', [key.table, key.gid, key.branchId, op, SEQ]),
  );
  const origin = rows[0]?.origin_op;
  if (typeof origin !== 'string') {
    throw new DtxError('BARRIER_ROW_MISSING', `barrier insert was ignored but no ${op} row exists for this branch`);
  }
  return origin;
}
