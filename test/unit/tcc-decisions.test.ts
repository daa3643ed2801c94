/**
 * The pure TCC state machine: every legal and illegal
 * transition, asserted on refusal codes and returned values, never on messages.
 */
import { describe, expect, it } from 'vitest';
import type { RetryPolicy } from '../../coordinator/domain/backoff.ts';
import { TransactionRefusedError, type RefusalCode } from '../../coordinator/domain/refusal.ts';
import {
  checkRegistration,
  decideAbort,
  decideAfterRound,
  decideRecovery,
  decideSubmit,
  distinctRegistrations,
  planPhaseTwo,
  type BranchCallResult,
  type PhaseTwoPlan,
} from '../../coordinator/domain/tcc-decisions.ts';
import type {
  Branch,
  BranchRegistration,
  BranchStatus,
  GlobalStatus,
  GlobalTransaction,
} from '../../coordinator/domain/transaction.ts';

const T0 = 1_700_000_000_000;
const DEADLINE = T0 + 60_000;

function txn(overrides: Partial<GlobalTransaction> = {}): GlobalTransaction {
  return {
    gid: 'gid-1',
    mode: 'tcc',
    status: 'trying',
    reason: null,
    caller: null,
    createdAt: T0,
    updatedAt: T0,
    deadlineAt: DEADLINE,
    decidedAt: null,
    finishedAt: null,
    retryCount: 0,
    nextRetryAt: DEADLINE,
    needsAttention: false,
    attentionReason: null,
    paused: false,
    leaseOwner: null,
    leaseUntil: null,
    ...overrides,
  };
}

function reg(branchId: string, overrides: Partial<BranchRegistration> = {}): BranchRegistration {
  return {
    branchId,
    confirmUrl: `http://bank.test/${branchId}/confirm`,
    cancelUrl: `http://bank.test/${branchId}/cancel`,
    payload: '{"amount":1}',
    ...overrides,
  };
}

function branch(branchId: string, overrides: Partial<Branch> = {}): Branch {
  return {
    gid: 'gid-1',
    ...reg(branchId),
    participant: 'http://bank.test',
    status: 'prepared',
    attempts: 0,
    lastError: null,
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  };
}

/** Runs `fn`, expects a TransactionRefusedError, returns it. */
function refusal(fn: () => unknown): TransactionRefusedError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(TransactionRefusedError);
    return error as TransactionRefusedError;
  }
  throw new Error('expected a TransactionRefusedError, nothing was thrown');
}

function expectRefused(fn: () => unknown, code: RefusalCode): TransactionRefusedError {
  const error = refusal(fn);
  expect(error.code).toBe(code);
  return error;
}

describe('decideSubmit', () => {
  it('trying before the deadline → decide confirming', () => {
    expect(decideSubmit(txn(), T0)).toEqual({ kind: 'decide', to: 'confirming' });
    expect(decideSubmit(txn(), DEADLINE - 1)).toEqual({ kind: 'decide', to: 'confirming' });
  });

  it('trying at or after the deadline → DEADLINE_PASSED with gid and the status it moves to', () => {
    const atDeadline = expectRefused(() => decideSubmit(txn(), DEADLINE), 'DEADLINE_PASSED');
    expect(atDeadline.gid).toBe('gid-1');
    expect(atDeadline.status).toBe('cancelling');
    expectRefused(() => decideSubmit(txn(), DEADLINE + 3_600_000), 'DEADLINE_PASSED');
  });

  it.each(['confirming', 'confirmed'] as const)('%s → already, with that status (re-send)', (status) => {
    expect(decideSubmit(txn({ status }), T0)).toEqual({ kind: 'already', status });
    // The deadline only matters while trying.
    expect(decideSubmit(txn({ status }), DEADLINE + 1)).toEqual({ kind: 'already', status });
  });

  it.each(['cancelling', 'cancelled'] as const)('%s, aborted at or after the deadline → DEADLINE_PASSED carrying the status, whatever the reason says', (status) => {
    for (const decidedAt of [DEADLINE, DEADLINE + 5_000]) {
      for (const reason of ['timeout', 'deadline passed before submit', 'anything', null]) {
        const error = expectRefused(() => decideSubmit(txn({ status, reason, decidedAt }), DEADLINE + 10_000), 'DEADLINE_PASSED');
        expect(error.status).toBe(status);
      }
    }
  });

  it.each(['cancelling', 'cancelled'] as const)('%s, aborted before the deadline (or before the log kept decision times) → ILLEGAL_STATE carrying the status', (status) => {
    expectRefused(() => decideSubmit(txn({ status, reason: 'timeout', decidedAt: DEADLINE - 1 }), DEADLINE + 1), 'ILLEGAL_STATE');
    const error = expectRefused(() => decideSubmit(txn({ status, reason: 'timeout' }), T0), 'ILLEGAL_STATE');
    expect(error.status).toBe(status);
    expect(error.gid).toBe('gid-1');
    expectRefused(() => decideSubmit(txn({ status, reason: null }), DEADLINE + 1), 'ILLEGAL_STATE');
  });
});

