/**
 * One transaction, one round trip: the statements of a commit are sent as a
 * single multi-statement query (`START TRANSACTION; …; COMMIT`) on a mysql2
 * pool. The transaction log's hot path (begin, decision, round record) costs
 * the coordinator one round trip per commit this way instead of one per
 * statement — the largest cost measured in docs/performance.md.
 *
 * Statements after a compare-and-set are guarded by the session variable
 * `@dtx_ok` (set from ROW_COUNT() right after it), so a lost race writes
 * nothing further; the caller reads the first statement's result to know.
 * Sessions run at READ COMMITTED, so those reads see every commit that
 * preceded the compare-and-set, whatever else the group read first.
 *
 * Group commit: while `maxConcurrent` batches are in flight, further
 * transactions wait and are then sent together, as one transaction of
 * several units (each unit keeps its own guard, since units run in order).
 * At low load nothing waits; under load commits per transaction fall below
 * one per write. If a group fails, it was rolled back whole, and each unit
 * is run again on its own so that one unit's error is only its own.
 */
import type { PoolConnection } from 'mysql2';
import { createPool, type Pool } from 'mysql2/promise';
import { DEFAULT_QUERY_TIMEOUT_MS, driverSettings, READ_COMMITTED_SESSION, STRICT_SESSION } from './connect.ts';
import { isRetryableConflict } from './mysql-errors.ts';
import type { MysqlWriter } from './mysql-writer.ts';
import { StatementTimeoutError } from '../ports/store-errors.ts';
import { boundStatements } from './statement-timeout.ts';

export interface Statement {
  sql: string;
  values: unknown[];
}

const CONFLICT_RETRIES = 3;

/** Sets `@dtx_ok` from the row count of the statement just before it. */
export const REMEMBER_ROW_COUNT: Statement = { sql: 'SET @dtx_ok = ROW_COUNT()', values: [] };

/**
 * The mysql2 pool a {@link MysqlBatch} sends its multi-statement
 * transactions on (strict mode, READ COMMITTED), each statement bounded by
 * `queryTimeoutMs` (statement-timeout.ts: a connection whose statement timed
 * out is closed and leaves the pool), connecting too.
 */
export function connectBatchPool(url: string, poolMax: number, queryTimeoutMs = DEFAULT_QUERY_TIMEOUT_MS): Pool {
  const pool = createPool({
    ...driverSettings(url, queryTimeoutMs),
    multipleStatements: true,
    connectionLimit: poolMax,
    waitForConnections: true,
    maxIdle: poolMax,
  });
  pool.pool.on('connection', (connection) => {
    boundStatements(connection, queryTimeoutMs);
    // Queued ahead of any unit on this connection. READ COMMITTED: a unit's
    // reads after its compare-and-set see what committed before it, not the
    // snapshot an earlier unit of the same group took (see connect.ts).
    // A connection whose session could not be set must run no unit: closed.
    const closeOnError = (error: Error | null) => {
      if (error) connection.destroy();
    };
    connection.query(STRICT_SESSION, closeOnError);
    connection.query(READ_COMMITTED_SESSION, closeOnError);
  });
  return pool;
}

interface Unit {
  statements: Statement[];
  resolve(results: unknown[]): void;
  reject(error: unknown): void;
  /** Set while the unit waits for a batch in flight to end. */
  expiry?: NodeJS.Timeout;
}

export interface GroupCommitOptions {
  /** Batches in flight at once (each on its own connection) before new ones wait to be grouped. */
  maxConcurrent: number;
  /** Most transactions in one group. */
  maxGroup: number;
  /**
   * Longest a transaction waits for a batch in flight to end before it fails
   * unsent (a StatementTimeoutError, `sent: false`); the pool's statement
   * bound, so that a frozen database answers each caller within a bound
   * however many are waiting. Default DEFAULT_QUERY_TIMEOUT_MS.
   */
  maxWaitMs?: number;
}

const DEFAULT_GROUP: Required<GroupCommitOptions> = { maxConcurrent: 4, maxGroup: 32, maxWaitMs: DEFAULT_QUERY_TIMEOUT_MS };

/** Sends a commit's statements in one round trip, grouping concurrent commits (see the module comment). */
export class MysqlBatch {
  readonly #waiting: Unit[] = [];
  #inFlight = 0;
  private readonly group: Required<GroupCommitOptions>;

