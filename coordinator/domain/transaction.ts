/**
 * The coordinator's model of a global transaction and its branches, the same
 * for every mode. Plain data: the store loads and saves it, the decisions
 * read it. A mode (modes/<mode>/) gives these statuses and operations the
 * names its users see (TCC: `trying`, `confirm`, …), decides the
 * transitions and plans phase two; the model itself names none of them.
 */
import { TRANSACTION_MODES, type BranchOp, type TransactionMode } from '@dtx/protocol';

/** A transaction's mode: which rules drive it (the protocol's modes: tcc, saga, msg, xa, fmt). */
export type Mode = TransactionMode;
export const MODES: readonly Mode[] = TRANSACTION_MODES;

/**
 * `open`: branches are being registered (and, in TCC, tried); `committing` /
 * `rolling-back`: the decision is logged and phase two runs until it
 * completes; `committed` / `rolled-back`: terminal.
 */
export type GlobalStatus = 'open' | 'committing' | 'rolling-back' | 'committed' | 'rolled-back';
/** Every {@link GlobalStatus}, in lifecycle order. */
export const GLOBAL_STATUSES: readonly GlobalStatus[] = ['open', 'committing', 'rolling-back', 'committed', 'rolled-back'];
/** The statuses of a transaction not finished yet. */
export const OPEN_STATUSES = ['open', 'committing', 'rolling-back'] as const;
export type OpenStatus = (typeof OPEN_STATUSES)[number];
export type PhaseTwoStatus = 'committing' | 'rolling-back';
export type TerminalStatus = 'committed' | 'rolled-back';
/** The statuses of a finished transaction. */
export const TERMINAL_STATUSES: readonly TerminalStatus[] = ['committed', 'rolled-back'];

export function isTerminal(status: GlobalStatus): status is TerminalStatus {
  return status === 'committed' || status === 'rolled-back';
}

export function isPhaseTwo(status: GlobalStatus): status is PhaseTwoStatus {
  return status === 'committing' || status === 'rolling-back';
}

/** Where phase two in a given direction ends, and where a terminal status came from. */
export const OUTCOME_OF: Record<PhaseTwoStatus, TerminalStatus> = { committing: 'committed', 'rolling-back': 'rolled-back' };
export const PHASE_TWO_OF: Record<TerminalStatus, PhaseTwoStatus> = { committed: 'committing', 'rolled-back': 'rolling-back' };

/** A branch is `pending` once registered, and done once the operation of its transaction's phase two succeeded. */
export type BranchStatus = 'pending' | 'committed' | 'rolled-back';

/** An operation's name as the participant protocol sends it; each mode has its own (TCC: confirm, cancel). */
export type Operation = BranchOp;

/** A branch's operations: the participant's URL for each, in registration order. */
export type Operations = Partial<Record<Operation, string>>;

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
  /** While `open`, the coordinator aborts by itself after this instant. */
  deadlineAt: number;
  /** When the commit/rollback decision was logged; null while open (and for decisions logged before the column existed). */
  decidedAt: number | null;
  /** Who logged the decision: the caller, an operator, or the coordinator itself (`timeout-sweeper`, `coordinator`). */
  decidedBy: string | null;
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
  /** Where to ask the initiator whether it committed, if it never decides (a message's check-back); null for other modes. */
  checkUrl: string | null;
  /** Phase two does not start before this instant (a message's delivery time); null: at once. */
  notBefore: number | null;
  /**
   * Callers other than `caller` that may register branches into it (a participant's try that
   * joins the transaction to add branches of its own), as its begin named them. Only `caller`
   * submits or aborts it.
   */
  joinableBy: string[];
}

/** The call that completed a branch. */
export interface BranchCompletion {
  at: number;
  op: Operation;
  /** Which of the branch's calls it was (1 for the first). */
  attempt: number;
  /** The participant's reply status; null when the call had none to report. */
  httpStatus: number | null;
}

