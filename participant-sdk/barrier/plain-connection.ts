/**
 * A pooled connection as the plain-SQL barrier (runInSqlBarrier) drives it:
 * its own READ COMMITTED transaction, statements with `?` placeholders, and
 * a way out that never hands a connection in an unknown state back to the
 * pool. Each dialect makes one from its driver's connection
 * (BarrierDialect.plainConnection).
 */
import type { BarrierQuery } from './dialect.ts';

export interface PlainConnection {
  /** One statement (`?` values, `??` identifiers, as knex.raw takes them); resolves to the driver's result. */
  query: BarrierQuery;
  /** Start a READ COMMITTED transaction. */
  begin(): Promise<void>;
  /**
   * Commit it.
   * @throws the database's error, or TransactionLostError when the database
   *   answered the COMMIT by rolling back (PostgreSQL, after a failed statement)
   */
  commit(): Promise<void>;
  /** Roll it back. */
  rollback(): Promise<void>;
  /**
   * Close the connection for good, so that the pool drops it instead of
   * handing it out again (its session's state is unknown). Resolves once the
   * pool can tell.
   */
  destroy(): Promise<void>;
}
