/**
 * What the admin API needs from the transaction log: filtered listing with
 * keyset paging, counts, the audit log, and operator changes applied as one
 * guarded commit each.
 */
import type { OperatorAction, OperatorChange } from '../../domain/operator-decisions.ts';
import type { GlobalStatus, GlobalTransaction, Mode, OpenStatus, TerminalStatus, TransactionSnapshot } from '../../domain/transaction.ts';
import type { RowLockHolder } from './transaction-store.ts';

/** How many transactions of one mode are in one status. */
export interface StatusCount<S extends GlobalStatus = GlobalStatus> {
  mode: Mode;
  status: S;
  count: number;
}

export interface ListFilter {
  status?: GlobalStatus;
  needsAttention?: boolean;
  paused?: boolean;
  mode?: Mode;
  createdAfter?: number;
  createdBefore?: number;
  gidPrefix?: string;
  /** scheme://host:port of a participant having a branch in the transaction. */
  participant?: string;
}

/** Position after the last item of a page: (created_at, gid) of that item. */
export interface ListCursor {
  createdAt: number;
  gid: string;
}

export interface ListRequest {
  filter: ListFilter;
  order: 'newest' | 'oldest';
  limit: number;
  after?: ListCursor;
}

export interface Stats {
  /** Open transactions by mode and status (exact; only pairs with transactions). */
  open: StatusCount<OpenStatus>[];
  /** Transactions finished in the last hour, by mode and status. */
  finishedLastHour: StatusCount<TerminalStatus>[];
  needsAttention: number;
  paused: number;
  oldestOpenCreatedAt: number | null;
  /** Open transactions due for recovery now (their retry time passed). */
  retryBacklog: number;
  flaggedLastHour: number;
}

export interface OpenCounts {
  open: StatusCount<OpenStatus>[];
  needsAttention: number;
}

export interface AuditEntry {
  at: number;
  actor: string;
  role: string;
  action: OperatorAction | 'retry-matching';
  gid: string | null;
  branchId: string | null;
  reason: string;
  detail: string | null;
}

export interface AuditRecord extends AuditEntry {
  id: number;
}

/** The operator's port on the log: listing, stats, the audit log, and guarded operator changes. */
export interface AdminStore {
  list(request: ListRequest): Promise<{ items: GlobalTransaction[]; next: ListCursor | null }>;
  stats(now: number): Promise<Stats>;
  /** Open transactions by mode and status and the flagged count, for the metrics scrape: two index-only counts. */
  openCounts(): Promise<OpenCounts>;

  /**
   * An operator's change, decided by the domain on `before` (a snapshot the
   * caller loaded). Precondition: the transaction is still as `before` shows
   * it (status, paused, lease owner, retry count, last update) and every
   * branch the change resolves is still `pending`. Effect, in one commit:
   * the change, an `operator` event (and a `status` event if the status
   * changes) and the audit entry. Returns the snapshot after the change;
   * `stale`, writing nothing, if the precondition failed (load again and
   * decide again); null if the transaction does not exist.
   */
  applyOperatorChange(input: { before: TransactionSnapshot; change: OperatorChange; audit: AuditEntry }): Promise<TransactionSnapshot | 'stale' | null>;

  /** Open, unpaused phase-two transactions matching the filter, oldest first, at most `limit`. */
  findRetryable(filter: ListFilter, limit: number): Promise<string[]>;

  /**
   * The row locks held now (see TransactionStore.lockRows), oldest first
   * (then by resource, table and key, byte order), at most `limit`: of one transaction (`gid`), or of one participant's
   * database (`resource`, optionally one `table`).
   */
  rowLocks(request: { gid?: string; resource?: string; table?: string; limit: number }): Promise<RowLockHolder[]>;

  recordAudit(entry: AuditEntry): Promise<void>;
  auditLog(request: { gid?: string; limit: number; beforeId?: number }): Promise<AuditRecord[]>;
}