  constructor(
    private readonly pool: Pool,
    private readonly writer: MysqlWriter,
    group: Partial<GroupCommitOptions> = {},
  ) {
    this.group = { ...DEFAULT_GROUP, ...group };
  }

  /**
   * Runs `statements` as one transaction and returns each statement's
   * result, in order — possibly committed together with other callers'
   * transactions (group commit), never partially. On an error nothing of
   * it is written, except after a StatementTimeoutError with `sent: true`:
   * the COMMIT sent with the statements may still land once the server
   * answers again (statement-timeout.ts).
   */
  transaction(statements: Statement[]): Promise<unknown[]> {
    return new Promise((resolve, reject) => {
      const unit: Unit = { statements, resolve, reject };
      this.#waiting.push(unit);
      this.#pump();
      // Still waiting (pump takes from the front): every slot is busy.
      if (this.#waiting.at(-1) === unit) unit.expiry = setTimeout(() => this.#expire(unit), this.group.maxWaitMs);
    });
  }

  #expire(unit: Unit): void {
    const index = this.#waiting.indexOf(unit);
    if (index < 0) return;
    this.#waiting.splice(index, 1);
    unit.reject(new StatementTimeoutError(this.group.maxWaitMs, false));
  }

  #pump(): void {
    while (this.#inFlight < this.group.maxConcurrent && this.#waiting.length > 0) {
      const units = this.#waiting.splice(0, this.group.maxGroup);
      for (const unit of units) clearTimeout(unit.expiry);
      this.#inFlight++;
      void this.#commitGroup(units).finally(() => {
        this.#inFlight--;
        this.#pump();
      });
    }
  }

  async #commitGroup(units: Unit[]): Promise<void> {
    if (units.length > 1) {
      try {
        const results = await this.#execute(units.flatMap((unit) => unit.statements));
        let offset = 0;
        for (const unit of units) {
          unit.resolve(results.slice(offset, offset + unit.statements.length));
          offset += unit.statements.length;
        }
        return;
      } catch (error) {
        // No answer in time: the group's outcome is unknown (its COMMIT may still land), and running
        // each unit again alone would only wait for the unresponsive server once more.
        if (error instanceof StatementTimeoutError) {
          for (const unit of units) unit.reject(error);
          return;
        }
        // Rolled back whole: fall through and give each unit its own transaction.
      }
    }
    await Promise.all(
      units.map(async (unit) => {
        try {
          unit.resolve(await this.#execute(unit.statements));
        } catch (error) {
          unit.reject(error);
        }
      }),
    );
  }

  /**
   * One transaction in one round trip. On any error it is rolled back; a
   * deadlock or lock-wait timeout re-runs it whole. A timed-out one is ended
   * by the server instead, once it runs again and reads that the connection
   * closed — after what it had received, COMMIT included (statement-timeout.ts).
   *
   * On mysql2's callback API: its promise wrapper captures a stack trace for
   * every query, 2–3 % of the coordinator's CPU on this path (docs/performance.md).
   */
  async #execute(statements: Statement[]): Promise<unknown[]> {
    const sql = ['START TRANSACTION', ...statements.map((s) => s.sql), 'COMMIT'].join(';\n');
    const values = statements.flatMap((s) => s.values);
    for (let attempt = 1; ; attempt++) {
      const connection = await this.#connection();
      let healthy = true;
      try {
        const results = await query(connection, sql, values);
        this.writer.countCommit();
        return (results as unknown[]).slice(1, -1);
      } catch (error) {
        healthy = await rollback(connection);
        if (isRetryableConflict(error) && attempt < CONFLICT_RETRIES) continue;
        throw error;
      } finally {
        if (healthy) connection.release();
        else connection.destroy();
      }
    }
  }

  #connection(): Promise<PoolConnection> {
    return new Promise((resolve, reject) => this.pool.pool.getConnection((error, connection) => (error ? reject(error) : resolve(connection))));
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

function query(connection: PoolConnection, sql: string, values: unknown[]): Promise<unknown> {
  return new Promise((resolve, reject) => connection.query(sql, values, (error, results) => (error ? reject(error) : resolve(results))));
}

/** A failed statement stops the batch with its transaction open: end it before the connection is reused. */
async function rollback(connection: PoolConnection): Promise<boolean> {
  try {
    await query(connection, 'ROLLBACK', []);
    return true;
  } catch {
    return false;
  }
}
