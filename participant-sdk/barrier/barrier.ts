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
 * row (INSERT IGNORE: a concurrent twin waits on it), then reads the rows it
 * depends on with a locking read (LOCK IN SHARE MODE) at READ COMMITTED. A
 * locking read sees the latest committed version and waits for a transaction
 * still writing one of those rows (a try in flight, a concurrent cancel), so
 * the decision is made on committed state. A confirm and a cancel of one
 * branch each insert their row before reading the other's: whichever reads
 * second sees (or waits for) the first, so both can never run; if they wait
 * on each other, InnoDB picks a deadlock victim, and its replay sees the
 * winner's committed row and is refused.
 *
 * A lost local transaction (deadlock, lock wait timeout, lost connection)
 * fails the call whatever the handler does with the error: later statements
 * are refused without being sent, nothing is committed, and the call is
 * replayed or answered as unknown (lost-transaction.ts).
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
import { BarrierInputError, DtxError, ParticipantConfigError } from '../errors.ts';
import type { BranchOp } from '@dtx/protocol';
import { forwardRowExisted, isBarrierOp, planBarrier, refusalOf } from './decision.ts';
import type { BarrierPlan, BarrierRefusal, FoundRow } from './decision.ts';
import { assertBarrierKey, assertTableName, DEFAULT_BARRIER_TABLE } from './input.ts';
import { withLockRetry } from './lock-retry.ts';
import { GuardedStatements, watchKnexTransaction } from './lost-transaction.ts';
import type { Loss } from './lost-transaction.ts';

export type { BarrierRefusal } from './decision.ts';

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
  /** Attempts of the whole transaction on deadlock / lock wait timeout, the first included. Default 5. */
  maxAttempts?: number;
  /** Upper bound of the first retry delay in ms (doubles, full jitter). Default 20. */
  retryBaseDelayMs?: number;
  /** Told about each retried lock conflict, e.g. to log it. */
  onRetry?: (error: unknown, attempt: number) => void;
}

// Only one row per (gid, branch, op) today; the column leaves room for
// several actions in one branch later.
const SEQ = 1;

