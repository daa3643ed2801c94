/**
 * The PostgreSQL store's connection on a server: a node-postgres (`pg`)
 * pool behind the store's SqlDatabase interface, every statement and every
 * wait for a connection bounded by the client's own clock.
 *
 * What node-postgres does on its own bounds (pg 8.23), and why they are not
 * enough: its `query_timeout` answers the caller with a plain Error ("Query
 * read timeout", no code) but leaves the statement in flight on the
 * connection, and the next statement queues behind it; its pool's
 * `connectionTimeoutMillis` rejects with a plain Error too ("timeout
 * exceeded when trying to connect"), and a connection that dies under a
 * statement fails it with "Connection terminated unexpectedly", again
 * without a code. Only the message would tell these apart. So here the
 * bounds are the store's own timers, raising StatementTimeoutError, and a
 * connection that died (node-postgres emits `error` on the client before it
 * fails the statement) fails it with PostgresConnectionLostError.
 *
 * A statement whose bound passes closes its connection: it is released to
 * the pool with an error, so the pool removes it and ends it, and ending a
 * client with a statement in flight destroys its socket (node-postgres 8.23;
 * the socket is also destroyed here, not to depend on it). It is never lent
 * again. A frozen server, once it runs again, reads EOF after what it had
 * received and rolls back the transaction that was open; an autocommit
 * statement it had received whole may still commit (docs/protocol.md,
 * Re-sending). The server's own `statement_timeout` is set to the same bound,
 * so a statement that is merely slow (a lock wait) is ended by the server
 * (57014) and its connection stays usable.
 */
import { StatementTimeoutError } from '../ports/store-errors.ts';
import { createHash } from 'node:crypto';
import pg from 'pg';
import { PostgresConnectionLostError } from './client-errors.ts';
import type { QueryOptions, SqlDatabase, SqlResult, SqlSession } from './sql-database.ts';
import { endsSession } from './sqlstate.ts';

/**
 * TCP keepalive probes start after a connection was idle this long: a
 * server host that vanished (no FIN, no RST) leaves pooled connections
 * looking open; the probes find them dead and the pool drops them.
 */
export const KEEPALIVE_IDLE_MS = 30_000;

/**
 * A session that sits inside a transaction without sending anything for
 * this many statement bounds is ended by the server, releasing its row
 * locks: a coordinator frozen mid-transaction does not hold up the others.
 */
const IDLE_IN_TRANSACTION_BOUNDS = 6;

export interface PgDatabaseOptions {
  /** `postgres://user:pass@host:port/database`. */
  url: string;
  /** Most connections of the pool. */
  poolMax: number;
  /** Bound on each statement, on connecting and on waiting for a pooled connection. */
  queryTimeoutMs: number;
  /**
   * False for the migrations only: a schema change on a large log may run
   * for minutes. Connecting and waiting for a connection stay bounded.
   */
  boundStatements?: boolean;
}

/** Opens a pool (lazily: nothing connects before the first statement). */
export function connectPostgres(options: PgDatabaseOptions): SqlDatabase {
  return new PgDatabase(options);
}

class PgDatabase implements SqlDatabase {
  readonly #pool: pg.Pool;
  /** Clients that must not be lent again: their connection died, or a statement on it outlived its bound. */
  readonly #broken = new WeakSet<pg.ClientBase>();
  readonly #acquireBoundMs: number;
  readonly #statementBoundMs: number;
  #closing: Promise<void> | null = null;

