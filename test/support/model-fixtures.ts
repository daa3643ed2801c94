/**
 * The coordinator's model in unit tests: a transaction and a branch with
 * every field set (override what a case is about), the words the API shows
 * for a TCC transaction (spelled out here, not read from the rules under
 * test), and the refusal a call throws.
 */
import { expect } from 'vitest';
import { TransactionRefusedError } from '../../coordinator/domain/refusal.ts';
import type { Branch, GlobalStatus, GlobalTransaction } from '../../coordinator/domain/transaction.ts';

/** What the API shows for each status of a TCC transaction. */
export const TCC_WORD: Record<GlobalStatus, string> = {
  open: 'trying',
  committing: 'confirming',
  'rolling-back': 'cancelling',
  committed: 'confirmed',
  'rolled-back': 'cancelled',
};

/** An open TCC transaction begun at `at`, with a deadline a minute later; `overrides` on top. */
export function transactionAt(at: number, overrides: Partial<GlobalTransaction> = {}): GlobalTransaction {
  return {
    gid: 'gid-1',
    mode: 'tcc',
    status: 'open',
    reason: null,
    caller: null,
    createdAt: at,
    updatedAt: at,
    deadlineAt: at + 60_000,
    decidedAt: null,
    decidedBy: null,
    finishedAt: null,
    retryCount: 0,
    nextRetryAt: at + 60_000,
    needsAttention: false,
    attentionReason: null,
    paused: false,
    leaseOwner: null,
    leaseUntil: null,
    checkUrl: null,
    notBefore: null,
    joinableBy: [],
    ...overrides,
  };
}

/** A pending TCC branch registered at `at` on http://bank.test; `overrides` on top. */
export function branchAt(at: number, branchId: string, overrides: Partial<Branch> = {}): Branch {
  return {
    gid: 'gid-1',
    branchId,
    operations: { confirm: `http://bank.test/${branchId}/confirm`, cancel: `http://bank.test/${branchId}/cancel` },
    participant: 'http://bank.test',
    payload: '{}',
    opPayloads: null,
    dependsOn: null,
    maxAttempts: null,
    callTimeoutMs: null,
    status: 'pending',
    attempts: 0,
    lastError: null,
    createdAt: at,
    updatedAt: at,
    registeredBy: null,
    completion: null,
    ...overrides,
  };
}

/** Runs `fn`, expects a TransactionRefusedError, returns it. */
export function refusalOf(fn: () => unknown): TransactionRefusedError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(TransactionRefusedError);
    return error as TransactionRefusedError;
  }
  throw new Error('expected a TransactionRefusedError, nothing was thrown');
}
