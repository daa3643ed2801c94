/**
 * Which errors of PostgreSQL and of the store's adapters (node-postgres on a
 * server, PGlite in the process) mean that the log database is unavailable,
 * and how: the PostgreSQL and embedded stores throw them as the engine's
 * StoreUnavailableError (ports/store-errors.ts), so nothing above the store
 * reads a driver's error.
 *
 * Decided from SQLSTATEs, socket codes and the adapters' own error classes
 * (client-errors.ts), never from message text. Pure: unit-tested on its own.
 */
import { outageClassifier, translateOutage, type StoreOutageKind } from '../ports/store-errors.ts';
import { DatabaseClosedError, PostgresConnectionLostError } from './client-errors.ts';
import { sqlstateOf } from './sqlstate.ts';

/** Server errors that mean "not now", not "wrong request". */
const SQLSTATES: ReadonlyMap<string, StoreOutageKind> = new Map<string, StoreOutageKind>([
  ['08001', 'unreachable'], // sqlclient_unable_to_establish_sqlconnection
  ['08004', 'unreachable'], // sqlserver_rejected_establishment_of_sqlconnection
  ['57P03', 'unreachable'], // cannot_connect_now: starting up, in recovery, shutting down
  ['57P01', 'shutting-down'], // admin_shutdown: the server (or an operator) ended the session
  ['57P02', 'connection-lost'], // crash_shutdown: another backend crashed, the server restarts
  ['57P05', 'connection-lost'], // idle_session_timeout
  ['25P03', 'connection-lost'], // idle_in_transaction_session_timeout
  ['53300', 'overloaded'], // too_many_connections
  ['40001', 'conflict'], // serialization_failure (after the store's own re-runs)
  ['40P01', 'conflict'], // deadlock_detected (after the store's own re-runs)
  ['55P03', 'conflict'], // lock_not_available
  ['25006', 'read-only'], // read_only_sql_transaction: a standby, or default_transaction_read_only
  ['57014', 'timeout'], // query_canceled: statement_timeout
]);

/** The outage `error` reports, or null if it is not one (a bug, a refused statement: not for a retry). */
export const postgresOutageKind = outageClassifier((error) => {
  if (error instanceof PostgresConnectionLostError) return 'connection-lost';
  if (error instanceof DatabaseClosedError) return 'shutting-down';
  const state = sqlstateOf(error);
  if (state === undefined) return undefined;
  // Class 08, connection exception: the connection failed under the statement.
  return SQLSTATES.get(state) ?? (state.startsWith('08') ? 'connection-lost' : null);
});

/** What the PostgreSQL store throws for `error`: the engine's StoreUnavailableError for an outage, the error itself otherwise. */
export function translatePostgresError(error: unknown, what = 'the PostgreSQL log'): unknown {
  return translateOutage(error, postgresOutageKind, what);
}