  constructor(options: PgDatabaseOptions) {
    const bounded = options.boundStatements !== false;
    this.#acquireBoundMs = options.queryTimeoutMs;
    this.#statementBoundMs = bounded ? options.queryTimeoutMs : 0;
    this.#pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolMax,
      // Later than the store's own bound (which answers the caller): it only tears down a
      // connect attempt that hangs, so that it does not hold a slot of the pool for ever.
      connectionTimeoutMillis: options.queryTimeoutMs + 1_000,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      keepAliveInitialDelayMillis: KEEPALIVE_IDLE_MS,
      application_name: 'dtx-coordinator',
      // Whatever the database's default: the store's guards rely on each statement seeing what
      // committed before it (see postgres-transaction-store.ts).
      options: '-c default_transaction_isolation=read\\ committed',
      ...(bounded
        ? {
            statement_timeout: options.queryTimeoutMs,
            idle_in_transaction_session_timeout: options.queryTimeoutMs * IDLE_IN_TRANSACTION_BOUNDS,
          }
        : {}),
    });
    // An idle client whose connection died: the pool drops it, and the next statement gets a new one.
    this.#pool.on('error', () => undefined);
    // node-postgres emits `error` on a client whose connection died before it fails the statement
    // in flight (and throws it if nobody listens): that is how a lost connection is told apart.
    this.#pool.on('connect', (client) => client.on('error', () => this.#broken.add(client)));
  }

  async query<R>(sql: string, values: readonly unknown[] = [], options: QueryOptions = {}): Promise<SqlResult<R>> {
    const client = await this.#acquire();
    try {
      return await this.#run<R>(client, sql, values, options);
    } finally {
      this.#release(client);
    }
  }

  async transaction<T>(work: (session: SqlSession) => Promise<T>): Promise<T> {
    const client = await this.#acquire();
    try {
      await this.#run(client, 'BEGIN ISOLATION LEVEL READ COMMITTED', []);
      const result = await work({ query: (sql, values = [], options = {}) => this.#run(client, sql, values, options) });
      await this.#run(client, 'COMMIT', []);
      return result;
    } catch (error) {
      if (!this.#broken.has(client)) {
        // A failed statement leaves the transaction aborted: end it before the connection is lent again.
        await this.#run(client, 'ROLLBACK', []).catch(() => this.#broken.add(client));
      }
      throw error;
    } finally {
      this.#release(client);
    }
  }

  async close(): Promise<void> {
    this.#closing ??= this.#pool.end();
    await this.#closing;
  }

  /** A pooled client within the bound, else StatementTimeoutError (`sent: false`). */
  #acquire(): Promise<pg.PoolClient> {
    const boundMs = this.#acquireBoundMs;
    return new Promise((resolve, reject) => {
      let expired = false;
      const timer = setTimeout(() => {
        expired = true;
        reject(new StatementTimeoutError(boundMs, false));
      }, boundMs);
      this.#pool.connect().then(
        (client) => {
          clearTimeout(timer);
          // Came too late: the caller has been answered; the client goes back unused.
          if (expired) client.release();
          else resolve(client);
        },
        (error: unknown) => {
          clearTimeout(timer);
          if (expired) return;
          // Connecting is all pool.connect() does: a failure without the server's SQLSTATE or a
          // socket code is the connection ending under the handshake.
          reject(error instanceof pg.DatabaseError || hasCode(error) ? error : new PostgresConnectionLostError({ cause: error }));
        },
      );
    });
  }

  /** One statement on `client`, bounded (see the module comment). */
  #run<R>(client: pg.PoolClient, sql: string, values: readonly unknown[], options: QueryOptions = {}): Promise<SqlResult<R>> {
    const boundMs = this.#statementBoundMs;
    return new Promise((resolve, reject) => {
      let settled = false;
      const timer =
        boundMs > 0
          ? setTimeout(() => {
              if (settled) return;
              settled = true;
              this.#broken.add(client);
              destroySocket(client);
              reject(new StatementTimeoutError(boundMs, true));
            }, boundMs)
          : undefined;
      // A statement to reuse is named by its text: node-postgres parses it once per connection.
      const query = options.reuse ? { name: statementName(sql), text: sql, values: values as unknown[] } : { text: sql, values: values as unknown[] };
      client.query(query).then(
        (result) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({ rows: result.rows as R[], rowCount: result.rowCount ?? 0 });
        },
        (error: unknown) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          if (endsSession(error)) this.#broken.add(client);
          // The server's own errors carry their SQLSTATE; anything else on a client whose
          // connection died is that death, whatever the driver's message says.
          reject(this.#broken.has(client) && !(error instanceof pg.DatabaseError) ? new PostgresConnectionLostError({ cause: error }) : error);
        },
      );
    });
  }

  /** Back to the pool, or out of it for good if it is broken (released with an error, the pool ends it). */
  #release(client: pg.PoolClient): void {
    client.release(this.#broken.has(client) ? true : undefined);
  }
}

/** The name of a prepared statement: one per text, the same on every connection and instance. */
function statementName(sql: string): string {
  return `dtx_${createHash('sha256').update(sql).digest('hex').slice(0, 32)}`;
}

/** Whether `error` carries a code (a socket error's `ECONNREFUSED`, …), which the outage classification reads. */
function hasCode(error: unknown): boolean {
  return typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string';
}

/** Closes the client's socket at once, whatever is in flight on it. */
function destroySocket(client: pg.PoolClient): void {
  (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}
