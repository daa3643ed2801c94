/**
 * Opening the coordinator's MySQL pool. The URL may carry credentials; it is
 * never logged as is (see `redactUrl`).
 */
import knexFactory, { type Knex } from 'knex';

/** Where and how wide {@link connectMysql}'s pool is. */
export interface MysqlOptions {
  /** `mysql://user:pass@host:port/database`. */
  url: string;
  /** Most connections of the pool. */
  poolMax: number;
}

/** Strict mode turns over-long values into errors instead of silent truncation; every coordinator connection runs it first. */
export const STRICT_SESSION = "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'";

/**
 * Every coordinator connection reads committed data as of each statement,
 * not as of a transaction's first read (REPEATABLE READ, the server
 * default). A group commit (mysql-batch.ts) runs several callers' units in
 * one transaction: under REPEATABLE READ a decision late in the group read
 * the branches as of an earlier unit's first read, missing a branch
 * registered (and committed) before its compare-and-set, and phase two ran
 * without it. The compare-and-sets lock what they compare either way.
 */
export const READ_COMMITTED_SESSION = 'SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED';

/**
 * The coordinator's knex pool on MySQL, every connection set to strict mode
 * and READ COMMITTED first (see {@link STRICT_SESSION}, {@link READ_COMMITTED_SESSION}).
 * Lazy: nothing connects before the first query.
 */
export function connectMysql(options: MysqlOptions): Knex {
  return knexFactory({
    client: 'mysql2',
    connection: options.url,
    pool: {
      min: 0,
      max: options.poolMax,
      afterCreate(connection: { query: (sql: string, cb: (err: Error | null) => void) => void }, done: (err: Error | null, c: unknown) => void) {
        connection.query(STRICT_SESSION, (strictError) => {
          if (strictError) return done(strictError, connection);
          connection.query(READ_COMMITTED_SESSION, (err) => done(err, connection));
        });
      },
    },
    acquireConnectionTimeout: 10_000,
    // knex would print pool errors to the console, outside the JSON log; every such error also
    // reaches the caller, which logs it with its context (or answers 503 for an outage).
    log: { warn: () => undefined, error: () => undefined, deprecate: () => undefined, debug: () => undefined },
  });
}

/**
 * Creates the database named in the URL if it does not exist yet, so a
 * fresh server needs no manual step before `npm run migrate` or start.
 */
export async function ensureDatabase(url: string): Promise<void> {
  const parsed = new URL(url);
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (!database) throw new Error(`DTX_MYSQL_URL names no database: ${redactUrl(url)}`);
  if (!/^[A-Za-z0-9_$]{1,64}$/.test(database)) throw new Error(`database name ${JSON.stringify(database)} must be 1-64 of [A-Za-z0-9_$]`);
  parsed.pathname = '/';
  const server = knexFactory({ client: 'mysql2', connection: parsed.toString(), pool: { min: 0, max: 1 } });
  try {
    await server.raw('CREATE DATABASE IF NOT EXISTS ?? CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci', [database]);
  } finally {
    await server.destroy();
  }
}

/** The URL with its password replaced, for logs and errors. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<unparseable url>';
  }
}
