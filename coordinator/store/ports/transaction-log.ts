/**
 * One transaction log as a coordinator opens it: its two ports (the
 * engine's TransactionStore, the operators' AdminStore), how to make its
 * database ready, and its lifecycle. Each store folder (store/<name>/)
 * provides one; store/open-log.ts picks it by the log URL's scheme, and
 * nothing above store/ knows which it is.
 */
import type { AdminStore } from './admin-store.ts';
import type { TransactionStore } from './transaction-store.ts';

/** The stores this package provides (DTX_LOG_URL's schemes). */
export type LogKind = 'mysql' | 'postgres' | 'embedded';

export interface TransactionLog {
  /** Which store it is, for logs: a LogKind, or the name a store of one's own gives itself. */
  readonly kind: LogKind | (string & {});
  /** The engine's operations; their outages throw StoreUnavailableError. */
  readonly store: TransactionStore;
  /** The operators' queries and actions; their outages throw StoreUnavailableError. */
  readonly adminStore: AdminStore;
  /** Where the log is, safe to log (no password). */
  readonly description: string;
  /**
   * Precondition: none; safe from several instances at once. Effect: creates
   * the database if it is missing and applies every pending migration.
   * Returns the names of the migrations applied now.
   */
  prepare(): Promise<string[]>;
  /** Commits the log has made since it was opened (the benchmark's commits per transaction, tests). */
  commitCount(): number;
  /** Closes its connections (or its embedded database); closing again is a no-op. */
  close(): Promise<void>;
}
