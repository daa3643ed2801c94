/**
 * Pure decisions for operator actions (admin API). Each says what to change,
 * or refuses with ILLEGAL_STATE where the action would break the protocol.
 * Nothing here touches participants: actions that need calls (retry,
 * force-abort) leave them to the engine.
 */
import type { ModeWords } from './mode-words.ts';
import { TransactionRefusedError } from './refusal.ts';
import {
  isPhaseTwo,
  isTerminal,
  OUTCOME_OF,
  type BranchStatus,
  type GlobalStatus,
  type GlobalTransaction,
  type PhaseTwoStatus,
  type TransactionSnapshot,
} from './transaction.ts';

export type OperatorAction = 'retry' | 'pause' | 'resume' | 'force-abort' | 'resolve-branch' | 'close';

/** Columns of the transaction an operator action may change. */
export interface GlobalPatch {
  status?: GlobalStatus;
  nextRetryAt?: number | null;
  paused?: boolean;
  finishedAt?: number;
  needsAttention?: boolean;
  leaseOwner?: null;
  leaseUntil?: null;
}

export interface OperatorChange {
  set: GlobalPatch;
  /** Branches marked done by hand. */
  branches: { branchId: string; status: BranchStatus }[];
  /** What the event history says about it. */
  summary: string;
}

function refuse(txn: GlobalTransaction, words: ModeWords, why: string): never {
  const status = words.status[txn.status];
  throw new TransactionRefusedError('ILLEGAL_STATE', `transaction ${txn.gid} is ${status}${txn.paused ? ' (paused)' : ''}: ${why}`, txn.gid, status);
}

/** The phase two the transaction is in; refuses when it is not in one. */
function requirePhaseTwo(txn: GlobalTransaction, words: ModeWords, action: string): PhaseTwoStatus {
  if (isTerminal(txn.status)) refuse(txn, words, `it is finished; nothing to ${action}`);
  if (!isPhaseTwo(txn.status)) refuse(txn, words, `no decision is logged yet: there is no phase two to ${action} while ${words.status.open}`);
  return txn.status;
}

/** Retry now: the next phase-two round is due at once (the retry count is kept as history). */
export function decideRetryNow(txn: GlobalTransaction, now: number, words: ModeWords): OperatorChange {
  requirePhaseTwo(txn, words, 'retry');
  if (txn.paused) refuse(txn, words, 'retries are paused; resume it first');
  return { set: { nextRetryAt: now }, branches: [], summary: 'retry clock reset to now' };
}

export function decidePause(txn: GlobalTransaction, words: ModeWords): OperatorChange {
  requirePhaseTwo(txn, words, 'pause');
  if (txn.paused) refuse(txn, words, 'retries are already paused');
  return { set: { paused: true, nextRetryAt: null }, branches: [], summary: 'retries paused' };
}

export function decideResume(txn: GlobalTransaction, now: number, words: ModeWords): OperatorChange {
  // A finished transaction has nothing to resume; scheduling it would make recovery look at it forever.
  if (isTerminal(txn.status)) refuse(txn, words, 'it is finished; nothing to resume');
  if (!txn.paused) refuse(txn, words, 'retries are not paused');
  return { set: { paused: false, nextRetryAt: now }, branches: [], summary: 'retries resumed' };
}

/**
 * Mark one branch done by hand (after the operator made its phase-two
 * operation take effect some other way). If it was the last pending branch,
 * the transaction finishes.
 */
export function decideResolveBranch(snapshot: TransactionSnapshot, branchId: string, now: number, words: ModeWords): OperatorChange {
  const txn = snapshot.transaction;
  const phaseTwo = requirePhaseTwo(txn, words, 'resolve');
  const branch = snapshot.branches.find((b) => b.branchId === branchId);
  if (!branch) throw new TransactionRefusedError('NOT_FOUND', `transaction ${txn.gid} has no branch ${branchId}`, txn.gid, words.status[txn.status]);
  const done: BranchStatus = OUTCOME_OF[phaseTwo];
  if (branch.status === done) refuse(txn, words, `branch ${branchId} is already ${words.branchStatus[done]}`);
  const stillPending = snapshot.branches.filter((b) => b.branchId !== branchId && b.status !== done);
  const finish: GlobalPatch =
    stillPending.length === 0
      ? { status: done, finishedAt: now, nextRetryAt: null, paused: false, needsAttention: false, leaseOwner: null, leaseUntil: null }
      : {};
  return {
    set: finish,
    branches: [{ branchId, status: done }],
    summary: `branch ${branchId} marked ${words.branchStatus[done]} by hand${stillPending.length === 0 ? `; transaction ${words.status[done]}` : ''}`,
  };
}

/**
 * Last resort: end the transaction without further calls to participants.
 * An open transaction is closed as rolled back. Branches not done stay as
 * they are, so the record shows what never took effect.
 */
export function decideClose(snapshot: TransactionSnapshot, now: number, words: ModeWords): OperatorChange {
  const txn = snapshot.transaction;
  if (isTerminal(txn.status)) refuse(txn, words, 'it is already finished');
  const status: GlobalStatus = txn.status === 'committing' ? 'committed' : 'rolled-back';
  const done: BranchStatus = status;
  const untouched = snapshot.branches.filter((b) => b.status !== done).map((b) => b.branchId);
  return {
    set: { status, finishedAt: now, nextRetryAt: null, paused: false, needsAttention: false, leaseOwner: null, leaseUntil: null },
    branches: [],
    summary: `closed as ${words.status[status]} by an operator without calling participants${untouched.length ? `; branches never ${words.branchStatus[done]}: ${untouched.join(', ')}` : ''}`,
  };
}
