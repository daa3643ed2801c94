/**
 * One XA branch in the participant's MySQL/MariaDB database: its prepare
 * (the handler's SQL between XA START and XA PREPARE), its commit and its
 * rollback, each safe to repeat, with the barrier's guarantees.
 *
 * The barrier row (gid, branch, op `prepare`) is what makes repeats and
 * late calls safe:
 * - the prepare inserts it inside its XA branch (origin `prepare`), so it
 *   exists, committed, exactly when the branch committed; it records the
 *   coordinator the branch was prepared through (the prepare's
 *   `dtx-coordinator` header), which the recovery asks for the outcome;
 * - a rollback inserts it outside any XA branch (origin `rollback`) after
 *   XA ROLLBACK: when the prepare never ran here that is a null rollback, and
 *   the row refuses a late prepare for good (anti-suspension).
 *
 * What MariaDB 10.5+ (and MySQL 8) do, and what the code relies on:
 * - After XA PREPARE the session can only read (any write, BEGIN, ROLLBACK or
 *   XA START fails with XAER_RMFAIL); the xid stays attached to it, and no
 *   other session can commit or roll it back (XAER_NOTA) until it is
 *   detached. So the prepare closes its connection: the xid survives,
 *   prepared, listed by XA RECOVER, and any session can finish it.
 * - The server detaches the xid while it ends the session. After a dropped
 *   socket that happens a few milliseconds later, and a commit sent at once
 *   mostly meets XAER_NOTA; after a quit (COM_QUIT) it has nearly always
 *   happened by the time the server closes the socket, and it always has
 *   once the session is gone from the process list. So the prepare quits,
 *   waits for its session to leave the process list, and only then answers:
 *   a coordinator committing right after the prepare's answer finds the xid.
 * - Two sessions committing the same xid at once: one commits, the other
 *   meets XAER_NOTA, and then either XA RECOVER still lists the xid (the
 *   commit is finishing: asked again later) or the committed rows are seen.
 * - A session that disconnects before XA PREPARE loses the branch (rolled back).
 * - XA START of an xid that exists (prepared, or active in another session)
 *   fails with XAER_DUPID; XA COMMIT / XA ROLLBACK of an xid that is not
 *   prepared and detached fails with XAER_NOTA. XA RECOVER lists prepared
 *   xids, attached or not, but not active ones.
 */
import type { Knex } from 'knex';
import { branchSql, originOf, type BarrierKey, type BranchSql } from '../barrier/barrier.ts';
import { assertMysql2Client } from '../barrier/dialect-of.ts';
import { mysqlDialect, rawQuery, type RawConnection } from '../barrier/mysql-dialect.ts';
import { assertCoordinatorUrl, DEFAULT_BARRIER_TABLE } from '../barrier/input.ts';
import { isDeadlock, withLockRetry } from '../barrier/lock-retry.ts';
import { GuardedStatements } from '../barrier/lost-transaction.ts';
import { BranchOngoingError } from '../errors.ts';
import { recordHashedGid } from './xa-tables.ts';
import { isHashedGtrid, parseRecoveredXid, xidOf, xidSql, type RecoveredXidRow, type Xid } from './xid.ts';

/** Which branch, and where its rows go. */
export interface XaBranchOptions {
  gid: string;
  branchId: string;
  /** The barrier table (default `dtx_barrier`). */
  table?: string;
  /** Where the gids of hashed gtrids are kept (xa-tables.ts). */
  gidTable: string;
  /**
   * Prepare only: the base URL of the coordinator the branch is prepared
   * through (the call's `dtx-coordinator` header), stored with its barrier
   * row; null or absent when the call named none. At most
   * COORDINATOR_URL_MAX_LENGTH printable ASCII characters.
   */
  coordinator?: string | null;
  now: () => number;
  /**
   * InnoDB's lock wait bound, in seconds, for the branch's statements: a
   * prepare waiting behind locks another prepared branch holds gives up after
   * it (answered as unknown: the initiator rolls the transaction back).
   */
  lockWaitSeconds: number;
  /** Told about each prepare attempt replayed after a deadlock. */
  onRetry?: (error: unknown, attempt: number) => void;
}