/**
 * Run `work` at most once per (gid, branch id, op), in one READ COMMITTED
 * knex transaction with the barrier rows. This is the barrier alone, for
 * participants that receive dtx calls some other way than through
 * createParticipant (a message consumer, another RPC framework); the
 * participant runs every handler through it.
 *
 * Precondition: the barrier table exists (createBarrierTable).
 * Effect: on `ran`, the barrier rows and everything `work` did through `trx`
 * are committed together. If `work` throws, both are rolled back and the
 * error is rethrown unchanged. On `refused`, nothing is written. If a
 * statement loses the transaction (lost-transaction.ts), later queries on
 * `trx` are refused, nothing is committed and the call fails with that
 * statement's error, even if `work` caught it and returned. Deadlocks and
 * lock wait timeouts replay the whole transaction, `work` included, a
 * bounded number of times; a replay starts only once the previous `work`
 * has returned.
 *
 * @param knex - the participant's database, where the barrier table is
 * @param options - the branch op to guard; see {@link BarrierOptions}
 * @param work - the business work, on the barrier's transaction
 * @returns what happened; only `ran` carries `work`'s value, and the caller
 *   must answer `suspended` and `refused` as failures
 * @throws BarrierInputError, before touching the database, on an invalid
 *   gid, branch id, op or table; whatever `work` throws, unchanged
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
  const steps = barrierSteps(options);
  const attempt = async (): Promise<BarrierResult<T>> => {
    const call: { watch?: { readonly loss: Loss | undefined }; settled: Promise<unknown> } = { settled: Promise.resolve() };
    try {
      const result = await knex.transaction(
        (trx) => {
          call.watch = watchKnexTransaction(trx);
          const run = steps(knexQuery(trx), () => work(trx));
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
  return withLockRetry(attempt, retryOptions(options));
}

/**
 * The same as runInBarrier, without a knex transaction: the barrier rows and
 * `work` share one READ COMMITTED transaction on a mysql2 connection taken
 * from `knex`'s pool, and `work` runs its statements through `sql`.
 *
 * Why it exists: a knex transaction builds a whole query interface per call
 * (~90 KB of objects, bench/participant-alloc.ts), and the garbage
 * collections that follow are what makes a participant's latency tail
 * (docs/performance.md). A call here allocates a fraction of that.
 *
 * Precondition: `knex` uses the mysql2 client (checked: ParticipantConfigError).
 * Effect: as runInBarrier. The handler's statements are sent one at a time,
 * and COMMIT waits for every statement it started.
 *
 * @param knex - the participant's database, on the mysql2 client
 * @param options - the branch op to guard; see {@link BarrierOptions}
 * @param work - the business work; runs its statements through `sql`
 * @returns what happened, as runInBarrier
 * @throws ParticipantConfigError when `knex` is not on mysql2; BarrierInputError
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
  assertMysql2Client(knex);
  const steps = barrierSteps(options);
  const attempt = async (): Promise<BarrierResult<T>> => {
    const connection = (await knex.client.acquireConnection()) as RawConnection;
    let reusable = true;
    try {
      const query = (sql: string, values: readonly unknown[] = []) => rawQuery(connection, sql, values);
      // The handler's own statements: refused once the transaction is lost or the call ended.
      const handler = new GuardedStatements(query);
      await query('SET TRANSACTION ISOLATION LEVEL READ COMMITTED');
      await query('START TRANSACTION');
      try {
        const result = await steps(query, () => work(branchSql(handler.query)));
        await handler.settled();
        handler.finish();
        if (handler.loss) throw handler.loss.error;
        await query('COMMIT');
        return result;
      } catch (error) {
        await handler.settled();
        handler.finish();
        // A failed ROLLBACK leaves the session's state unknown: the connection is not reused.
        reusable = await query('ROLLBACK').then(
          () => true,
          () => false,
        );
        return refusedOrThrow(handler.loss ? handler.loss.error : error);
      }
    } finally {
      if (!reusable) connection.destroy();
      // knex's pool validates a connection before handing it out again and drops a destroyed one.
      await knex.client.releaseConnection(connection);
    }
  };
  return withLockRetry(attempt, retryOptions(options));
}

/** What a handler of a plain-SQL resource runs its statements with. */
export type BranchSql = <Row = Record<string, unknown>>(sql: string, values?: readonly unknown[]) => Promise<SqlResult<Row>>;

/**
 * The outcome of one statement: `rows` for a SELECT (empty otherwise),
 * `affectedRows` and `insertId` for INSERT, UPDATE and DELETE (0 otherwise).
 *
 * @typeParam Row - the shape of a selected row (not checked)
 */
export interface SqlResult<Row> {
  /** The rows of a SELECT; empty for other statements. */
  rows: Row[];
  /** Rows changed by an INSERT, UPDATE or DELETE; 0 for a SELECT. */
  affectedRows: number;
  /** The AUTO_INCREMENT id an INSERT generated; 0 otherwise. */
  insertId: number;
}

/** The subset of a mysql2 (callback) connection used here. */
export interface RawConnection {
  query(sql: string, values: readonly unknown[], callback: (error: unknown, result: unknown) => void): void;
  destroy(): void;
}

export function rawQuery(connection: RawConnection, sql: string, values: readonly unknown[]): Promise<unknown> {
  return new Promise((resolve, reject) => connection.query(sql, values, (error, result) => (error ? reject(error) : resolve(result))));
}

/** One statement on a knex transaction, answered with mysql2's result (knex wraps it as [result, fields]). */
function knexQuery(trx: Knex.Transaction): BarrierQuery {
  return async (sql, values) => {
    const result: unknown = await trx.raw(sql, values as Knex.RawBinding[]);
    return Array.isArray(result) ? result[0] : undefined;
  };
}

