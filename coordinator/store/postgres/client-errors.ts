/**
 * The errors the store's adapters raise themselves, where the driver would
 * raise a plain Error that only its message tells apart (node-postgres's
 * "Connection terminated unexpectedly", PGlite's "PGlite is closed"): typed
 * here, so that the outage classification (postgres-outage.ts) never reads
 * message text. A bound that runs out is every store's StatementTimeoutError
 * (ports/store-errors.ts).
 */
/** The connection a statement ran on died under it (the server went away, the socket was reset). */
export class PostgresConnectionLostError extends Error {
  override readonly name = 'PostgresConnectionLostError';
  constructor(options?: { cause?: unknown }) {
    super('the connection to the log database was lost', options);
  }
}

/** The database was closed (the embedded log after close()): nothing more runs on it. */
export class DatabaseClosedError extends Error {
  override readonly name = 'DatabaseClosedError';
  constructor() {
    super('the log database is closed');
  }
}
