/**
 * Pure decisions every mode's phase two shares: what recovery does with a
 * due transaction, what a round's replies mean for the retry schedule and
 * the needs-attention flag. A mode plans which branches a round calls
 * (modes/<mode>/); these decide what happens after.
 *
 * Nothing here does I/O, reads the clock or draws random numbers by itself.
 */
import type { BranchOutcome } from '@dtx/protocol';
import { retryDelayMs, type RetryPolicy } from './backoff.ts';
import {
  isTerminal,
  type Branch,
  type GlobalTransaction,
  type Operation,
  type PhaseTwoStatus,
  type TerminalStatus,
  type TransactionSnapshot,
} from './transaction.ts';

/** The reasons the coordinator logs when it aborts a transaction for its deadline (by the sweep, or at a late submit). */
export const DEADLINE_REASONS = { sweep: 'timeout', lateSubmit: 'deadline passed before submit' } as const;

/**
 * What recovery should do with a transaction found due: abort it (its
 * deadline passed before a decision), run a phase-two round, ask its
 * initiator's check-back URL whether it committed (a message whose sender
 * never decided), or nothing.
 */
export type RecoveryStep = 'abort-timeout' | 'run-phase-two' | 'check-back' | 'nothing';

export function decideRecovery(txn: GlobalTransaction, now: number): RecoveryStep {
  if (isTerminal(txn.status)) return 'nothing';
  if (txn.status === 'open') return now >= txn.deadlineAt ? 'abort-timeout' : 'nothing';
  return 'run-phase-two';
}

export interface PhaseTwoPlan {
  /** The phase two this round belongs to. */
  direction: PhaseTwoStatus;
  /** The status once every call succeeded. */
  finalStatus: TerminalStatus;
  /** Branches to call now, each with its operation and URL. */
  calls: { branch: Branch; op: Operation; url: string }[];
  /**
   * Branches this round marks done without a call, because the mode knows
   * the operation has nothing to do (a saga step whose action never ran has
   * nothing to compensate). Empty in TCC.
   */
  skips: Branch[];
  /** Branches not done that this round neither calls nor skips: a later round will (a saga's next steps). Empty in TCC. */
  waiting: Branch[];
  /**
   * No call before this instant (a message delivered at a given time): a
   * round earlier than it calls nothing and is due again then. Absent: now.
   */
  notBefore?: number;
}

/** How one phase-two call ended, as the branch client saw it. */
export interface BranchCallResult {
  branchId: string;
  outcome: BranchOutcome;
  httpStatus: number | null;
  /** Why it did not succeed: reply body excerpt, timeout or connection error. */
  error: string | null;
}

/**
 * A call of a round, with its operation and the branch's attempt number for
 * it. `completedBefore`: the branch already has a completing call on its row
 * (a saga step's action, before its compensation): a success is then kept
 * as a history line of its own.
 */
export type RoundCall = BranchCallResult & { op: Operation; attempt: number; completedBefore?: boolean };

export type RoundDecision =
  | { kind: 'finish'; status: TerminalStatus }
  /** Progress, more to call in the same direction: record it and run the next round now, keeping the lease. */
  | { kind: 'continue' }
  /** Give up this direction (a saga whose action was refused): log `to` with `reason`, then run its first round now, keeping the lease. */
  | { kind: 'turn'; to: PhaseTwoStatus; reason: string }
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
 * else schedule the next round. A 409 in phase two is not a business answer
 * (the operations must eventually succeed): it is retried and raised to the
 * operator at once. `ongoing` replies keep the normal interval without
 * growing the backoff, so they never reach the failed-rounds threshold: a
 * phase two still incomplete `attentionAfterMs` after its decision is raised
 * too, whatever its branches answer.
 */
export function decideAfterRound(
  txn: GlobalTransaction,
  plan: PhaseTwoPlan,
  results: readonly RoundCall[],
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
    const reason = `branch ${refused.branchId} refused ${refused.op} (HTTP ${refused.httpStatus}); ${refused.op} must eventually succeed`;
    // Raise it once, not on every round of a branch that keeps refusing (one alert and one event, not one per retry).
    if (!txn.needsAttention || txn.attentionReason !== reason) attentionReason = reason;
  } else if (!txn.needsAttention) {
    const age = now - decisionTime(txn);
    if (retryCount >= policy.attentionAfterRetries) {
      attentionReason = `phase two still incomplete after ${retryCount} failed rounds`;
    } else if (age >= policy.attentionAfterMs) {
      const ops = [...new Set(pending.map((result) => result.op))].join('/');
      attentionReason = `phase two still incomplete ${Math.floor(age / 1000)} s after the ${ops} decision (${pendingSummary(pending)})`;
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
  const shown = pending
    .slice(0, 3)
    .map((result) => `branch ${result.branchId}: ${result.outcome}${result.httpStatus === null ? '' : ` (HTTP ${result.httpStatus})`}`);
  return pending.length > shown.length ? `${shown.join(', ')}, and ${pending.length - shown.length} more` : shown.join(', ');
}

/**
 * The snapshot after a recorded round that keeps going (`continue`, `turn`):
 * what the log now holds, without reading it back. The lease is still the
 * round's owner's, so nothing else changed the branches meanwhile.
 */
export function afterRecordedRound(
  snapshot: TransactionSnapshot,
  plan: PhaseTwoPlan,
  results: readonly RoundCall[],
  decision: Extract<RoundDecision, { kind: 'continue' | 'turn' }>,
  now: number,
  leaseUntil: number,
): TransactionSnapshot {
  const done = plan.finalStatus;
  const byId = new Map(results.map((result) => [result.branchId, result]));
  const skipped = new Set(plan.skips.map((branch) => branch.branchId));
  const branches = snapshot.branches.map((branch): Branch => {
    if (skipped.has(branch.branchId)) return { ...branch, status: done, updatedAt: now };
    const result = byId.get(branch.branchId);
    if (!result) return branch;
    if (result.outcome !== 'success') return { ...branch, attempts: branch.attempts + 1, lastError: result.error, updatedAt: now };
    const completion = branch.completion ?? { at: now, op: result.op, attempt: result.attempt, httpStatus: result.httpStatus };
    return { ...branch, status: done, attempts: branch.attempts + 1, lastError: null, updatedAt: now, completion };
  });
  const turned = decision.kind === 'turn' ? { status: decision.to, reason: decision.reason } : {};
  return {
    transaction: { ...snapshot.transaction, ...turned, retryCount: 0, updatedAt: now, leaseUntil, nextRetryAt: leaseUntil },
    branches,
  };
}
