/**
 * Opening the coordinator's MySQL pool. The URL may carry credentials; it is
 * never logged as is (see `redactUrl`).
 */
import { redactUrl } from '../../redact-url.ts';
import knexFactory, { type Knex } from 'knex';
import type { Connection } from 'mysql2';
import { boundStatements } from './statement-timeout.ts';

/**
 * The default bound on one statement (DTX_MYSQL_QUERY_TIMEOUT_MS): far above
 * what a statement of the coordinator takes under load (milliseconds), well
 * below the 15 s an initiator waits for the coordinator by default.
 */
export const DEFAULT_QUERY_TIMEOUT_MS = 10_000;

/**
 * TCP keepalive probes start after a connection was idle this long. A server
 * host that vanished (power loss, a partition: neither FIN nor RST ever
 * comes) leaves pooled connections looking open; the probes find them dead,
 * so the pool drops them instead of lending them to a request. A frozen
 * server's kernel still answers the probes: only the statement bound
 * (statement-timeout.ts) ends a statement sent to it.
 */
export const KEEPALIVE_IDLE_MS = 30_000;

/** Where and how wide {@link connectMysql}'s pool is, and how long its statements may take. */
export interface MysqlOptions {
  /** `mysql://user:pass@host:port/database`. */
  url: string;
  /** Most connections of the pool. */
  poolMax: number;
  /**
   * Bound on each statement, on connecting and on waiting for a pooled
   * connection (DTX_MYSQL_QUERY_TIMEOUT_MS); default {@link DEFAULT_QUERY_TIMEOUT_MS}.
   */
  queryTimeoutMs?: number;
  /**
   * False for the migrations' pool only: a schema change on a large log runs
   * for minutes, and one cut short by the bound would leave knex's migration
   * lock taken. Connecting and waiting for a connection stay bounded.
   */
  boundStatements?: boolean;
}

/**
 * The driver settings of every coordinator connection: the URL, and the
 * bounds that end a connect to an unresponsive server and drop idle
 * connections to a vanished one (see {@link KEEPALIVE_IDLE_MS}).
 */
export function driverSettings(url: string, queryTimeoutMs: number) {
  return { uri: url, connectTimeout: queryTimeoutMs, enableKeepAlive: true, keepAliveInitialDelay: KEEPALIVE_IDLE_MS };
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
 * and READ COMMITTED first (see {@link STRICT_SESSION}, {@link READ_COMMITTED_SESSION}),
 * each of its statements bounded (statement-timeout.ts: a connection whose
 * statement timed out is closed and never lent again), and connecting and
 * waiting for a free connection bounded alike. Lazy: nothing connects
 * before the first query.
 */
export function connectMysql(options: MysqlOptions): Knex {
  const queryTimeoutMs = options.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS;
  // knex's `client.database()` (schema checks, migrations) reads the name from the settings, not from the URL.
  const connection = { ...driverSettings(options.url, queryTimeoutMs), database: databaseName(options.url) } as Knex.MySql2ConnectionConfig;
  return knexFactory({
    client: 'mysql2',
    connection,
    pool: {
      min: 0,
      max: options.poolMax,
      afterCreate(connection: Connection, done: (err: Error | null, c: unknown) => void) {
        if (options.boundStatements !== false) boundStatements(connection, queryTimeoutMs);
        connection.query(STRICT_SESSION, (strictError) => {
          if (strictError) return done(strictError, connection);
          connection.query(READ_COMMITTED_SESSION, (err) => done(err, connection));
        });
      },
    },
    acquireConnectionTimeout: queryTimeoutMs,
    // knex would print pool errors to the console, outside the JSON log; every such error also
    // reaches the caller, which logs it with its context (or answers 503 for an outage).
    log: { warn: () => undefined, error: () => undefined, deprecate: () => undefined, debug: () => undefined },
  });
}

/**
 * Creates the database named in the URL if it does not exist yet, so a
 * fresh server needs no manual step before `npm run migrate` or start.
 * Its statement is bounded by `queryTimeoutMs` (default {@link DEFAULT_QUERY_TIMEOUT_MS}).
 */
export async function ensureDatabase(url: string, queryTimeoutMs = DEFAULT_QUERY_TIMEOUT_MS): Promise<void> {
  const database = databaseName(url);
  if (!database) throw new Error(`the MySQL log URL names no database: ${redactUrl(url)}`);
  if (!/^[A-Za-z0-9_$]{1,64}$/.test(database)) throw new Error(`database name ${JSON.stringify(database)} must be 1-64 of [A-Za-z0-9_$]`);
  const parsed = new URL(url);
  parsed.pathname = '/';
  const server = connectMysql({ url: parsed.toString(), poolMax: 1, queryTimeoutMs });
  try {
    await server.raw('CREATE DATABASE IF NOT EXISTS ?? CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci', [database]);
  } finally {
    await server.destroy();
  }
}

/** The database named in a `mysql://…/database` URL ('' if none). */
function databaseName(url: string): string {
  return decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
}