/** `ctx.sql` for a handler on a knex transaction: the same plain-SQL runner defineSqlTcc handlers get. */
export function sqlOnKnex(trx: Knex.Transaction): BranchSql {
  return branchSql(knexQuery(trx));
}

export function branchSql(query: BarrierQuery): BranchSql {
  return async <Row>(sql: string, values: readonly unknown[] = []): Promise<SqlResult<Row>> => {
    const result = await query(sql, values);
    if (Array.isArray(result)) return { rows: result as Row[], affectedRows: 0, insertId: 0 };
    const header = result as { affectedRows?: unknown; insertId?: unknown };
    return {
      rows: [],
      affectedRows: typeof header.affectedRows === 'number' ? header.affectedRows : 0,
      insertId: typeof header.insertId === 'number' ? header.insertId : 0,
    };
  };
}

export function assertMysql2Client(knex: Knex): void {
  const client: unknown = knex.client?.config?.client;
  if (client !== 'mysql2') {
    throw new ParticipantConfigError('knex', `plain-SQL handlers need the mysql2 knex client, got ${JSON.stringify(client)}`);
  }
}

function retryOptions(options: BarrierOptions) {
  return {
    maxAttempts: options.maxAttempts ?? 5,
    baseDelayMs: options.retryBaseDelayMs ?? 20,
    ...(options.onRetry ? { onRetry: options.onRetry } : {}),
  };
}

/** One statement on the barrier's transaction; resolves to mysql2's result (a header, or rows). */
export type BarrierQuery = (sql: string, values: readonly unknown[]) => Promise<unknown>;

/**
 * The barrier's statements for one call, on whatever runs the
 * transaction. Validates the input first (BarrierInputError, nothing sent).
 */
