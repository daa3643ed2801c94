/**
 * Running a branch handler behind the barrier (brief §5): idempotence, null
 * compensation and anti-suspension, in one local DB transaction shared with
 * the business work.
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
import { DtxError, ParticipantConfigError } from '../errors.ts';
import type { BranchOp } from '../protocol/wire.ts';
import { forwardRowExisted, planBarrier } from './decision.ts';
import { assertBarrierKey, assertTableName, DEFAULT_BARRIER_TABLE } from './input.ts';
import { withLockRetry } from './lock-retry.ts';

/**
 * - `ran`: the work ran and committed with the barrier rows.
 * - `duplicate`: this op already committed for this branch; the work did not run.
 * - `null-compensation`: a cancel/compensate whose try/action never ran here;
 *   the work did not run and a late try/action is now blocked.
 * - `suspended`: a try/action arriving after its cancel/compensate; the work
 *   did not run and the caller must answer failure.
 */
export type BarrierResult<T> =
  | { kind: 'ran'; value: T }
  | { kind: 'duplicate' }
  | { kind: 'null-compensation' }
  | { kind: 'suspended' };

export interface BarrierOptions {
  /** Barrier table name; defaults to `dtx_barrier`. */
  table?: string;
  gid: string;
  branchId: string;
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
 * knex transaction with the barrier rows.
 *
 * Precondition: the barrier table exists (createBarrierTable).
 * Effect: on `ran`, the barrier rows and everything `work` did through `trx`
 * are committed together. If `work` throws, both are rolled back and the
 * error is rethrown unchanged. Deadlocks and lock wait timeouts replay the
 * whole transaction, `work` included, a bounded number of times.
 * Throws BarrierInputError, before touching the database, on an invalid
 * gid, branch id, op or table.
 */
export async function runInBarrier<T>(
  knex: Knex,
  options: BarrierOptions,
  work: (trx: Knex.Transaction) => Promise<T>,
): Promise<BarrierResult<T>> {
  const steps = barrierSteps(options);
  const attempt = () => knex.transaction((trx) => steps(knexQuery(trx), () => work(trx)), { isolationLevel: 'read committed' });
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
 */
export async function runInSqlBarrier<T>(knex: Knex, options: BarrierOptions, work: (sql: BranchSql) => Promise<T>): Promise<BarrierResult<T>> {
  assertMysql2Client(knex);
  const steps = barrierSteps(options);
  const attempt = async (): Promise<BarrierResult<T>> => {
    const connection = (await knex.client.acquireConnection()) as RawConnection;
    let reusable = true;
    let finished = false;
    try {
      const query = (sql: string, values: readonly unknown[] = []) => rawQuery(connection, sql, values);
      // A statement the handler sends after its transaction ended would run on a connection that
      // is back in the pool, possibly inside someone else's transaction: refuse it.
      const handlerQuery = (sql: string, values: readonly unknown[] = []) => {
        if (finished) return Promise.reject(new DtxError('TRANSACTION_FINISHED', 'this branch call has ended; its sql can no longer be used'));
        return query(sql, values);
      };
      await query('SET TRANSACTION ISOLATION LEVEL READ COMMITTED');
      await query('START TRANSACTION');
      try {
        const result = await steps(query, () => work(branchSql(handlerQuery)));
        finished = true;
        await query('COMMIT');
        return result;
      } catch (error) {
        finished = true;
        // A failed ROLLBACK leaves the session's state unknown: the connection is not reused.
        reusable = await query('ROLLBACK').then(
          () => true,
          () => false,
        );
        throw error;
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
 */
export interface SqlResult<Row> {
  rows: Row[];
  affectedRows: number;
  insertId: number;
}

/** The subset of a mysql2 (callback) connection used here. */
interface RawConnection {
  query(sql: string, values: readonly unknown[], callback: (error: unknown, result: unknown) => void): void;
  destroy(): void;
}

function rawQuery(connection: RawConnection, sql: string, values: readonly unknown[]): Promise<unknown> {
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

function branchSql(query: BarrierQuery): BranchSql {
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
type BarrierQuery = (sql: string, values: readonly unknown[]) => Promise<unknown>;

/**
 * The barrier's statements for one call (brief §5), on whatever runs the
 * transaction. Validates the input first (BarrierInputError, nothing sent).
 */
function barrierSteps(options: BarrierOptions) {
  const table = options.table ?? DEFAULT_BARRIER_TABLE;
  const { gid, branchId, op } = options;
  assertTableName(table);
  assertBarrierKey(gid, branchId, op);
  const key: BarrierKey = { table, gid, branchId };
  const plan = planBarrier(op);

  return async <T>(query: BarrierQuery, work: () => Promise<T>): Promise<BarrierResult<T>> => {
    const now = options.now();
    if (plan.kind === 'forward') {
      if (!(await claim(query, key, plan.op, plan.op, now))) {
        return { kind: forwardRowExisted(plan.op, await originOf(query, key, plan.op)) };
      }
      return { kind: 'ran', value: await work() };
    }
    if (await claim(query, key, plan.undoes, plan.op, now)) {
      // The try never ran here. Record the cancel too, so that a repeated
      // cancel is a plain duplicate; the try row blocks a late try.
      await claim(query, key, plan.op, plan.op, now);
      return { kind: 'null-compensation' };
    }
    if (!(await claim(query, key, plan.op, plan.op, now))) {
      await originOf(query, key, plan.op); // checks the row really is ours, see originOf
      return { kind: 'duplicate' };
    }
    return { kind: 'ran', value: await work() };
  };
}

interface BarrierKey {
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
 */
async function claim(query: BarrierQuery, key: BarrierKey, op: BranchOp, originOp: BranchOp, now: number) {
  const result = await query('insert ignore into ?? (gid, branch_id, op, seq, origin_op, created_at) values (?, ?, ?, ?, ?, ?)', [
    key.table,
    key.gid,
    key.branchId,
    op,
    SEQ,
    originOp,
    now,
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
async function originOf(query: BarrierQuery, key: BarrierKey, op: BranchOp): Promise<string> {
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