describe('decideAbort', () => {
  it('trying → decide cancelling, before and after the deadline', () => {
    expect(decideAbort(txn())).toEqual({ kind: 'decide', to: 'cancelling' });
    expect(decideAbort(txn({ deadlineAt: T0 - 1 }))).toEqual({ kind: 'decide', to: 'cancelling' });
  });

  it.each(['cancelling', 'cancelled'] as const)('%s → already, with that status (re-send)', (status) => {
    expect(decideAbort(txn({ status }))).toEqual({ kind: 'already', status });
  });

  it.each(['confirming', 'confirmed'] as const)('%s → ILLEGAL_STATE: the confirm decision cannot be reversed', (status) => {
    const error = expectRefused(() => decideAbort(txn({ status })), 'ILLEGAL_STATE');
    expect(error.status).toBe(status);
  });
});

describe('distinctRegistrations', () => {
  it('keeps distinct branches in order', () => {
    expect(distinctRegistrations('g', [reg('a'), reg('b'), reg('c')]).map((r) => r.branchId)).toEqual(['a', 'b', 'c']);
  });

  it('counts an equal duplicate once', () => {
    const result = distinctRegistrations('g', [reg('a'), reg('b'), reg('a')]);
    expect(result).toEqual([reg('a'), reg('b')]);
  });

  it.each([
    ['confirmUrl', { confirmUrl: 'http://other.test/confirm' }],
    ['cancelUrl', { cancelUrl: 'http://other.test/cancel' }],
    ['payload', { payload: '{"amount":2}' }],
  ] as const)('refuses a duplicate id with another %s → BRANCH_CONFLICT', (_field, change) => {
    const error = expectRefused(() => distinctRegistrations('g', [reg('a'), reg('a', change)]), 'BRANCH_CONFLICT');
    expect(error.gid).toBe('g');
  });

  it('returns [] for no registrations', () => {
    expect(distinctRegistrations('g', [])).toEqual([]);
  });
});

