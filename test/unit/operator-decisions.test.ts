/**
 * Pure decisions of the operator actions (admin API): what each changes, and
 * where it is refused with ILLEGAL_STATE / NOT_FOUND (asserted on codes, never
 * on messages; a refusal's `status` is the one the API shows, in the mode's
 * words). Force-abort is a mode's rule: test/unit/tcc-rules.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { decideClose, decidePause, decideResolveBranch, decideResume, decideRetryNow } from '../../coordinator/domain/operator-decisions.ts';
import type { RefusalCode } from '../../coordinator/domain/refusal.ts';
import type { Branch, BranchStatus, GlobalStatus, GlobalTransaction, TransactionSnapshot } from '../../coordinator/domain/transaction.ts';
import { TCC_WORDS } from '../../coordinator/modes/tcc/tcc-words.ts';
import { branchAt, refusalOf, TCC_WORD, transactionAt } from '../support/model-fixtures.ts';

const NOW = 1_700_000_000_000;
const words = TCC_WORDS;
const WORD = TCC_WORD;
const finished = (status: GlobalStatus) => status === 'committed' || status === 'rolled-back';

function txn(status: GlobalStatus, overrides: Partial<GlobalTransaction> = {}): GlobalTransaction {
  return transactionAt(NOW - 60_000, {
    status,
    updatedAt: NOW - 1_000,
    deadlineAt: NOW + 60_000,
    decidedAt: status === 'open' ? null : NOW - 30_000,
    decidedBy: status === 'open' ? null : 'shop',
    finishedAt: finished(status) ? NOW - 1_000 : null,
    retryCount: 3,
    nextRetryAt: finished(status) ? null : NOW + 5_000,
    needsAttention: true,
    attentionReason: 'stuck',
    ...overrides,
  });
}

function branch(branchId: string, status: BranchStatus): Branch {
  return branchAt(NOW - 60_000, branchId, {
    status,
    attempts: 4,
    lastError: 'HTTP 500',
    updatedAt: NOW - 1_000,
    completion: status === 'pending' ? null : { at: NOW - 2_000, op: status === 'committed' ? 'confirm' : 'cancel', attempt: 4, httpStatus: 200 },
  });
}

const snapshot = (transaction: GlobalTransaction, branches: Branch[]): TransactionSnapshot => ({ transaction, branches });

const refusal = refusalOf;

const refusedWith = (fn: () => unknown): RefusalCode => refusal(fn).code;

describe('retry now', () => {
  it('makes a phase-two transaction due now', () => {
    for (const status of ['committing', 'rolling-back'] as const) {
      expect(decideRetryNow(txn(status), NOW, words)).toEqual({ set: { nextRetryAt: NOW }, branches: [], summary: expect.any(String) });
    }
  });
  it('is refused while open, when finished and when paused, carrying the status word', () => {
    for (const status of ['open', 'committed', 'rolled-back'] as const) {
      expect(refusal(() => decideRetryNow(txn(status), NOW, words))).toMatchObject({ code: 'ILLEGAL_STATE', status: WORD[status], gid: 'gid-1' });
    }
    expect(refusal(() => decideRetryNow(txn('committing', { paused: true }), NOW, words))).toMatchObject({ code: 'ILLEGAL_STATE', status: 'confirming' });
  });
});

describe('pause and resume', () => {
  it('pause takes a phase-two transaction off the schedule', () => {
    expect(decidePause(txn('rolling-back'), words).set).toEqual({ paused: true, nextRetryAt: null });
  });
  it('pause is refused when already paused, while open and when finished', () => {
    expect(refusedWith(() => decidePause(txn('committing', { paused: true }), words))).toBe('ILLEGAL_STATE');
    for (const status of ['open', 'committed', 'rolled-back'] as const) {
      expect(refusal(() => decidePause(txn(status), words))).toMatchObject({ code: 'ILLEGAL_STATE', status: WORD[status] });
    }
  });
  it('resume makes a paused transaction due now', () => {
    expect(decideResume(txn('committing', { paused: true, nextRetryAt: null }), NOW, words).set).toEqual({ paused: false, nextRetryAt: NOW });
  });
  it('resume is refused when not paused, and for a finished transaction even if still marked paused', () => {
    expect(refusedWith(() => decideResume(txn('committing'), NOW, words))).toBe('ILLEGAL_STATE');
    // Scheduling a finished transaction would have recovery look at it forever.
    for (const status of ['committed', 'rolled-back'] as const) {
      expect(refusal(() => decideResume(txn(status, { paused: true }), NOW, words))).toMatchObject({ code: 'ILLEGAL_STATE', status: WORD[status] });
    }
  });
});

describe('resolve a branch', () => {
  it('marks one branch done; the transaction stays open while others are pending', () => {
    const change = decideResolveBranch(snapshot(txn('committing'), [branch('01', 'pending'), branch('02', 'pending')]), '01', NOW, words);
    expect(change.branches).toEqual([{ branchId: '01', status: 'committed' }]);
    expect(change.set).toEqual({});
    // The history line speaks the mode's words.
    expect(change.summary).toContain('confirmed');
    expect(change.summary).not.toContain('committed');
  });
  it('resolving the last pending branch finishes the transaction (and clears flag, pause and lease)', () => {
    const change = decideResolveBranch(
      snapshot(txn('rolling-back', { paused: true }), [branch('01', 'rolled-back'), branch('02', 'pending')]),
      '02',
      NOW,
      words,
    );
    expect(change.branches).toEqual([{ branchId: '02', status: 'rolled-back' }]);
    expect(change.summary).toContain('cancelled');
    expect(change.summary).not.toContain('rolled-back');
    expect(change.set).toEqual({
      status: 'rolled-back',
      finishedAt: NOW,
      nextRetryAt: null,
      paused: false,
      needsAttention: false,
      leaseOwner: null,
      leaseUntil: null,
    });
  });
  it('is refused for a done branch, outside phase two, and for an unknown branch (NOT_FOUND)', () => {
    const branches = [branch('01', 'committed'), branch('02', 'pending')];
    expect(refusal(() => decideResolveBranch(snapshot(txn('committing'), branches), '01', NOW, words))).toMatchObject({
      code: 'ILLEGAL_STATE',
      status: 'confirming',
    });
    for (const status of ['open', 'committed', 'rolled-back'] as const) {
      expect(refusal(() => decideResolveBranch(snapshot(txn(status), branches), '02', NOW, words))).toMatchObject({
        code: 'ILLEGAL_STATE',
        status: WORD[status],
      });
    }
    expect(refusal(() => decideResolveBranch(snapshot(txn('committing'), branches), '99', NOW, words))).toMatchObject({
      code: 'NOT_FOUND',
      status: 'confirming',
    });
  });
});

describe('close', () => {
  it('ends an unfinished transaction in the direction of its decision (an open one as rolled back), touching no branch', () => {
    const expected: Record<string, GlobalStatus> = { open: 'rolled-back', committing: 'committed', 'rolling-back': 'rolled-back' };
    for (const [from, to] of Object.entries(expected)) {
      const change = decideClose(snapshot(txn(from as GlobalStatus, { paused: true }), [branch('01', 'pending')]), NOW, words);
      expect(change.set).toEqual({ status: to, finishedAt: NOW, nextRetryAt: null, paused: false, needsAttention: false, leaseOwner: null, leaseUntil: null });
      expect(change.branches).toEqual([]);
      expect(change.summary).toContain(WORD[to]);
    }
  });
  it('is refused for a finished transaction', () => {
    for (const status of ['committed', 'rolled-back'] as const) {
      expect(refusal(() => decideClose(snapshot(txn(status), []), NOW, words))).toMatchObject({ code: 'ILLEGAL_STATE', status: WORD[status] });
    }
  });
});
