/**
 * The errors the store's adapters raise themselves, where the driver would
 * raise a plain Error that only its message tells apart (node-postgres's
 * "Connection terminated unexpectedly", its pool's "timeout exceeded when
 * trying to connect", PGlite's "PGlite is closed"): typed here, so that the
 * outage classification (postgres-outage.ts) never reads message text.
 */

/**
 * The log database did not answer in time. `sent` tells whether the
 * statement had been handed to the server: when false it waited for a
 * connection and nothing of it can commit; when true the connection was
 * closed under it, and an autocommit statement (one that is its own
 * transaction) the server had received may still commit once it runs again.
 */
export class PostgresTimeoutError extends Error {
  override readonly name = 'PostgresTimeoutError';
  constructor(
    readonly timeoutMs: number,
    readonly sent: boolean,
    options?: { cause?: unknown },
  ) {
    super(
      sent
        ? `the log database did not answer within ${timeoutMs} ms; the connection was closed`
        : `the log database gave no connection within ${timeoutMs} ms; nothing was sent`,
      options,
    );
  }
}

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