describe('checkRegistration', () => {
  it('accepts a new branch while trying before the deadline', () => {
    expect(checkRegistration(txn(), [], [reg('a')], T0)).toEqual([reg('a')]);
  });

  it('returns only the new branches when some are already registered', () => {
    const result = checkRegistration(txn(), [branch('a')], [reg('a'), reg('b')], T0);
    expect(result).toEqual([reg('b')]);
  });

  it('refuses a new branch at or after the deadline → DEADLINE_PASSED', () => {
    expectRefused(() => checkRegistration(txn(), [], [reg('a')], DEADLINE), 'DEADLINE_PASSED');
    expectRefused(() => checkRegistration(txn(), [branch('a')], [reg('a'), reg('b')], DEADLINE + 1), 'DEADLINE_PASSED');
  });

  it('accepts a new branch one millisecond before the deadline', () => {
    expect(checkRegistration(txn(), [], [reg('a')], DEADLINE - 1)).toEqual([reg('a')]);
  });

  it.each(['confirming', 'cancelling', 'confirmed', 'cancelled'] as const)(
    'refuses a new branch when %s → ILLEGAL_STATE',
    (status) => {
      const error = expectRefused(() => checkRegistration(txn({ status }), [branch('a')], [reg('b')], T0), 'ILLEGAL_STATE');
      expect(error.status).toBe(status);
      // A mix of an equal re-send and a new branch is still refused as a whole.
      expectRefused(() => checkRegistration(txn({ status }), [branch('a')], [reg('a'), reg('b')], T0), 'ILLEGAL_STATE');
    },
  );

  it.each(['trying', 'confirming', 'cancelling', 'confirmed', 'cancelled'] as const)(
    'an equal re-send of a registered branch is idempotent when %s: nothing to insert',
    (status) => {
      expect(checkRegistration(txn({ status }), [branch('a'), branch('b')], [reg('a')], T0)).toEqual([]);
      expect(checkRegistration(txn({ status }), [branch('a'), branch('b')], [reg('b'), reg('a')], DEADLINE + 1)).toEqual([]);
    },
  );

  it('an equal re-send matches a branch whatever its phase-two state', () => {
    const done = branch('a', { status: 'confirmed', attempts: 3, lastError: 'x', updatedAt: T0 + 5 });
    expect(checkRegistration(txn({ status: 'confirmed' }), [done], [reg('a')], T0)).toEqual([]);
  });

  it.each([
    ['confirmUrl', { confirmUrl: 'http://other.test/confirm' }],
    ['cancelUrl', { cancelUrl: 'http://other.test/cancel' }],
    ['payload', { payload: '{"amount":999}' }],
  ] as const)('same branch id with another %s → BRANCH_CONFLICT', (_field, change) => {
    expectRefused(() => checkRegistration(txn(), [branch('a')], [reg('a', change)], T0), 'BRANCH_CONFLICT');
  });

  it.each(['trying', 'confirming', 'cancelled'] as const)(
    'a conflicting re-send is BRANCH_CONFLICT (not ILLEGAL_STATE) when %s',
    (status) => {
      expectRefused(
        () => checkRegistration(txn({ status }), [branch('a')], [reg('a', { payload: '{}' })], T0),
        'BRANCH_CONFLICT',
      );
    },
  );

  it('duplicate ids inside one request: equal → inserted once', () => {
    expect(checkRegistration(txn(), [], [reg('a'), reg('a'), reg('b')], T0)).toEqual([reg('a'), reg('b')]);
  });

  it('duplicate ids inside one request: different → BRANCH_CONFLICT', () => {
    expectRefused(() => checkRegistration(txn(), [], [reg('a'), reg('a', { cancelUrl: 'http://x.test/c' })], T0), 'BRANCH_CONFLICT');
  });

  it('an empty request while not trying is a no-op', () => {
    expect(checkRegistration(txn({ status: 'cancelled' }), [], [], T0)).toEqual([]);
  });
});

describe('decideRecovery', () => {
  it('trying before the deadline → nothing', () => {
    expect(decideRecovery(txn(), DEADLINE - 1)).toBe('nothing');
  });

  it('trying at or after the deadline → abort-timeout', () => {
    expect(decideRecovery(txn(), DEADLINE)).toBe('abort-timeout');
    expect(decideRecovery(txn(), DEADLINE + 10_000)).toBe('abort-timeout');
  });

  it.each(['confirming', 'cancelling'] as const)('%s → run-phase-two, before and after the deadline', (status) => {
    expect(decideRecovery(txn({ status }), T0)).toBe('run-phase-two');
    expect(decideRecovery(txn({ status }), DEADLINE + 1)).toBe('run-phase-two');
  });

  it.each(['confirmed', 'cancelled'] as const)('%s → nothing', (status) => {
    expect(decideRecovery(txn({ status }), T0)).toBe('nothing');
    expect(decideRecovery(txn({ status }), DEADLINE + 1)).toBe('nothing');
  });
});