export interface Branch {
  gid: string;
  branchId: string;
  /** The participant's URL for each operation phase two may call, in the order they were registered. */
  operations: Operations;
  /** scheme://host:port of the first operation's URL, for finding a participant's transactions. */
  participant: string;
  /** The business payload sent with every operation (unless `opPayloads` names its own), as JSON text. */
  payload: string;
  /** Operations whose payload differs from `payload` (a saga step's compensation), as JSON text each; null when none does. */
  opPayloads: OpPayloads | null;
  /** The branches whose first operation must be done before this one's is called (a saga's step graph); null outside a graph. */
  dependsOn: string[] | null;
  /** Calls of the first operation after which the mode gives up on it (a saga step's retry limit + 1); null: no limit. */
  maxAttempts: number | null;
  /** Timeout of one call to this branch, overriding the coordinator's; null: the coordinator's. */
  callTimeoutMs: number | null;
  status: BranchStatus;
  /** Phase-two calls made so far. */
  attempts: number;
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
  /** The authenticated service that registered it (null: anonymous, or registered before the log kept it). */
  registeredBy: string | null;
  /** The call that made it done; null while pending, when an operator marked it done, or done before the log kept it. */
  completion: BranchCompletion | null;
}

/** A branch's payloads that differ from its `payload`, by operation (JSON text each). */
export type OpPayloads = Partial<Record<Operation, string>>;

/** What a caller supplies to register a branch. */
export interface BranchRegistration {
  branchId: string;
  /** Operation → URL, in the mode's order (the mode's rules check which operations a branch must have). */
  operations: Operations;
  payload: string;
  /** See {@link Branch}; absent means none, no graph, no limit, the coordinator's timeout. */
  opPayloads?: OpPayloads | null;
  dependsOn?: string[] | null;
  maxAttempts?: number | null;
  callTimeoutMs?: number | null;
}

/** The body of a call of `op` to `branch`. */
export function payloadFor(branch: Pick<Branch, 'payload' | 'opPayloads'>, op: Operation): string {
  return branch.opPayloads?.[op] ?? branch.payload;
}

export interface TransactionSnapshot {
  transaction: GlobalTransaction;
  branches: Branch[];
}

export type EventKind = 'begin' | 'register' | 'status' | 'branch-call' | 'attention' | 'operator';

/**
 * One line of a transaction's history. The log writes rows only for what
 * the transaction and branch rows cannot show (failed and ongoing calls,
 * flags, operator actions); the happy path's lines are read from those
 * rows' times (domain/history.ts), so the history shown is the same.
 */
export interface TransactionEvent {
  /** The row's id; 0 for a line assembled from the transaction's rows. */
  id: number;
  gid: string;
  at: number;
  kind: EventKind;
  branchId: string | null;
  op: Operation | null;
  fromStatus: GlobalStatus | null;
  toStatus: GlobalStatus | null;
  outcome: string | null;
  attempt: number | null;
  message: string | null;
  actor: string | null;
}

export type NewEvent = Omit<TransactionEvent, 'id'>;

/** An event with every optional field empty, to be filled by the caller. */
export function blankEvent(gid: string, at: number, kind: EventKind): NewEvent {
  return { gid, at, kind, branchId: null, op: null, fromStatus: null, toStatus: null, outcome: null, attempt: null, message: null, actor: null };
}

/** The participant of a URL: its scheme, host and port. */
export function participantOf(url: string): string {
  const parsed = new URL(url);
  return `${parsed.protocol}//${parsed.host}`;
}

/** The operations a branch registered, in order. */
export function operationNames(operations: Operations): Operation[] {
  return Object.keys(operations) as Operation[];
}

/** The participant of a registration: that of its first operation's URL. */
export function participantOfBranch(operations: Operations): string {
  const [first] = Object.values(operations);
  if (first === undefined) throw new Error('a branch has at least one operation');
  return participantOf(first);
}

/** Bounded text columns; error texts from participants are not bounded. */
export function clip(text: string | null, max: number): string | null {
  if (text === null) return null;
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
