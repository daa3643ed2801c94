/**
 * Which dependency an error says is unavailable — the transaction log
 * (MySQL/MariaDB) or the recovery queue (Redis) — and how. An outage is an
 * expected condition: the API answers it with 503 and a code that tells the
 * caller to retry (see error-handler.ts), never with a 500.
 *
 * Decided from error classes, driver codes and server errnos only, never
 * from message text. Pure: no I/O, so it is unit-tested on its own.
 */
import { isPoolAcquireTimeout, isStatementTimeout } from '../store/mysql/driver-errors.ts';

export type Dependency = 'log' | 'queue';

export type OutageKind =
  /** No connection could be made (refused, host unreachable, handshake failed). */
  | 'unreachable'
  /** An open connection died under a request (reset, killed, server gone). */
  | 'connection-lost'
  /** No connection or no answer within the bound (pool acquire, connect, statement). */
  | 'timeout'
  /** The server refuses more connections. */
  | 'overloaded'
  /** The server is shutting down. */
  | 'shutting-down'
  /** A deadlock or lock-wait timeout that outlasted the store's own re-runs. */
  | 'conflict'
  /** The server is read-only, as a primary is during a failover. */
  | 'read-only';

export interface Outage {
  dependency: Dependency;
  kind: OutageKind;
}

export const OUTAGE_CODES: Record<Dependency, string> = {
  log: 'LOG_UNAVAILABLE',
  queue: 'QUEUE_UNAVAILABLE',
};

/** Seconds a caller is asked to wait before retrying (the `retry-after` header). */
export const RETRY_AFTER_SECONDS = 1;

/**
 * Thrown by code that knows which dependency failed (a readiness check, a
 * call to the queue on a request's path), where the error itself would not tell.
 */
export class DependencyUnavailableError extends Error {
  override readonly name = 'DependencyUnavailableError';
  constructor(
    readonly dependency: Dependency,
    readonly kind: OutageKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** MySQL / MariaDB server and client errnos that mean "not now", not "wrong request". */
const LOG_ERRNOS: ReadonlyMap<number, OutageKind> = new Map<number, OutageKind>([
  [1040, 'overloaded'], // ER_CON_COUNT_ERROR: too many connections
  [1203, 'overloaded'], // ER_TOO_MANY_USER_CONNECTIONS
  [1053, 'shutting-down'], // ER_SERVER_SHUTDOWN
  [1205, 'conflict'], // ER_LOCK_WAIT_TIMEOUT
  [1213, 'conflict'], // ER_LOCK_DEADLOCK
  [1290, 'read-only'], // ER_OPTION_PREVENTS_STATEMENT (--read-only)
  [1792, 'read-only'], // ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
  [1836, 'read-only'], // ER_READ_ONLY_MODE
  [1317, 'connection-lost'], // ER_QUERY_INTERRUPTED (KILL QUERY, shutdown)
  [1927, 'connection-lost'], // ER_CONNECTION_KILLED (MariaDB: KILL CONNECTION)
  [1969, 'timeout'], // ER_STATEMENT_TIMEOUT (MariaDB max_statement_time)
  [3024, 'timeout'], // ER_QUERY_TIMEOUT (MySQL max_execution_time)
  [4031, 'connection-lost'], // ER_CLIENT_INTERACTION_TIMEOUT (MySQL 8 closed an idle connection)
  [2002, 'unreachable'], // CR_CONNECTION_ERROR
  [2003, 'unreachable'], // CR_CONN_HOST_ERROR
  [2006, 'connection-lost'], // CR_SERVER_GONE_ERROR
  [2013, 'connection-lost'], // CR_SERVER_LOST
]);

/**
 * Driver and socket codes. On a request's path only the log's driver
 * (mysql2, under knex or the batch pool) opens sockets: the queue's client
 * (ioredis) reports a lost connection to its commands without these codes.
 */
const LOG_CODES: ReadonlyMap<string, OutageKind> = new Map<string, OutageKind>([
  ['ECONNREFUSED', 'unreachable'],
  ['EHOSTUNREACH', 'unreachable'],
  ['ENETUNREACH', 'unreachable'],
  ['EAI_AGAIN', 'unreachable'],
  ['ECONNRESET', 'connection-lost'],
  ['ECONNABORTED', 'connection-lost'],
  ['EPIPE', 'connection-lost'],
  ['PROTOCOL_CONNECTION_LOST', 'connection-lost'],
  ['PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR', 'connection-lost'],
  ['ETIMEDOUT', 'timeout'],
  ['PROTOCOL_SEQUENCE_TIMEOUT', 'timeout'],
]);

/** How deep `cause` chains (and the errors of an AggregateError) are followed. */
const MAX_DEPTH = 4;

/** The outage `error` reports, or null if it is not one (a bug, a bad request: not for a retry). */
export function classifyOutage(error: unknown, depth = 0): Outage | null {
  if (typeof error !== 'object' || error === null || depth > MAX_DEPTH) return null;
  if (error instanceof DependencyUnavailableError) return { dependency: error.dependency, kind: error.kind };
  // knex: no pooled connection within acquireConnectionTimeout.
  if (isPoolAcquireTimeout(error)) return { dependency: 'log', kind: 'timeout' };
  // The store's own bound on a statement (or on waiting for a connection): no answer in time.
  if (isStatementTimeout(error)) return { dependency: 'log', kind: 'timeout' };
  const fields = error as { errno?: unknown; code?: unknown; fatal?: unknown; cause?: unknown; errors?: unknown };
  const byErrno = typeof fields.errno === 'number' ? LOG_ERRNOS.get(fields.errno) : undefined;
  if (byErrno) return { dependency: 'log', kind: byErrno };
  const byCode = typeof fields.code === 'string' ? LOG_CODES.get(fields.code) : undefined;
  if (byCode) return { dependency: 'log', kind: byCode };
  // mysql2 marks every error that leaves its connection unusable (network
  // errors, handshake failures, protocol errors) as fatal.
  if (fields.fatal === true) return { dependency: 'log', kind: 'connection-lost' };
  const nested = [fields.cause, ...(Array.isArray(fields.errors) ? fields.errors : [])];
  for (const inner of nested) {
    const outage = classifyOutage(inner, depth + 1);
    if (outage) return outage;
  }
  return null;
}

const WHAT: Record<Dependency, string> = { log: 'the transaction log (database)', queue: 'the recovery queue (Redis)' };

/** The message of a 503: what is down and that the same request may be sent again. */
export function outageMessage(outage: Outage): string {
  return `${WHAT[outage.dependency]} is unavailable (${outage.kind}); retry the same request: ` + 'begin with a gid, register, submit and abort are idempotent';
}
