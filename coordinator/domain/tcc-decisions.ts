/**
 * Pure decisions of the TCC state machine.
 *
 * Each function takes what the store loaded, the caller's request and the
 * time, and says what should happen; the engine performs it. Nothing here
 * does I/O, reads the clock or draws random numbers by itself.
 */
import type { BranchOutcome } from '../../participant-sdk/protocol/wire.ts';
import { retryDelayMs, type RetryPolicy } from './backoff.ts';
import { TransactionRefusedError } from './refusal.ts';
import {
  isTerminal,
  type Branch,
  type BranchRegistration,
  type BranchStatus,
  type GlobalStatus,
  type GlobalTransaction,
  type TransactionSnapshot,
} from './transaction.ts';

/** The outcome of asking to move a transaction to its phase-two decision. */
export type DecisionStep =
  /** Log the decision (compare-and-set from `trying`), then run phase two. */
  | { kind: 'decide'; to: 'confirming' | 'cancelling' }
  /** The same decision is already logged: answer with the current status. */
  | { kind: 'already'; status: GlobalStatus };

/** The reasons the coordinator logs when it aborts a transaction for its deadline (by the sweep, or at a late submit). */
export const DEADLINE_REASONS = { sweep: 'timeout', lateSubmit: 'deadline passed before submit' } as const;

/**
 * Whether the abort came at or after the deadline (by the sweep, a late
 * submit, or anyone else once it had passed): decided by the logged times,
 * never by the free-text reason. A decision logged before decided_at
 * existed counts as not.
 */
function abortedForDeadline(txn: GlobalTransaction): boolean {
  return txn.decidedAt !== null && txn.decidedAt >= txn.deadlineAt;
}

/**
 * Submit: `trying` → `confirming`. Re-sending is safe; submitting an aborted
 * transaction is refused: DEADLINE_PASSED when the deadline aborted it (or is
 * about to: the status is then the one it moves to, `cancelling`),
 * ILLEGAL_STATE when someone aborted it — whichever request of a race wins.
 */
export function decideSubmit(txn: GlobalTransaction, now: number): DecisionStep {
  switch (txn.status) {
    case 'trying':
      if (now >= txn.deadlineAt) {
        throw new TransactionRefusedError(
          'DEADLINE_PASSED',
          `transaction ${txn.gid} passed its deadline before submit; it is being aborted`,
          txn.gid,
          'cancelling',
        );
      }
      return { kind: 'decide', to: 'confirming' };
    case 'confirming':
    case 'confirmed':
      return { kind: 'already', status: txn.status };
    case 'cancelling':
    case 'cancelled':
      if (abortedForDeadline(txn)) {
        throw new TransactionRefusedError('DEADLINE_PASSED', `transaction ${txn.gid} passed its deadline before submit and was aborted`, txn.gid, txn.status);
      }
      throw new TransactionRefusedError(
        'ILLEGAL_STATE',
        `transaction ${txn.gid} is ${txn.status}: it was aborted${txn.reason ? ` (${txn.reason})` : ''} and cannot be submitted`,
        txn.gid,
        txn.status,
      );
  }
}

/** Abort: `trying` → `cancelling`. Re-sending is safe; aborting after the confirm decision is refused. */
export function decideAbort(txn: GlobalTransaction): DecisionStep {
  switch (txn.status) {
    case 'trying':
      return { kind: 'decide', to: 'cancelling' };
    case 'cancelling':
    case 'cancelled':
      return { kind: 'already', status: txn.status };
    case 'confirming':
    case 'confirmed':
      throw new TransactionRefusedError(
        'ILLEGAL_STATE',
        `transaction ${txn.gid} is ${txn.status}: the confirm decision is logged and cannot be reversed`,
        txn.gid,
        txn.status,
      );
  }
}

/**
 * The distinct registrations of one request: the same branch twice with equal
 * fields counts once; twice with different fields is refused.
 */
export function distinctRegistrations(gid: string, incoming: readonly BranchRegistration[]): BranchRegistration[] {
  const seen = new Map<string, BranchRegistration>();
  for (const registration of incoming) {
    const twin = seen.get(registration.branchId);
    if (twin && !sameRegistration(twin, registration)) throw conflict(gid, registration.branchId);
    seen.set(registration.branchId, registration);
  }
  return [...seen.values()];
}

/**
 * Registration of branches while trying. Returns the registrations that are
 * new; one equal to an existing branch is an idempotent re-send; one with the
 * same id but other endpoints or payload is refused.
 */
export function checkRegistration(
  txn: GlobalTransaction,
  existing: readonly Branch[],
  incoming: readonly BranchRegistration[],
  now: number,
): BranchRegistration[] {
  const known = new Map(existing.map((branch) => [branch.branchId, branch]));
  const fresh = distinctRegistrations(txn.gid, incoming).filter((registration) => {
    const current = known.get(registration.branchId);
    if (current && !sameRegistration(current, registration)) throw conflict(txn.gid, registration.branchId);
    return !current;
  });
  if (fresh.length === 0) return fresh;
  if (txn.status !== 'trying') {
    throw new TransactionRefusedError(
      'ILLEGAL_STATE',
      `transaction ${txn.gid} is ${txn.status}: branches can only be registered while trying`,
      txn.gid,
      txn.status,
    );
  }
  if (now >= txn.deadlineAt) {
    throw new TransactionRefusedError(
      'DEADLINE_PASSED',
      `transaction ${txn.gid} passed its deadline; no branch can be registered`,
      txn.gid,
      // The status it is moving to: the deadline aborts it.
      'cancelling',
    );
  }
  return fresh;
}

