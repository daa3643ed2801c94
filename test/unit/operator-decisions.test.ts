/**
 * Pure decisions of the operator actions (admin API): what each changes, and
 * where it is refused with ILLEGAL_STATE / NOT_FOUND (asserted on codes, never
 * on messages).
 */
import { describe, expect, it } from 'vitest';
import {
  decideClose,
  decideForceAbort,
  decidePause,
  decideResolveBranch,
  decideResume,
  decideRetryNow,
} from '../../coordinator/domain/operator-decisions.ts';
import { TransactionRefusedError, type RefusalCode } from '../../coordinator/domain/refusal.ts';
import type { Branch, BranchStatus, GlobalStatus, GlobalTransaction, TransactionSnapshot } from '../../coordinator/domain/transaction.ts';

const NOW = 1_700_000_000_000;
const STATUSES: GlobalStatus[] = ['trying', 'confirming', 'cancelling', 'confirmed', 'cancelled'];

function txn(status: GlobalStatus, overrides: Partial<GlobalTransaction> = {}): GlobalTransaction {
  return {
    gid: 'gid-1',
    mode: 'tcc',
    status,
    reason: null,
    caller: null,
    createdAt: NOW - 60_000,
    updatedAt: NOW - 1_000,
    deadlineAt: NOW + 60_000,
    decidedAt: status === 'trying' ? null : NOW - 30_000,
    finishedAt: status === 'confirmed' || status === 'cancelled' ? NOW - 1_000 : null,
    retryCount: 3,
    nextRetryAt: status === 'confirmed' || status === 'cancelled' ? null : NOW + 5_000,
    needsAttention: true,
    attentionReason: 'stuck',
    paused: false,
    leaseOwner: null,
    leaseUntil: null,
    ...overrides,
  };
}

function branch(branchId: string, status: BranchStatus): Branch {
  return {
    gid: 'gid-1',
    branchId,
    confirmUrl: `http://bank.test/${branchId}/confirm`,
    cancelUrl: `http://bank.test/${branchId}/cancel`,
    participant: 'http://bank.test',
    payload: '{}',
    status,
    attempts: 4,
    lastError: 'HTTP 500',
    createdAt: NOW - 60_000,
    updatedAt: NOW - 1_000,
  };
}

const snapshot = (transaction: GlobalTransaction, branches: Branch[]): TransactionSnapshot => ({ transaction, branches });

function refusedWith(fn: () => unknown): RefusalCode {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(TransactionRefusedError);
    return (error as TransactionRefusedError).code;
  }
  throw new Error('expected a refusal');
}

describe('retry now', () => {
  it('makes a phase-two transaction due now', () => {
    for (const status of ['confirming', 'cancelling'] as const) {
      expect(decideRetryNow(txn(status), NOW)).toEqual({ set: { nextRetryAt: NOW }, branches: [], summary: expect.any(String) });
    }
  });
  it('is refused while trying, when finished and when paused', () => {
    for (const status of ['trying', 'confirmed', 'cancelled'] as const) expect(refusedWith(() => decideRetryNow(txn(status), NOW))).toBe('ILLEGAL_STATE');
    expect(refusedWith(() => decideRetryNow(txn('confirming', { paused: true }), NOW))).toBe('ILLEGAL_STATE');
  });
});

describe('pause and resume', () => {
  it('pause takes a phase-two transaction off the schedule', () => {
    expect(decidePause(txn('cancelling')).set).toEqual({ paused: true, nextRetryAt: null });
  });
  it('pause is refused when already paused, while trying and when finished', () => {
    expect(refusedWith(() => decidePause(txn('confirming', { paused: true })))).toBe('ILLEGAL_STATE');
    for (const status of ['trying', 'confirmed', 'cancelled'] as const) expect(refusedWith(() => decidePause(txn(status)))).toBe('ILLEGAL_STATE');
  });
  it('resume makes a paused transaction due now', () => {
    expect(decideResume(txn('confirming', { paused: true, nextRetryAt: null }), NOW).set).toEqual({ paused: false, nextRetryAt: NOW });
  });
  it('resume is refused when not paused, and for a finished transaction even if still marked paused', () => {
    expect(refusedWith(() => decideResume(txn('confirming'), NOW))).toBe('ILLEGAL_STATE');
    // Scheduling a finished transaction would have recovery look at it forever.
    for (const status of ['confirmed', 'cancelled'] as const) {
      expect(refusedWith(() => decideResume(txn(status, { paused: true }), NOW))).toBe('ILLEGAL_STATE');
    }
  });
});

describe('force-abort', () => {
  it('is allowed only while trying', () => {
    expect(() => decideForceAbort(txn('trying'))).not.toThrow();
    for (const status of STATUSES.filter((s) => s !== 'trying')) {
      const error = (() => {
        try {
          decideForceAbort(txn(status));
        } catch (caught) {
          return caught as TransactionRefusedError;
        }
        throw new Error(`force-abort of a ${status} transaction was allowed`);
      })();
      expect(error).toMatchObject({ code: 'ILLEGAL_STATE', status });
    }
  });
});

describe('resolve a branch', () => {
  it('marks one branch done; the transaction stays open while others are pending', () => {
    const change = decideResolveBranch(snapshot(txn('confirming'), [branch('01', 'prepared'), branch('02', 'prepared')]), '01', NOW);
    expect(change.branches).toEqual([{ branchId: '01', status: 'confirmed' }]);
    expect(change.set).toEqual({});
  });
  it('resolving the last pending branch finishes the transaction (and clears flag, pause and lease)', () => {
    const change = decideResolveBranch(snapshot(txn('cancelling', { paused: true }), [branch('01', 'cancelled'), branch('02', 'prepared')]), '02', NOW);
    expect(change.branches).toEqual([{ branchId: '02', status: 'cancelled' }]);
    expect(change.set).toEqual({ status: 'cancelled', finishedAt: NOW, nextRetryAt: null, paused: false, needsAttention: false, leaseOwner: null, leaseUntil: null });
  });
  it('is refused for a done branch, outside phase two, and for an unknown branch (NOT_FOUND)', () => {
    const branches = [branch('01', 'confirmed'), branch('02', 'prepared')];
    expect(refusedWith(() => decideResolveBranch(snapshot(txn('confirming'), branches), '01', NOW))).toBe('ILLEGAL_STATE');
    for (const status of ['trying', 'confirmed', 'cancelled'] as const) {
      expect(refusedWith(() => decideResolveBranch(snapshot(txn(status), branches), '02', NOW))).toBe('ILLEGAL_STATE');
    }
    expect(refusedWith(() => decideResolveBranch(snapshot(txn('confirming'), branches), '99', NOW))).toBe('NOT_FOUND');
  });
});

describe('close', () => {
  it('ends an open transaction in the direction of its decision (a trying one as cancelled), touching no branch', () => {
    const expected: Record<string, GlobalStatus> = { trying: 'cancelled', confirming: 'confirmed', cancelling: 'cancelled' };
    for (const [from, to] of Object.entries(expected)) {
      const change = decideClose(snapshot(txn(from as GlobalStatus, { paused: true }), [branch('01', 'prepared')]), NOW);
      expect(change.set).toEqual({ status: to, finishedAt: NOW, nextRetryAt: null, paused: false, needsAttention: false, leaseOwner: null, leaseUntil: null });
      expect(change.branches).toEqual([]);
    }
  });
  it('is refused for a finished transaction', () => {
    for (const status of ['confirmed', 'cancelled'] as const) expect(refusedWith(() => decideClose(snapshot(txn(status), []), NOW))).toBe('ILLEGAL_STATE');
  });
});
