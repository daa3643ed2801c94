/**
 * The one way the PostgreSQL store writes: a single statement (its own
 * transaction: one round trip, one commit) or a transaction of several, each
 * run again whole when the server rolled it back for a serialization failure
 * or a deadlock (every caller's work is re-runnable), and counted, so tests
 * and the benchmark can check commits per transaction.
 */
import type { QueryOptions, SqlDatabase, SqlResult, SqlSession } from './sql-database.ts';
import { isRetryableConflict } from './sqlstate.ts';

/** Runs of one write before a conflict is given up on (and reported as the `conflict` outage). */
const CONFLICT_ATTEMPTS = 3;

export class PostgresWriter {
  #commits = 0;

  constructor(readonly db: SqlDatabase) {}

  get commitCount(): number {
    return this.#commits;
  }

  /** One statement that writes, as its own transaction. */
  statement<R>(sql: string, values: readonly unknown[], options?: QueryOptions): Promise<SqlResult<R>> {
    return this.#retried(() => this.db.query<R>(sql, values, options));
  }

  /** Several statements in one transaction (see SqlDatabase.transaction). */
  transaction<T>(work: (session: SqlSession) => Promise<T>): Promise<T> {
    return this.#retried(() => this.db.transaction(work));
  }

  async #retried<T>(write: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await write();
        this.#commits++;
        return result;
      } catch (error) {
        if (isRetryableConflict(error) && attempt < CONFLICT_ATTEMPTS) continue;
        throw error;
      }
    }
  }
}