/**
 * What happened to a branch call:
 * - `prepared`: the handler ran and its work is prepared (value: what it returned);
 * - `duplicate`: the same call already took effect (a prepare already prepared
 *   or committed, a commit already committed, a rollback already done);
 * - `committed`, `rolled-back`: this call did it;
 * - `null-rollback`: nothing was prepared here; a late prepare is now refused;
 * - `suspended`: a prepare after its branch's rollback, refused;
 * - `refused`: a call the protocol never makes (a commit of a branch never
 *   prepared here, a rollback of a branch committed here); nothing changed.
 */
export type XaOutcome =
  | { kind: 'prepared'; value: unknown }
  | { kind: 'duplicate' }
  | { kind: 'committed' }
  | { kind: 'rolled-back' }
  | { kind: 'null-rollback' }
  | { kind: 'suspended' }
  | { kind: 'refused'; refusal: 'prepare-not-found' | 'already-committed' };

/** What a commit or a rollback can end in: never `prepared` nor `suspended`, which only a prepare gets. */
export type XaFinishOutcome = Exclude<XaOutcome, { kind: 'prepared' } | { kind: 'suspended' }>;

const ER_XAER_NOTA = 1397;
const ER_XAER_DUPID = 1440;

function hasErrno(error: unknown, errno: number): boolean {
  return typeof error === 'object' && error !== null && (error as { errno?: unknown }).errno === errno;
}

/** Thrown inside a prepare to leave without preparing; turned into its outcome outside. */
class PrepareSkipped extends Error {
  constructor(readonly outcome: XaOutcome) {
    super(`prepare skipped: ${outcome.kind}`);
  }
}

/**
 * Prepare the branch: XA START, claim its barrier row, run `work`, XA END,
 * XA PREPARE, then close the connection so that the prepared xid can be
 * finished from anywhere. Work that throws is rolled back (the error is
 * rethrown); a deadlock or lock wait timeout replays the whole attempt.
 *
 * @throws BarrierInputError, before any statement, on an id that cannot be
 *   an xid or a coordinator URL the barrier row cannot hold
 */
export async function prepareXa(knex: Knex, options: XaBranchOptions, work: (sql: BranchSql) => Promise<unknown>): Promise<XaOutcome> {
  assertMysql2Client(knex);
  const xid = xidOf(options.gid, options.branchId);
  const coordinator = options.coordinator ?? null;
  assertCoordinatorUrl(coordinator);
  const key = barrierKey(options);
  if (isHashedGtrid(xid.gtrid)) await recordHashedGid(knex, options.gidTable, xid.gtrid, options.gid, options.now());
  const attempt = async (): Promise<XaOutcome> => {
    const connection = (await knex.client.acquireConnection()) as RawConnection;
    const query = (sql: string, values: readonly unknown[] = []) => rawQuery(connection, sql, values);
    const sessionId = (connection as { threadId?: unknown }).threadId;
    let detach = false;
    let prepared = false;
    try {
      await query('SET SESSION innodb_lock_wait_timeout = ?', [options.lockWaitSeconds]);
      try {
        await query(`XA START ${xidSql(xid)}`);
      } catch (error) {
        if (hasErrno(error, ER_XAER_DUPID)) return await existingBranch(query, xid);
        throw error;
      }
      const handler = new GuardedStatements(query);
      try {
        if (!(await mysqlDialect.claim(query, { ...key, op: 'prepare', originOp: 'prepare', createdAt: options.now(), coordinator }))) {
          // Committed by an earlier prepare of this branch, or written by its rollback.
          const origin = await originOf(mysqlDialect, query, key, 'prepare');
          throw new PrepareSkipped(origin === 'rollback' ? { kind: 'suspended' } : { kind: 'duplicate' });
        }
        const value = await work(branchSql(mysqlDialect, handler.query));
        await handler.settled();
        handler.finish();
        if (handler.loss) throw handler.loss.error;
        await query(`XA END ${xidSql(xid)}`);
        await query(`XA PREPARE ${xidSql(xid)}`);
        prepared = true;
        return { kind: 'prepared', value };
      } catch (error) {
        await handler.settled();
        handler.finish();
        // XA END may fail once the branch is rollback-only (a deadlock); XA ROLLBACK still ends it.
        await query(`XA END ${xidSql(xid)}`).catch(() => undefined);
        // If even that fails, closing the connection rolls the unprepared branch back.
        detach = await query(`XA ROLLBACK ${xidSql(xid)}`).then(
          () => false,
          () => true,
        );
        if (error instanceof PrepareSkipped) return error.outcome;
        throw handler.loss ? handler.loss.error : error;
      }
    } finally {
      if (prepared) await quit(connection);
      else if (detach) connection.destroy();
      else await query('SET SESSION innodb_lock_wait_timeout = DEFAULT').catch(() => connection.destroy());
      // knex's pool validates a connection before handing it out again and drops a destroyed one.
      await knex.client.releaseConnection(connection);
      if (prepared && typeof sessionId === 'number') await sessionEnded(knex, sessionId);
    }
  };
  // A deadlock is replayed; a lock wait timeout is not: the locks waited for
  // are most often another prepared branch's, held until its transaction's
  // decision, and waiting again would only hold the initiator longer.
  return withLockRetry(attempt, { maxAttempts: 5, baseDelayMs: 20, retryable: isDeadlock, ...(options.onRetry ? { onRetry: options.onRetry } : {}) });
}

