/**
 * The one way the stores commit: a knex transaction, re-run whole on a
 * deadlock or lock-wait timeout (every caller's work is re-runnable), and
 * counted, so tests and the benchmark can check commits per transaction.
 */
import type { Knex } from 'knex';
import { isRetryableConflict } from './mysql-errors.ts';

const CONFLICT_RETRIES = 3;

/** Runs the stores' knex transactions, retried whole on lock conflicts, and counts commits. */
export class MysqlWriter {
  #commits = 0;

  constructor(readonly knex: Knex) {}

  get commitCount(): number {
    return this.#commits;
  }

  /** Count a commit made outside `write()` (an autocommit statement, or a batch of mysql-batch.ts). */
  countCommit(): void {
    this.#commits++;
  }

  async write<T>(work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await this.knex.transaction(work);
        this.#commits++;
        return result;
      } catch (error) {
        if (isRetryableConflict(error) && attempt < CONFLICT_RETRIES) continue;
        throw error;
      }
    }
  }
}