describe('planPhaseTwo', () => {
  const mixed = (done: BranchStatus): Branch[] => [branch('a', { status: done }), branch('b'), branch('c')];

  it('confirming → confirm the branches not yet confirmed, at their confirm URLs', () => {
    const plan = planPhaseTwo({ transaction: txn({ status: 'confirming' }), branches: mixed('confirmed') });
    expect(plan).not.toBeNull();
    expect(plan?.op).toBe('confirm');
    expect(plan?.finalStatus).toBe('confirmed');
    expect(plan?.calls.map((c) => [c.branch.branchId, c.url])).toEqual([
      ['b', 'http://bank.test/b/confirm'],
      ['c', 'http://bank.test/c/confirm'],
    ]);
  });

  it('cancelling → cancel the branches not yet cancelled, at their cancel URLs', () => {
    const plan = planPhaseTwo({ transaction: txn({ status: 'cancelling' }), branches: mixed('cancelled') });
    expect(plan?.op).toBe('cancel');
    expect(plan?.finalStatus).toBe('cancelled');
    expect(plan?.calls.map((c) => [c.branch.branchId, c.url])).toEqual([
      ['b', 'http://bank.test/b/cancel'],
      ['c', 'http://bank.test/c/cancel'],
    ]);
  });

  it('passes the branch itself (payload and attempts) to the call', () => {
    const b = branch('b', { payload: '{"x":1}', attempts: 4 });
    const plan = planPhaseTwo({ transaction: txn({ status: 'confirming' }), branches: [b] });
    expect(plan?.calls[0]?.branch).toBe(b);
  });

  it('every branch already done → a plan with no calls', () => {
    const plan = planPhaseTwo({ transaction: txn({ status: 'confirming' }), branches: [branch('a', { status: 'confirmed' })] });
    expect(plan).toEqual({ op: 'confirm', finalStatus: 'confirmed', calls: [] });
  });

  it('no branches at all → a plan with no calls', () => {
    expect(planPhaseTwo({ transaction: txn({ status: 'cancelling' }), branches: [] })).toEqual({
      op: 'cancel',
      finalStatus: 'cancelled',
      calls: [],
    });
  });

  it.each(['trying', 'confirmed', 'cancelled'] as const)('%s → null', (status: GlobalStatus) => {
    expect(planPhaseTwo({ transaction: txn({ status }), branches: [branch('a')] })).toBeNull();
  });
});

