/**
 * Which errors of MySQL / MariaDB and their drivers (mysql2, under knex or
 * the batch pool) mean that the log database is unavailable, and how: the
 * MySQL store throws them as the engine's StoreUnavailableError
 * (ports/store-errors.ts), so nothing above the store reads a driver's error.
 *
 * Decided from error classes, driver codes and server errnos only, never
 * from message text. Pure: unit-tested on its own.
 */
import knex from 'knex';
import { outageClassifier, socketOutageKind, translateOutage, type StoreOutageKind } from '../ports/store-errors.ts';

/** Server and client errnos that mean "not now", not "wrong request". */
const ERRNOS: ReadonlyMap<number, StoreOutageKind> = new Map<number, StoreOutageKind>([
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

/** mysql2's own codes (Node's socket codes are every store's: ports/store-errors.ts). */
const CODES: ReadonlyMap<string, StoreOutageKind> = new Map<string, StoreOutageKind>([
  ['PROTOCOL_CONNECTION_LOST', 'connection-lost'],
  ['PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR', 'connection-lost'],
  ['PROTOCOL_SEQUENCE_TIMEOUT', 'timeout'],
]);

/** The outage `error` reports, or null if it is not one (a bug, a refused statement: not for a retry). */
export const mysqlOutageKind = outageClassifier((error) => {
  // knex: no pooled connection within acquireConnectionTimeout.
  if (error instanceof knex.KnexTimeoutError) return 'timeout';
  const fields = error as { errno?: unknown; code?: unknown; fatal?: unknown };
  const byErrno = typeof fields.errno === 'number' ? ERRNOS.get(fields.errno) : undefined;
  if (byErrno) return byErrno;
  const byCode = typeof fields.code === 'string' ? CODES.get(fields.code) : undefined;
  if (byCode) return byCode;
  // mysql2 marks every error that leaves its connection unusable (network
  // errors, handshake failures, protocol errors) as fatal.
  if (fields.fatal === true) return socketOutageKind(fields.code) ?? 'connection-lost';
  return undefined;
});

/** What the MySQL store throws for `error`: the engine's StoreUnavailableError for an outage, the error itself otherwise. */
export function translateMysqlError(error: unknown): unknown {
  return translateOutage(error, mysqlOutageKind, 'the MySQL log');
}
