/**
 * The small connection interface the PostgreSQL store is written against,
 * so the same store runs on a PostgreSQL server (node-postgres, pg-database.ts)
 * and inside the process (PGlite, store/embedded/). Positional parameters
 * (`$1`, `$2`, …) only; values are strings, numbers, booleans, null or
 * arrays of strings (JSON goes as text, cast in the SQL).
 */

/** A statement's answer: its rows, columns by name, and how many rows it returned or wrote. */
export interface SqlResult<R> {
  rows: R[];
  rowCount: number;
}

/** How a statement may be run. */
export interface QueryOptions {
  /**
   * The statement's text is one of the few the store sends over and over
   * (the hot path), and its result columns never change with the schema: an
   * adapter may keep it parsed and planned on each connection
   * (node-postgres: a named prepared statement), so that a call costs the
   * execution alone. Planning the round's statement costs as much as running it.
   */
  reuse?: boolean;
}

/** Where statements run: one at a time, each answered before the next is sent. */
export interface SqlSession {
  query<R = Record<string, unknown>>(sql: string, values?: readonly unknown[], options?: QueryOptions): Promise<SqlResult<R>>;
}

/**
 * A PostgreSQL database. `query` runs one statement on its own (autocommit:
 * a statement that writes is one commit); `transaction` runs several on one
 * connection between BEGIN and COMMIT. Sessions are READ COMMITTED.
 * Adapters bound every statement and every wait for a connection, and throw
 * StatementTimeoutError (ports/store-errors.ts) / PostgresConnectionLostError (client-errors.ts) or the
 * database's own error (with its SQLSTATE `code`).
 */
export interface SqlDatabase extends SqlSession {
  /**
   * Runs `work` in one transaction. Effect: committed if `work` resolves,
   * rolled back if it throws (its error is rethrown) or a statement fails.
   * Precondition: `work` uses only the session it is given.
   */
  transaction<T>(work: (session: SqlSession) => Promise<T>): Promise<T>;
  /** Closes every connection (or the embedded database); closing again is a no-op. */
  close(): Promise<void>;
}