describe('decideAfterRound', () => {
  const policy: RetryPolicy = { baseDelayMs: 1_000, maxDelayMs: 60_000, attentionAfterRetries: 5, attentionAfterMs: 600_000 };
  const NOW = T0 + 100_000;
  /** random() = 1 gives the ceiling of the jitter range, so delays are exact. */
  const top = () => 1;

  const confirmPlan = (ids: string[]): PhaseTwoPlan => ({
    op: 'confirm',
    finalStatus: 'confirmed',
    calls: ids.map((id) => ({ branch: branch(id), url: `http://bank.test/${id}/confirm` })),
  });
  const cancelPlan = (ids: string[]): PhaseTwoPlan => ({
    op: 'cancel',
    finalStatus: 'cancelled',
    calls: ids.map((id) => ({ branch: branch(id), url: `http://bank.test/${id}/cancel` })),
  });
  const result = (branchId: string, outcome: BranchCallResult['outcome'], httpStatus: number | null): BranchCallResult => ({
    branchId,
    outcome,
    httpStatus,
    error: outcome === 'success' ? null : 'boom',
  });

  it('all success → finish confirmed when confirming', () => {
    const decision = decideAfterRound(
      txn({ status: 'confirming' }),
      confirmPlan(['a', 'b']),
      [result('a', 'success', 200), result('b', 'success', 201)],
      NOW,
      policy,
      top,
    );
    expect(decision).toEqual({ kind: 'finish', status: 'confirmed' });
  });

  it('all success → finish cancelled when cancelling', () => {
    const decision = decideAfterRound(txn({ status: 'cancelling' }), cancelPlan(['a']), [result('a', 'success', 200)], NOW, policy, top);
    expect(decision).toEqual({ kind: 'finish', status: 'cancelled' });
  });

  it('zero calls → finish', () => {
    expect(decideAfterRound(txn({ status: 'confirming' }), confirmPlan([]), [], NOW, policy, top)).toEqual({
      kind: 'finish',
      status: 'confirmed',
    });
    expect(decideAfterRound(txn({ status: 'cancelling' }), cancelPlan([]), [], NOW, policy, top)).toEqual({
      kind: 'finish',
      status: 'cancelled',
    });
  });

  it('unknown → retryCount + 1 and a backoff delay from the new count', () => {
    const decision = decideAfterRound(
      txn({ status: 'confirming', retryCount: 2 }),
      confirmPlan(['a', 'b']),
      [result('a', 'success', 200), result('b', 'unknown', 500)],
      NOW,
      policy,
      top,
    );
    // retry 3: base * 2^2 = 4000 at random()=1.
    expect(decision).toEqual({ kind: 'retry', retryCount: 3, nextRetryAt: NOW + 4_000, needsAttention: false, attentionReason: null });
  });

  it('unknown on the first round → retry 1 at the base delay, jitter down to half', () => {
    const decision = decideAfterRound(txn({ status: 'cancelling' }), cancelPlan(['a']), [result('a', 'unknown', null)], NOW, policy, () => 0);
    expect(decision).toMatchObject({ kind: 'retry', retryCount: 1, nextRetryAt: NOW + 500 });
  });

  it('unknown mixed with ongoing → backoff (the unknown wins)', () => {
    const decision = decideAfterRound(
      txn({ status: 'confirming', retryCount: 1 }),
      confirmPlan(['a', 'b']),
      [result('a', 'ongoing', 425), result('b', 'unknown', 503)],
      NOW,
      policy,
      top,
    );
    expect(decision).toMatchObject({ kind: 'retry', retryCount: 2, nextRetryAt: NOW + 2_000 });
  });

  it('only ongoing → same retryCount and the base interval, whatever the count', () => {
    const decision = decideAfterRound(
      txn({ status: 'confirming', retryCount: 3 }),
      confirmPlan(['a', 'b']),
      [result('a', 'ongoing', 425), result('b', 'success', 200)],
      NOW,
      policy,
      () => 0,
    );
    expect(decision).toEqual({ kind: 'retry', retryCount: 3, nextRetryAt: NOW + 1_000, needsAttention: false, attentionReason: null });
  });

  it('failure (409) → needs attention at once, with a reason naming the branch, op and status', () => {
    const decision = decideAfterRound(
      txn({ status: 'confirming' }),
      confirmPlan(['a', 'b']),
      [result('a', 'success', 200), result('b-refuser', 'failure', 409)],
      NOW,
      policy,
      top,
    );
    expect(decision.kind).toBe('retry');
    if (decision.kind !== 'retry') return;
    expect(decision.retryCount).toBe(1);
    expect(decision.nextRetryAt).toBe(NOW + 1_000);
    expect(decision.needsAttention).toBe(true);
    expect(decision.attentionReason).toContain('b-refuser');
    expect(decision.attentionReason).toContain('confirm');
    expect(decision.attentionReason).toContain('409');
    expect(decision.attentionReason).not.toContain('a refused');
  });

  it('failure on cancel names the cancel op', () => {
    const decision = decideAfterRound(txn({ status: 'cancelling' }), cancelPlan(['x']), [result('x', 'failure', 409)], NOW, policy, top);
    expect(decision).toMatchObject({ kind: 'retry', needsAttention: true });
    if (decision.kind === 'retry') expect(decision.attentionReason).toMatch(/\bx\b.*cancel/);
  });

  it('the same branch refusing again does not raise a new reason (one alert, not one per round)', () => {
    const first = decideAfterRound(txn({ status: 'confirming' }), confirmPlan(['a']), [result('a', 'failure', 409)], NOW, policy, top);
    if (first.kind !== 'retry' || first.attentionReason === null) throw new Error('expected a retry raising attention');
    const again = decideAfterRound(
      txn({ status: 'confirming', retryCount: first.retryCount, needsAttention: true, attentionReason: first.attentionReason }),
      confirmPlan(['a']),
      [result('a', 'failure', 409)],
      NOW,
      policy,
      top,
    );
    expect(again).toEqual({ kind: 'retry', retryCount: 2, nextRetryAt: NOW + 2_000, needsAttention: true, attentionReason: null });
  });

  it('a refusal after attention was raised for another reason raises the new reason', () => {
    const decision = decideAfterRound(
      txn({ status: 'confirming', retryCount: 6, needsAttention: true, attentionReason: 'phase two still incomplete after 5 retries' }),
      confirmPlan(['a']),
      [result('a', 'failure', 409)],
      NOW,
      policy,
      top,
    );
    expect(decision).toMatchObject({ kind: 'retry', retryCount: 7, needsAttention: true });
    if (decision.kind === 'retry') expect(decision.attentionReason).toContain('a refused confirm');
  });

  it('failure alongside ongoing still counts as a failed round (backoff grows)', () => {
    const decision = decideAfterRound(
      txn({ status: 'confirming', retryCount: 1 }),
      confirmPlan(['a', 'b']),
      [result('a', 'ongoing', 425), result('b', 'failure', 409)],
      NOW,
      policy,
      top,
    );
    expect(decision).toMatchObject({ kind: 'retry', retryCount: 2, nextRetryAt: NOW + 2_000, needsAttention: true });
  });

  it('below the retry budget → no attention', () => {
    const decision = decideAfterRound(
      txn({ status: 'confirming', retryCount: policy.attentionAfterRetries - 2 }),
      confirmPlan(['a']),
      [result('a', 'unknown', 500)],
      NOW,
      policy,
      top,
    );
    expect(decision).toMatchObject({ kind: 'retry', retryCount: policy.attentionAfterRetries - 1, needsAttention: false, attentionReason: null });
  });

  it('reaching the retry budget → attention with a reason', () => {
    const decision = decideAfterRound(
      txn({ status: 'confirming', retryCount: policy.attentionAfterRetries - 1 }),
      confirmPlan(['a']),
      [result('a', 'unknown', 500)],
      NOW,
      policy,
      top,
    );
    expect(decision.kind).toBe('retry');
    if (decision.kind !== 'retry') return;
    expect(decision.retryCount).toBe(policy.attentionAfterRetries);
    expect(decision.needsAttention).toBe(true);
    expect(decision.attentionReason).toContain(String(policy.attentionAfterRetries));
    // 1000 * 2^4 = 16000, below the cap.
    expect(decision.nextRetryAt).toBe(NOW + 16_000);
  });

  describe('age of the decision (attentionAfterMs)', () => {
    const DECIDED = NOW - 100_000;
    const aged = (ageMs: number, overrides: Parameters<typeof txn>[0] = {}) =>
      txn({ status: 'confirming', createdAt: DECIDED - 5_000, decidedAt: NOW - ageMs, ...overrides });

    it('ongoing forever: no attention before the age, the base interval throughout', () => {
      const decision = decideAfterRound(aged(policy.attentionAfterMs - 1), confirmPlan(['a']), [result('a', 'ongoing', 425)], NOW, policy, top);
      expect(decision).toEqual({ kind: 'retry', retryCount: 0, nextRetryAt: NOW + policy.baseDelayMs, needsAttention: false, attentionReason: null });
    });

    it('ongoing forever: attention once the decision is that old, naming the pending branch; the interval stays the base', () => {
      const decision = decideAfterRound(
        aged(policy.attentionAfterMs),
        confirmPlan(['a', 'slow']),
        [result('a', 'success', 200), result('slow', 'ongoing', 425)],
        NOW,
        policy,
        top,
      );
      expect(decision).toMatchObject({ kind: 'retry', retryCount: 0, nextRetryAt: NOW + policy.baseDelayMs, needsAttention: true });
      if (decision.kind !== 'retry') return;
      expect(decision.attentionReason).toContain(`${policy.attentionAfterMs / 1000} s after the confirm decision`);
      expect(decision.attentionReason).toContain('branch slow: ongoing (HTTP 425)');
      expect(decision.attentionReason).not.toContain('branch a');
    });

    it('applies to rounds failing below the retry budget too (cancel named)', () => {
      const decision = decideAfterRound(
        aged(policy.attentionAfterMs + 1, { status: 'cancelling', retryCount: 1 }),
        cancelPlan(['x']),
        [result('x', 'unknown', null)],
        NOW,
        policy,
        top,
      );
      expect(decision).toMatchObject({ kind: 'retry', retryCount: 2, needsAttention: true });
      if (decision.kind === 'retry') expect(decision.attentionReason).toMatch(/after the cancel decision \(branch x: unknown\)$/);
    });

    it('raised once: a flagged transaction gets no new reason from its age', () => {
      const decision = decideAfterRound(
        aged(policy.attentionAfterMs * 3, { needsAttention: true, attentionReason: 'earlier' }),
        confirmPlan(['a']),
        [result('a', 'ongoing', 425)],
        NOW,
        policy,
        top,
      );
      expect(decision).toEqual({ kind: 'retry', retryCount: 0, nextRetryAt: NOW + policy.baseDelayMs, needsAttention: true, attentionReason: null });
    });

    it('a decision time unknown to the log (decided before it was kept) counts from the creation', () => {
      const old = txn({ status: 'confirming', createdAt: NOW - policy.attentionAfterMs, decidedAt: null });
      const decision = decideAfterRound(old, confirmPlan(['a']), [result('a', 'ongoing', 425)], NOW, policy, top);
      expect(decision).toMatchObject({ kind: 'retry', needsAttention: true });
      const young = txn({ status: 'confirming', createdAt: NOW - policy.attentionAfterMs + 1, decidedAt: null });
      expect(decideAfterRound(young, confirmPlan(['a']), [result('a', 'ongoing', 425)], NOW, policy, top)).toMatchObject({ needsAttention: false });
    });

    it('many pending branches: the reason names a few and counts the rest', () => {
      const names = ['b1', 'b2', 'b3', 'b4', 'b5'];
      const decision = decideAfterRound(aged(policy.attentionAfterMs), confirmPlan(names), names.map((n) => result(n, 'ongoing', 425)), NOW, policy, top);
      if (decision.kind !== 'retry') throw new Error('expected a retry');
      expect(decision.attentionReason).toContain('branch b3: ongoing');
      expect(decision.attentionReason).not.toContain('branch b4');
      expect(decision.attentionReason).toContain('and 2 more');
    });

    it('a finished round finishes whatever its age', () => {
      expect(decideAfterRound(aged(policy.attentionAfterMs * 10), confirmPlan(['a']), [result('a', 'success', 200)], NOW, policy, top)).toEqual({
        kind: 'finish',
        status: 'confirmed',
      });
    });
  });

  it('attention already set stays set, without a new reason, on later unknown rounds', () => {
    const decision = decideAfterRound(
      txn({ status: 'confirming', retryCount: 20, needsAttention: true, attentionReason: 'earlier' }),
      confirmPlan(['a']),
      [result('a', 'unknown', 500)],
      NOW,
      policy,
      top,
    );
    // The backoff is capped at maxDelayMs.
    expect(decision).toEqual({ kind: 'retry', retryCount: 21, nextRetryAt: NOW + 60_000, needsAttention: true, attentionReason: null });
  });

  it('attention already set stays set on an ongoing-only round', () => {
    const decision = decideAfterRound(
      txn({ status: 'cancelling', retryCount: 7, needsAttention: true, attentionReason: 'earlier' }),
      cancelPlan(['a']),
      [result('a', 'ongoing', 425)],
      NOW,
      policy,
      top,
    );
    expect(decision).toEqual({ kind: 'retry', retryCount: 7, nextRetryAt: NOW + 1_000, needsAttention: true, attentionReason: null });
  });

  it('a finished round finishes even when attention was set', () => {
    const decision = decideAfterRound(
      txn({ status: 'confirming', retryCount: 12, needsAttention: true }),
      confirmPlan(['a']),
      [result('a', 'success', 200)],
      NOW,
      policy,
      top,
    );
    expect(decision).toEqual({ kind: 'finish', status: 'confirmed' });
  });
});
