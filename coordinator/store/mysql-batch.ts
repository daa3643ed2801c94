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
 */
import { createPool, type Pool, type PoolConnection } from 'mysql2/promise';
import { isRetryableConflict } from './mysql-errors.ts';
import type { MysqlWriter } from './mysql-writer.ts';

export interface Statement {
  sql: string;
  values: unknown[];
}

const CONFLICT_RETRIES = 3;

/** Sets `@dtx_ok` from the row count of the statement just before it. */
export const REMEMBER_ROW_COUNT: Statement = { sql: 'SET @dtx_ok = ROW_COUNT()', values: [] };

export function connectBatchPool(url: string, poolMax: number): Pool {
  const pool = createPool({ uri: url, multipleStatements: true, connectionLimit: poolMax, waitForConnections: true, maxIdle: poolMax });
  // Strict mode turns over-long values into errors instead of silent truncation.
  pool.pool.on('connection', (connection) => {
    connection.query("SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'");
  });
  return pool;
}

export class MysqlBatch {
  constructor(
    private readonly pool: Pool,
    private readonly writer: MysqlWriter,
  ) {}

  /**
   * Runs `statements` as one transaction in one round trip and returns each
   * statement's result, in order. On any error the transaction is rolled
   * back; a deadlock or lock-wait timeout re-runs it whole.
   */
  async transaction(statements: Statement[]): Promise<unknown[]> {
    const sql = ['START TRANSACTION', ...statements.map((s) => s.sql), 'COMMIT'].join(';\n');
    const values = statements.flatMap((s) => s.values);
    for (let attempt = 1; ; attempt++) {
      const connection = await this.pool.getConnection();
      let healthy = true;
      try {
        const [results] = await connection.query(sql, values);
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

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** A failed statement stops the batch with its transaction open: end it before the connection is reused. */
async function rollback(connection: PoolConnection): Promise<boolean> {
  try {
    await connection.query('ROLLBACK');
    return true;
  } catch {
    return false;
  }
}