/** How long a prepare waits for the server to acknowledge its quit before dropping the socket. */
const QUIT_WAIT_MS = 1_000;

/** End the session with a quit the server acknowledges (it drops the socket instead if no acknowledgement comes). */
async function quit(connection: RawConnection): Promise<void> {
  const ending = connection as RawConnection & { end?: (callback: (error?: unknown) => void) => void };
  if (typeof ending.end !== 'function') return connection.destroy();
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      connection.destroy();
      resolve();
    }, QUIT_WAIT_MS);
    ending.end!((error) => {
      clearTimeout(timer);
      if (error) connection.destroy();
      resolve();
    });
  });
}

/** How long a prepare waits for its ended session to leave the process list before answering anyway. */
const SESSION_END_WAIT_MS = 2_000;

/**
 * Wait (bounded) until the server has ended session `sessionId`, which
 * detaches its prepared xid. Past the bound, or if the server cannot be
 * asked, the prepare answers anyway: a commit meeting the xid still attached
 * is answered "ongoing" and retried.
 */
async function sessionEnded(knex: Knex, sessionId: number): Promise<void> {
  const deadline = Date.now() + SESSION_END_WAIT_MS;
  try {
    while (Date.now() < deadline) {
      const [rows] = (await knex.raw('select count(*) as n from information_schema.processlist where id = ?', [sessionId])) as unknown as [{ n: unknown }[]];
      if (Number(rows[0]?.n) === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  } catch {
    // Asked only to spare the coordinator a retry: nothing depends on the answer.
  }
}

/**
 * XA START said the xid exists. Prepared (listed by XA RECOVER): an earlier
 * prepare of this branch did it, a duplicate. Otherwise it is active in
 * another session: a prepare of this branch still in flight, asked again later.
 */
async function existingBranch(query: (sql: string) => Promise<unknown>, xid: Xid): Promise<XaOutcome> {
  if (await isPrepared(query, xid)) return { kind: 'duplicate' };
  throw new BranchOngoingError('a prepare of this branch is still running');
}

/** Whether XA RECOVER lists the xid (prepared, attached to a session or not). */
async function isPrepared(query: (sql: string) => Promise<unknown>, xid: Xid): Promise<boolean> {
  const rows = (await query('XA RECOVER')) as RecoveredXidRow[];
  return rows.some((row) => {
    const found = parseRecoveredXid(row);
    return found !== null && found.gtrid === xid.gtrid && found.bqual === xid.bqual;
  });
}

/**
 * Commit the prepared branch. An xid no longer there was committed by an
 * earlier commit (its barrier row is committed): a duplicate. One prepared
 * but still attached to the session that prepared it is asked again later.
 */
export async function commitXa(knex: Knex, options: XaBranchOptions): Promise<XaFinishOutcome> {
  assertMysql2Client(knex);
  const xid = xidOf(options.gid, options.branchId);
  return onConnection(knex, async (query) => {
    try {
      await query(`XA COMMIT ${xidSql(xid)}`);
      return { kind: 'committed' };
    } catch (error) {
      if (!hasErrno(error, ER_XAER_NOTA)) throw error;
    }
    if (await isPrepared(query, xid)) throw new BranchOngoingError('the branch is prepared but its prepare has not finished');
    const origin = await committedOrigin(query, barrierKey(options));
    return origin === 'prepare' ? { kind: 'duplicate' } : { kind: 'refused', refusal: 'prepare-not-found' };
  });
}

/**
 * Roll the branch back, then write its barrier row as the rollback's, so
 * that a prepare arriving later is refused. With nothing prepared here that
 * is a null rollback. A branch whose prepare is still running holds that row
 * locked: the insert waits for it at most `lockWaitSeconds` and the call
 * fails (asked again later), or the prepare loses and is refused.
 */
export async function rollbackXa(knex: Knex, options: XaBranchOptions): Promise<XaFinishOutcome> {
  assertMysql2Client(knex);
  const xid = xidOf(options.gid, options.branchId);
  const key = barrierKey(options);
  return onConnection(
    knex,
    async (query) => {
      let rolledBack = false;
      try {
        await query(`XA ROLLBACK ${xidSql(xid)}`);
        rolledBack = true;
      } catch (error) {
        if (!hasErrno(error, ER_XAER_NOTA)) throw error;
        if (await isPrepared(query, xid)) throw new BranchOngoingError('the branch is prepared but its prepare has not finished');
      }
      if (await mysqlDialect.claim(query, { ...key, op: 'prepare', originOp: 'rollback', createdAt: options.now() }))
        return rolledBack ? { kind: 'rolled-back' } : { kind: 'null-rollback' };
      const origin = await originOf(mysqlDialect, query, key, 'prepare');
      return origin === 'rollback' ? { kind: 'duplicate' } : { kind: 'refused', refusal: 'already-committed' };
    },
    options.lockWaitSeconds,
  );
}

/**
 * A pooled connection in autocommit for `use`, with its lock wait bounded to
 * `lockWaitSeconds` when given (and reset after, or the connection closed if
 * that fails); released after.
 */
async function onConnection<T>(
  knex: Knex,
  use: (query: (sql: string, values?: readonly unknown[]) => Promise<unknown>) => Promise<T>,
  lockWaitSeconds?: number,
): Promise<T> {
  const connection = (await knex.client.acquireConnection()) as RawConnection;
  const query = (sql: string, values: readonly unknown[] = []) => rawQuery(connection, sql, values);
  try {
    if (lockWaitSeconds !== undefined) await query('SET SESSION innodb_lock_wait_timeout = ?', [lockWaitSeconds]);
    return await use(query);
  } finally {
    if (lockWaitSeconds !== undefined) await query('SET SESSION innodb_lock_wait_timeout = DEFAULT').catch(() => connection.destroy());
    await knex.client.releaseConnection(connection);
  }
}

/** The origin of the branch's committed barrier row, or null when there is none. */
async function committedOrigin(query: (sql: string, values?: readonly unknown[]) => Promise<unknown>, key: BarrierKey): Promise<string | null> {
  const rows = (await query('select origin_op from ?? where gid = ? and branch_id = ? and op = ? and seq = 1', [
    key.table,
    key.gid,
    key.branchId,
    'prepare',
  ])) as {
    origin_op?: unknown;
  }[];
  return typeof rows[0]?.origin_op === 'string' ? rows[0].origin_op : null;
}

function barrierKey(options: XaBranchOptions): BarrierKey {
  return { table: options.table ?? DEFAULT_BARRIER_TABLE, gid: options.gid, branchId: options.branchId };
}