function barrierSteps(options: BarrierOptions) {
  const table = options.table ?? DEFAULT_BARRIER_TABLE;
  const { gid, branchId, op } = options;
  assertTableName(table);
  assertBarrierKey(gid, branchId, op);
  if (!isBarrierOp(op))
    throw new BarrierInputError('op', op, "a message sender's check (answerCheckBack) and XA's ops (defineXa) are not run behind this barrier");
  const key: BarrierKey = { table, gid, branchId };
  const plan = planBarrier(op);

  return async <T>(query: BarrierQuery, work: () => Promise<T>): Promise<BarrierResult<T>> => {
    const now = options.now();
    if (plan.kind === 'forward') {
      if (!(await claim(query, key, plan.op, plan.op, now))) {
        return { kind: forwardRowExisted(plan.op, await originOf(query, key, plan.op)) };
      }
      await refuseUnlessAllowed(query, key, plan);
      return { kind: 'ran', value: await work() };
    }
    // Inserted: the try never ran here (null compensation), and the row now blocks a late try.
    const nullCompensation = await claim(query, key, plan.undoes, plan.op, now);
    // Recorded in both cases, so that a repeated cancel is a plain duplicate.
    const claimed = await claim(query, key, plan.op, plan.op, now);
    if (!nullCompensation && !claimed) {
      await originOf(query, key, plan.op); // checks the row really is ours, see originOf
      return { kind: 'duplicate' };
    }
    await refuseUnlessAllowed(query, key, plan);
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
 * Precondition: the op's own row is claimed in this transaction, so that a
 * concurrent confirm/cancel of the branch that reads after this one waits
 * for it. Effect: shared locks on the rows found, until the end of the
 * transaction. The read is a locking read: at READ COMMITTED it reads the
 * latest committed rows and waits for any transaction still writing one of
 * them (no gap locks: a row that does not exist is not locked).
 */
async function refuseUnlessAllowed(query: BarrierQuery, key: BarrierKey, plan: BarrierPlan): Promise<void> {
  if (plan.checks.length === 0) return;
  const rows = await query(
    `select op, origin_op from ?? where gid = ? and branch_id = ? and seq = ? and op in (${plan.checks.map(() => '?').join(', ')}) lock in share mode`,
    [key.table, key.gid, key.branchId, SEQ, ...plan.checks],
  );
  // Never guess: reading "no rows" from an unexpected shape would let a cancel pass a confirm.
  if (!Array.isArray(rows)) throw new DtxError('BARRIER_DRIVER', 'unexpected result from the MySQL driver (mysql2 expected)');
  const found: FoundRow[] = (rows as Array<{ op?: unknown; origin_op?: unknown }>).map((row) => ({ op: String(row.op), originOp: String(row.origin_op) }));
  const refusal = refusalOf(plan.op, found);
  if (refusal) throw new BarrierRefused(refusal);
}

export interface BarrierKey {
  table: string;
  gid: string;
  branchId: string;
}

/**
 * INSERT IGNORE the row (key, op), recording `originOp` as its inserter.
 * Returns true if this call inserted it, false if it was already there.
 * If another open transaction holds the same key, InnoDB makes this wait for
 * it to commit (→ false) or roll back (→ true): that wait is what makes two
 * concurrent confirms run the work exactly once.
 *
 * `coordinator` (an XA prepare's row only; validated by the caller) goes to
 * the row's `coordinator` column. Without one the column is not named, so
 * every other op works on a table not yet given that column.
 */
export async function claim(
  query: BarrierQuery,
  key: BarrierKey,
  op: BranchOp,
  originOp: BranchOp,
  now: number,
  coordinator: string | null = null,
): Promise<boolean> {
  const values = [key.table, key.gid, key.branchId, op, SEQ, originOp, now];
  const result =
    coordinator === null
      ? await query('insert ignore into ?? (gid, branch_id, op, seq, origin_op, created_at) values (?, ?, ?, ?, ?, ?)', values)
      : await query('insert ignore into ?? (gid, branch_id, op, seq, origin_op, created_at, coordinator) values (?, ?, ?, ?, ?, ?, ?)', [
          ...values,
          coordinator,
        ]);
  const header = resultHeader(result);
  if (header.affectedRows === 1 && header.warningStatus > 0) {
    // IGNORE turned an error into a warning on a row it did insert: the
    // table does not match what we validated against (a narrower column
    // truncated the id). Refuse rather than write a wrong key.
    throw new DtxError('BARRIER_INSERT_WARNING', `barrier insert into ${key.table} produced warnings; check its definition`);
  }
  return header.affectedRows === 1;
}

/**
 * The origin_op of a row that INSERT IGNORE found present. The row must exist
 * with exactly this key (the ignored insert holds a shared lock on it until
 * commit); if it does not, the insert was ignored for another reason, such
 * as a truncated key matching someone else's row, and answering "duplicate"
 * would skip a branch, so fail instead.
 */
export async function originOf(query: BarrierQuery, key: BarrierKey, op: BranchOp): Promise<string> {
  const rows = await query('select origin_op from ?? where gid = ? and branch_id = ? and op = ? and seq = ?', [key.table, key.gid, key.branchId, op, SEQ]);
  const row = Array.isArray(rows) ? (rows[0] as { origin_op?: unknown } | undefined) : undefined;
  if (typeof row?.origin_op !== 'string') {
    throw new DtxError('BARRIER_ROW_MISSING', `barrier insert was ignored but no ${op} row exists for this branch`);
  }
  return row.origin_op;
}

/** The mysql2 ResultSetHeader of an insert. */
function resultHeader(result: unknown): { affectedRows: number; warningStatus: number } {
  const header = result as { affectedRows?: unknown; warningStatus?: unknown } | undefined;
  if (typeof header?.affectedRows !== 'number') {
    // Never guess: reading "0" from an unexpected shape would turn every call into a duplicate.
    throw new DtxError('BARRIER_DRIVER', 'unexpected result from the MySQL driver (mysql2 expected)');
  }
  return { affectedRows: header.affectedRows, warningStatus: typeof header.warningStatus === 'number' ? header.warningStatus : 0 };
}