function sameRegistration(a: BranchRegistration, b: BranchRegistration): boolean {
  return a.confirmUrl === b.confirmUrl && a.cancelUrl === b.cancelUrl && a.payload === b.payload;
}

function conflict(gid: string, branchId: string): TransactionRefusedError {
  return new TransactionRefusedError(
    'BRANCH_CONFLICT',
    `branch ${branchId} of ${gid} is already registered with other endpoints or payload`,
    gid,
  );
}

/** What recovery should do with a transaction found due. */
export type RecoveryStep = 'abort-timeout' | 'run-phase-two' | 'nothing';

export function decideRecovery(txn: GlobalTransaction, now: number): RecoveryStep {
  if (isTerminal(txn.status)) return 'nothing';
  if (txn.status === 'trying') return now >= txn.deadlineAt ? 'abort-timeout' : 'nothing';
  return 'run-phase-two';
}

export type PhaseTwoOp = 'confirm' | 'cancel';

export interface PhaseTwoPlan {
  op: PhaseTwoOp;
  /** The status once every call succeeded. */
  finalStatus: 'confirmed' | 'cancelled';
  /** Branches still to call, each with the URL for `op`. */
  calls: { branch: Branch; url: string }[];
}

/** Which branches phase two still has to call; null when the transaction is not in phase two. */
export function planPhaseTwo(snapshot: TransactionSnapshot): PhaseTwoPlan | null {
  const { transaction, branches } = snapshot;
  if (transaction.status !== 'confirming' && transaction.status !== 'cancelling') return null;
  const confirming = transaction.status === 'confirming';
  const doneStatus: BranchStatus = confirming ? 'confirmed' : 'cancelled';
  return {
    op: confirming ? 'confirm' : 'cancel',
    finalStatus: doneStatus,
    calls: branches
      .filter((branch) => branch.status !== doneStatus)
      .map((branch) => ({ branch, url: confirming ? branch.confirmUrl : branch.cancelUrl })),
  };
}

/** How one phase-two call ended, as the branch client saw it. */
export interface BranchCallResult {
  branchId: string;
  outcome: BranchOutcome;
  httpStatus: number | null;
  /** Why it did not succeed: reply body excerpt, timeout or connection error. */
  error: string | null;
}

export type RoundDecision =
  | { kind: 'finish'; status: 'confirmed' | 'cancelled' }
  | {
      kind: 'retry';
      retryCount: number;
      nextRetryAt: number;
      needsAttention: boolean;
      /** Set when this round raised the flag (or changed why it is raised). */
      attentionReason: string | null;
    };

/**
 * After a phase-two round: finish when every remaining branch succeeded,
 * else schedule the next round. A 409 on confirm/cancel is not a business
 * answer (they must eventually succeed): it is retried and raised to the
 * operator at once. `ongoing` replies keep the normal interval without
 * growing the backoff, so they never reach the failed-rounds threshold: a
 * phase two still incomplete `attentionAfterMs` after its decision is raised
 * too, whatever its branches answer.
 */
export function decideAfterRound(
  txn: GlobalTransaction,
  plan: PhaseTwoPlan,
  results: readonly BranchCallResult[],
  now: number,
  policy: RetryPolicy,
  random: () => number,
): RoundDecision {
  const pending = results.filter((result) => result.outcome !== 'success');
  if (pending.length === 0) return { kind: 'finish', status: plan.finalStatus };

  const onlyOngoing = pending.every((result) => result.outcome === 'ongoing');
  const retryCount = onlyOngoing ? txn.retryCount : txn.retryCount + 1;
  const delay = onlyOngoing ? policy.baseDelayMs : retryDelayMs(retryCount, policy, random);

  const refused = pending.find((result) => result.outcome === 'failure');
  let attentionReason: string | null = null;
  if (refused) {
    const reason = `branch ${refused.branchId} refused ${plan.op} (HTTP ${refused.httpStatus}); ${plan.op} must eventually succeed`;
    // Raise it once, not on every round of a branch that keeps refusing (one alert and one event, not one per retry).
    if (!txn.needsAttention || txn.attentionReason !== reason) attentionReason = reason;
  } else if (!txn.needsAttention) {
    const age = now - decisionTime(txn);
    if (retryCount >= policy.attentionAfterRetries) {
      attentionReason = `phase two still incomplete after ${retryCount} failed rounds`;
    } else if (age >= policy.attentionAfterMs) {
      attentionReason = `phase two still incomplete ${Math.floor(age / 1000)} s after the ${plan.op} decision (${pendingSummary(pending)})`;
    }
  }
  return {
    kind: 'retry',
    retryCount,
    nextRetryAt: now + delay,
    needsAttention: txn.needsAttention || attentionReason !== null,
    attentionReason,
  };
}

/**
 * When the decision was logged. A decision logged before the log kept that
 * time falls back to the creation time, which is earlier: such a
 * transaction is flagged sooner, never later.
 */
function decisionTime(txn: GlobalTransaction): number {
  return txn.decidedAt ?? txn.createdAt;
}

/** The branches still pending and how each last answered, for the attention reason (a few, not all). */
function pendingSummary(pending: readonly BranchCallResult[]): string {
  const shown = pending.slice(0, 3).map((result) => `branch ${result.branchId}: ${result.outcome}${result.httpStatus === null ? '' : ` (HTTP ${result.httpStatus})`}`);
  return pending.length > shown.length ? `${shown.join(', ')}, and ${pending.length - shown.length} more` : shown.join(', ');
}
