/**
 * The coordinator's model of a global transaction and its branches.
 * Plain data: the store loads and saves it, the decisions read it.
 */
import type { BranchOp } from '../../participant-sdk/protocol/wire.ts';

export type Mode = 'tcc';
export const MODES: readonly Mode[] = ['tcc'];

/**
 * `trying`: branches are being registered and tried; `confirming` /
 * `cancelling`: the decision is logged and phase two runs until it completes;
 * `confirmed` / `cancelled`: terminal.
 */
export type GlobalStatus = 'trying' | 'confirming' | 'cancelling' | 'confirmed' | 'cancelled';
export const GLOBAL_STATUSES: readonly GlobalStatus[] = ['trying', 'confirming', 'cancelling', 'confirmed', 'cancelled'];
export const OPEN_STATUSES: readonly GlobalStatus[] = ['trying', 'confirming', 'cancelling'];

export function isTerminal(status: GlobalStatus): boolean {
  return status === 'confirmed' || status === 'cancelled';
}

/** A branch is `prepared` once registered, and done once its phase-two op succeeded. */
export type BranchStatus = 'prepared' | 'confirmed' | 'cancelled';

export interface GlobalTransaction {
  gid: string;
  mode: Mode;
  status: GlobalStatus;
  /** Why it was submitted or aborted (caller's reason, or `timeout`). */
  reason: string | null;
  /** The authenticated service that began it; null if anonymous (development mode) or begun before callers were recorded. */
  caller: string | null;
  createdAt: number;
  updatedAt: number;
  /** While `trying`, the coordinator aborts by itself after this instant. */
  deadlineAt: number;
  /** When the confirm/cancel decision was logged; null while trying (and for decisions logged before the column existed). */
  decidedAt: number | null;
  finishedAt: number | null;
  /** Phase-two rounds that did not complete. */
  retryCount: number;
  /** When recovery should next look at it; null once terminal. */
  nextRetryAt: number | null;
  needsAttention: boolean;
  attentionReason: string | null;
  /** Retries paused by an operator: recovery leaves it alone until resumed. */
  paused: boolean;
  leaseOwner: string | null;
  leaseUntil: number | null;
}

export interface Branch {
  gid: string;
  branchId: string;
  confirmUrl: string;
  cancelUrl: string;
  /** scheme://host:port of the confirm URL, for finding a participant's transactions. */
  participant: string;
  /** The business payload sent with confirm and cancel, as JSON text. */
  payload: string;
  status: BranchStatus;
  /** Phase-two calls made so far. */
  attempts: number;
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
}

/** What a caller supplies to register a branch. */
export interface BranchRegistration {
  branchId: string;
  confirmUrl: string;
  cancelUrl: string;
  payload: string;
}

export interface TransactionSnapshot {
  transaction: GlobalTransaction;
  branches: Branch[];
}

export type EventKind = 'begin' | 'register' | 'status' | 'branch-call' | 'attention' | 'operator';

/** One line of a transaction's append-only history. */
export interface TransactionEvent {
  id: number;
  gid: string;
  at: number;
  kind: EventKind;
  branchId: string | null;
  op: BranchOp | null;
  fromStatus: GlobalStatus | null;
  toStatus: GlobalStatus | null;
  outcome: string | null;
  attempt: number | null;
  message: string | null;
  actor: string | null;
}

export type NewEvent = Omit<TransactionEvent, 'id'>;

/** The participant of a URL: its scheme, host and port. */
export function participantOf(url: string): string {
  const parsed = new URL(url);
  return `${parsed.protocol}//${parsed.host}`;
}
