/**
 * Pure decisions for operator actions (admin API). Each says what to change,
 * or refuses with ILLEGAL_STATE where the action would break the protocol.
 * Nothing here touches participants: actions that need calls (retry,
 * force-abort) leave them to the engine.
 */
import { TransactionRefusedError } from './refusal.ts';
import { isTerminal, type BranchStatus, type GlobalStatus, type GlobalTransaction, type TransactionSnapshot } from './transaction.ts';

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

function refuse(txn: GlobalTransaction, why: string): never {
  throw new TransactionRefusedError('ILLEGAL_STATE', `transaction ${txn.gid} is ${txn.status}${txn.paused ? ' (paused)' : ''}: ${why}`, txn.gid, txn.status);
}

function requirePhaseTwo(txn: GlobalTransaction, action: string): void {
  if (isTerminal(txn.status)) refuse(txn, `it is finished; nothing to ${action}`);
  if (txn.status === 'trying') refuse(txn, `no decision is logged yet; only force-abort or close apply in the try phase`);
}

/** Retry now: the next phase-two round is due at once (the retry count is kept as history). */
export function decideRetryNow(txn: GlobalTransaction, now: number): OperatorChange {
  requirePhaseTwo(txn, 'retry');
  if (txn.paused) refuse(txn, 'retries are paused; resume it first');
  return { set: { nextRetryAt: now }, branches: [], summary: 'retry clock reset to now' };
}

export function decidePause(txn: GlobalTransaction): OperatorChange {
  requirePhaseTwo(txn, 'pause');
  if (txn.paused) refuse(txn, 'retries are already paused');
  return { set: { paused: true, nextRetryAt: null }, branches: [], summary: 'retries paused' };
}

export function decideResume(txn: GlobalTransaction, now: number): OperatorChange {
  // A finished transaction has nothing to resume; scheduling it would make recovery look at it forever.
  if (isTerminal(txn.status)) refuse(txn, 'it is finished; nothing to resume');
  if (!txn.paused) refuse(txn, 'retries are not paused');
  return { set: { paused: false, nextRetryAt: now }, branches: [], summary: 'retries resumed' };
}

/**
 * Force-abort is the initiator's abort done by an operator, so it is only
 * possible while trying: after the confirm decision it would break the
 * protocol, and after a cancel decision there is nothing left to force.
 * The abort itself (decision + cancels) is the engine's.
 */
export function decideForceAbort(txn: GlobalTransaction): void {
  if (txn.status === 'confirming' || txn.status === 'confirmed') refuse(txn, 'the confirm decision is logged and cannot be reversed');
  if (txn.status !== 'trying') refuse(txn, 'the cancel decision is already logged; nothing to force');
}

/**
 * Mark one branch done by hand (after the operator made the confirm or
 * cancel take effect some other way). If it was the last pending branch,
 * the transaction finishes.
 */
export function decideResolveBranch(snapshot: TransactionSnapshot, branchId: string, now: number): OperatorChange {
  const txn = snapshot.transaction;
  requirePhaseTwo(txn, 'resolve');
  const branch = snapshot.branches.find((b) => b.branchId === branchId);
  if (!branch) throw new TransactionRefusedError('NOT_FOUND', `transaction ${txn.gid} has no branch ${branchId}`, txn.gid, txn.status);
  const done: BranchStatus = txn.status === 'confirming' ? 'confirmed' : 'cancelled';
  if (branch.status === done) refuse(txn, `branch ${branchId} is already ${done}`);
  const stillPending = snapshot.branches.filter((b) => b.branchId !== branchId && b.status !== done);
  const finish: GlobalPatch =
    stillPending.length === 0 ? { status: done, finishedAt: now, nextRetryAt: null, paused: false, needsAttention: false, leaseOwner: null, leaseUntil: null } : {};
  return {
    set: finish,
    branches: [{ branchId, status: done }],
    summary: `branch ${branchId} marked ${done} by hand${stillPending.length === 0 ? `; transaction ${done}` : ''}`,
  };
}

/**
 * Last resort: end the transaction without further calls to participants.
 * A transaction in the try phase is closed as cancelled. Branches not done
 * stay as they are, so the record shows what was never confirmed/cancelled.
 */
export function decideClose(snapshot: TransactionSnapshot, now: number): OperatorChange {
  const txn = snapshot.transaction;
  if (isTerminal(txn.status)) refuse(txn, 'it is already finished');
  const status: GlobalStatus = txn.status === 'confirming' ? 'confirmed' : 'cancelled';
  const done: BranchStatus = status;
  const untouched = snapshot.branches.filter((b) => b.status !== done).map((b) => b.branchId);
  return {
    set: { status, finishedAt: now, nextRetryAt: null, paused: false, needsAttention: false, leaseOwner: null, leaseUntil: null },
    branches: [],
    summary: `closed as ${status} by an operator without calling participants${untouched.length ? `; branches never ${done}: ${untouched.join(', ')}` : ''}`,
  };
}
