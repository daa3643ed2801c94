/**
 * The pure TCC rules (modes/tcc): every legal and illegal transition,
 * asserted on refusal codes and returned values, never on messages. Statuses
 * are the model's names; a refusal's `status` is the one the API shows, in
 * TCC's words.
 */
import { describe, expect, it } from 'vitest';
import type { RetryPolicy } from '../../coordinator/domain/backoff.ts';
import type { PhaseTwoPlan, RoundCall } from '../../coordinator/domain/phase-two.ts';
import { TransactionRefusedError, type RefusalCode } from '../../coordinator/domain/refusal.ts';
import { distinctRegistrations } from '../../coordinator/domain/registration.ts';
import { guardHolds } from '../../coordinator/domain/transition-guard.ts';
import type { Branch, BranchRegistration, BranchStatus, GlobalStatus, GlobalTransaction, Operation, Operations } from '../../coordinator/domain/transaction.ts';
import type { DecisionStep } from '../../coordinator/modes/mode-rules.ts';
import { tccRules } from '../../coordinator/modes/tcc/tcc-rules.ts';
import { branchAt, refusalOf, TCC_WORD, transactionAt } from '../support/model-fixtures.ts';

const T0 = 1_700_000_000_000;
const DEADLINE = T0 + 60_000;
const STATUSES: GlobalStatus[] = ['open', 'committing', 'rolling-back', 'committed', 'rolled-back'];

const WORD = TCC_WORD;

function txn(overrides: Partial<GlobalTransaction> = {}): GlobalTransaction {
  return transactionAt(T0, overrides);
}

const ops = (branchId: string): Operations => ({ confirm: `http://bank.test/${branchId}/confirm`, cancel: `http://bank.test/${branchId}/cancel` });

function reg(branchId: string, overrides: Partial<BranchRegistration> = {}): BranchRegistration {
  return { branchId, operations: ops(branchId), payload: '{"amount":1}', ...overrides };
}

function branch(branchId: string, overrides: Partial<Branch> = {}): Branch {
  return branchAt(T0, branchId, { ...reg(branchId), ...overrides });
}

const refusal = refusalOf;

function expectRefused(fn: () => unknown, code: RefusalCode): TransactionRefusedError {
  const error = refusal(fn);
  expect(error.code).toBe(code);
  return error;
}

describe('TCC names', () => {
  it('words: trying / confirming / cancelling / confirmed / cancelled; branches prepared / confirmed / cancelled; confirm and cancel', () => {
    expect(tccRules.mode).toBe('tcc');
    expect(tccRules.words.status).toEqual(WORD);
    expect(tccRules.words.branchStatus).toEqual({ pending: 'prepared', committed: 'confirmed', 'rolled-back': 'cancelled' });
    expect(tccRules.words.op).toEqual({ committing: 'confirm', 'rolling-back': 'cancel' });
    expect(tccRules.operations).toEqual(['confirm', 'cancel']);
  });
});

describe('submit / explainSubmit', () => {
  it('submit: open → committing, guarded by open and a deadline after now', () => {
    expect(tccRules.submit(T0)).toEqual({ to: 'committing', guard: { from: 'open', deadlineAfter: T0 } });
  });

  it('open before the deadline → decide committing (write again)', () => {
    expect(tccRules.explainSubmit(txn(), T0)).toEqual({ kind: 'decide', transition: { to: 'committing', guard: { from: 'open', deadlineAfter: T0 } } });
    expect(tccRules.explainSubmit(txn(), DEADLINE - 1)).toEqual({ kind: 'decide', transition: tccRules.submit(DEADLINE - 1) });
  });

  it('open at or after the deadline → DEADLINE_PASSED with gid and the status it moves to (cancelling)', () => {
    const atDeadline = expectRefused(() => tccRules.explainSubmit(txn(), DEADLINE), 'DEADLINE_PASSED');
    expect(atDeadline.gid).toBe('gid-1');
    expect(atDeadline.status).toBe('cancelling');
    expectRefused(() => tccRules.explainSubmit(txn(), DEADLINE + 3_600_000), 'DEADLINE_PASSED');
  });

  it.each(['committing', 'committed'] as const)('%s → already, with that status (re-send)', (status) => {
    expect(tccRules.explainSubmit(txn({ status }), T0)).toEqual({ kind: 'already', status });
    // The deadline only matters while open.
    expect(tccRules.explainSubmit(txn({ status }), DEADLINE + 1)).toEqual({ kind: 'already', status });
  });

  it.each(['rolling-back', 'rolled-back'] as const)(
    '%s, aborted at or after the deadline → DEADLINE_PASSED carrying the status word, whatever the reason says',
    (status) => {
      for (const decidedAt of [DEADLINE, DEADLINE + 5_000]) {
        for (const reason of ['timeout', 'deadline passed before submit', 'anything', null]) {
          const error = expectRefused(() => tccRules.explainSubmit(txn({ status, reason, decidedAt }), DEADLINE + 10_000), 'DEADLINE_PASSED');
          expect(error.status).toBe(WORD[status]);
        }
      }
    },
  );

  it.each(['rolling-back', 'rolled-back'] as const)(
    '%s, aborted before the deadline (or before the log kept decision times) → ILLEGAL_STATE carrying the status word',
    (status) => {
      expectRefused(() => tccRules.explainSubmit(txn({ status, reason: 'timeout', decidedAt: DEADLINE - 1 }), DEADLINE + 1), 'ILLEGAL_STATE');
      const error = expectRefused(() => tccRules.explainSubmit(txn({ status, reason: 'timeout' }), T0), 'ILLEGAL_STATE');
      expect(error.status).toBe(WORD[status]);
      expect(error.gid).toBe('gid-1');
      expectRefused(() => tccRules.explainSubmit(txn({ status, reason: null }), DEADLINE + 1), 'ILLEGAL_STATE');
    },
  );

  it('the guard is evaluated once: explainSubmit decides exactly when the guard the store enforces holds', () => {
    const times = [T0, DEADLINE - 2, DEADLINE - 1, DEADLINE, DEADLINE + 1, DEADLINE + 3_600_000];
    let decided = 0;
    let cases = 0;
    for (const status of STATUSES) {
      for (const now of times) {
        for (const decidedAt of [null, DEADLINE - 1, DEADLINE, DEADLINE + 1]) {
          for (const reason of [null, 'timeout']) {
            const t = txn({ status, decidedAt: status === 'open' ? null : decidedAt, reason });
            const holds = guardHolds(tccRules.submit(now).guard, t);
            let step: DecisionStep | TransactionRefusedError;
            try {
              step = tccRules.explainSubmit(t, now);
            } catch (error) {
              // Anything but a typed refusal is a bug.
              expect(error).toBeInstanceOf(TransactionRefusedError);
              step = error as TransactionRefusedError;
            }
            cases++;
            const label = `${status} at ${now - DEADLINE} ms from the deadline, decided at ${decidedAt}`;
            if (holds) {
              decided++;
              expect(step, label).toEqual({ kind: 'decide', transition: tccRules.submit(now) });
            } else {
              expect(step, label).not.toMatchObject({ kind: 'decide' });
            }
          }
        }
      }
    }
    // The loop covers both sides: decisions (open before the deadline) and the rest.
    expect(decided).toBeGreaterThan(0);
    expect(decided).toBeLessThan(cases);
  });
});

describe('abort / explainAbort', () => {
  it('abort: open → rolling-back, guarded by open alone (the deadline does not stop an abort)', () => {
    expect(tccRules.abort(T0)).toEqual({ to: 'rolling-back', guard: { from: 'open' } });
  });

  it('open → decide rolling-back, before and after the deadline', () => {
    const decide = { kind: 'decide', transition: { to: 'rolling-back', guard: { from: 'open' } } };
    expect(tccRules.explainAbort(txn(), T0)).toEqual(decide);
    expect(tccRules.explainAbort(txn({ deadlineAt: T0 - 1 }), T0)).toEqual(decide);
    expect(tccRules.explainAbort(txn(), DEADLINE + 1)).toEqual(decide);
  });

  it.each(['rolling-back', 'rolled-back'] as const)('%s → already, with that status (re-send)', (status) => {
    expect(tccRules.explainAbort(txn({ status }), T0)).toEqual({ kind: 'already', status });
  });

  it.each(['committing', 'committed'] as const)('%s → ILLEGAL_STATE carrying the status word: the confirm decision cannot be reversed', (status) => {
    const error = expectRefused(() => tccRules.explainAbort(txn({ status }), T0), 'ILLEGAL_STATE');
    expect(error.status).toBe(WORD[status]);
  });

  it('decides exactly when the abort guard holds', () => {
    for (const status of STATUSES) {
      for (const now of [T0, DEADLINE, DEADLINE + 1]) {
        const t = txn({ status });
        let step: DecisionStep | TransactionRefusedError;
        try {
          step = tccRules.explainAbort(t, now);
        } catch (error) {
          expect(error).toBeInstanceOf(TransactionRefusedError);
          step = error as TransactionRefusedError;
        }
        if (guardHolds(tccRules.abort(now).guard, t)) expect(step).toEqual({ kind: 'decide', transition: tccRules.abort(now) });
        else expect(step).not.toMatchObject({ kind: 'decide' });
      }
    }
  });
});

describe('checkForceAbort', () => {
  it('is allowed only while open; refused otherwise with ILLEGAL_STATE carrying the status word', () => {
    expect(() => tccRules.checkForceAbort(txn())).not.toThrow();
    for (const status of STATUSES.filter((s) => s !== 'open')) {
      for (const paused of [false, true]) {
        const error = (() => {
          try {
            tccRules.checkForceAbort(txn({ status, paused }));
          } catch (caught) {
            return caught as TransactionRefusedError;
          }
          throw new Error(`force-abort of a ${status} transaction was allowed`);
        })();
        expect(error).toBeInstanceOf(TransactionRefusedError);
        expect(error).toMatchObject({ code: 'ILLEGAL_STATE', status: WORD[status], gid: 'gid-1' });
      }
    }
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
    ['confirm URL', { operations: { ...ops('a'), confirm: 'http://other.test/confirm' } }],
    ['cancel URL', { operations: { ...ops('a'), cancel: 'http://other.test/cancel' } }],
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
  it('the registration guard: open, a deadline after now, a TCC transaction', () => {
    expect(tccRules.registrationGuard(T0)).toEqual({ from: 'open', deadlineAfter: T0, mode: 'tcc' });
  });

  it('accepts a new branch while open before the deadline', () => {
    expect(tccRules.checkRegistration(txn(), [], [reg('a')], T0)).toEqual([reg('a')]);
  });

  it('returns only the new branches when some are already registered', () => {
    const result = tccRules.checkRegistration(txn(), [branch('a')], [reg('a'), reg('b')], T0);
    expect(result).toEqual([reg('b')]);
  });

  it('refuses a new branch at or after the deadline → DEADLINE_PASSED carrying the status it moves to (cancelling)', () => {
    const error = expectRefused(() => tccRules.checkRegistration(txn(), [], [reg('a')], DEADLINE), 'DEADLINE_PASSED');
    expect(error.status).toBe('cancelling');
    expectRefused(() => tccRules.checkRegistration(txn(), [branch('a')], [reg('a'), reg('b')], DEADLINE + 1), 'DEADLINE_PASSED');
  });

  it('accepts a new branch one millisecond before the deadline', () => {
    expect(tccRules.checkRegistration(txn(), [], [reg('a')], DEADLINE - 1)).toEqual([reg('a')]);
  });

  it.each(['committing', 'rolling-back', 'committed', 'rolled-back'] as const)(
    'refuses a new branch when %s → ILLEGAL_STATE carrying the status word',
    (status) => {
      const error = expectRefused(() => tccRules.checkRegistration(txn({ status }), [branch('a')], [reg('b')], T0), 'ILLEGAL_STATE');
      expect(error.status).toBe(WORD[status]);
      // A mix of an equal re-send and a new branch is still refused as a whole.
      expectRefused(() => tccRules.checkRegistration(txn({ status }), [branch('a')], [reg('a'), reg('b')], T0), 'ILLEGAL_STATE');
    },
  );

  it.each(STATUSES)('an equal re-send of a registered branch is idempotent when %s: nothing to insert', (status) => {
    expect(tccRules.checkRegistration(txn({ status }), [branch('a'), branch('b')], [reg('a')], T0)).toEqual([]);
    expect(tccRules.checkRegistration(txn({ status }), [branch('a'), branch('b')], [reg('b'), reg('a')], DEADLINE + 1)).toEqual([]);
  });

  it('an equal re-send matches a branch whatever its phase-two state', () => {
    const done = branch('a', {
      status: 'committed',
      attempts: 3,
      lastError: 'x',
      updatedAt: T0 + 5,
      registeredBy: 'shop',
      completion: { at: T0 + 5, op: 'confirm', attempt: 3, httpStatus: 200 },
    });
    expect(tccRules.checkRegistration(txn({ status: 'committed' }), [done], [reg('a')], T0)).toEqual([]);
  });

  it.each([
    ['confirm URL', { operations: { ...ops('a'), confirm: 'http://other.test/confirm' } }],
    ['cancel URL', { operations: { ...ops('a'), cancel: 'http://other.test/cancel' } }],
    ['payload', { payload: '{"amount":999}' }],
  ] as const)('same branch id with another %s → BRANCH_CONFLICT', (_field, change) => {
    expectRefused(() => tccRules.checkRegistration(txn(), [branch('a')], [reg('a', change)], T0), 'BRANCH_CONFLICT');
  });

  it.each(['open', 'committing', 'rolled-back'] as const)('a conflicting re-send is BRANCH_CONFLICT (not ILLEGAL_STATE) when %s', (status) => {
    expectRefused(() => tccRules.checkRegistration(txn({ status }), [branch('a')], [reg('a', { payload: '{}' })], T0), 'BRANCH_CONFLICT');
  });

  it('duplicate ids inside one request: equal → inserted once', () => {
    expect(tccRules.checkRegistration(txn(), [], [reg('a'), reg('a'), reg('b')], T0)).toEqual([reg('a'), reg('b')]);
  });

  it('duplicate ids inside one request: different → BRANCH_CONFLICT', () => {
    const other = reg('a', { operations: { ...ops('a'), cancel: 'http://x.test/c' } });
    expectRefused(() => tccRules.checkRegistration(txn(), [], [reg('a'), other], T0), 'BRANCH_CONFLICT');
  });

  it('an empty request while not open is a no-op', () => {
    expect(tccRules.checkRegistration(txn({ status: 'rolled-back' }), [], [], T0)).toEqual([]);
  });
});

describe('recoveryStep', () => {
  it('open before the deadline → nothing', () => {
    expect(tccRules.recoveryStep(txn(), DEADLINE - 1)).toBe('nothing');
  });

  it('open at or after the deadline → abort-timeout', () => {
    expect(tccRules.recoveryStep(txn(), DEADLINE)).toBe('abort-timeout');
    expect(tccRules.recoveryStep(txn(), DEADLINE + 10_000)).toBe('abort-timeout');
  });

  it.each(['committing', 'rolling-back'] as const)('%s → run-phase-two, before and after the deadline', (status) => {
    expect(tccRules.recoveryStep(txn({ status }), T0)).toBe('run-phase-two');
    expect(tccRules.recoveryStep(txn({ status }), DEADLINE + 1)).toBe('run-phase-two');
  });

  it.each(['committed', 'rolled-back'] as const)('%s → nothing', (status) => {
    expect(tccRules.recoveryStep(txn({ status }), T0)).toBe('nothing');
    expect(tccRules.recoveryStep(txn({ status }), DEADLINE + 1)).toBe('nothing');
  });
});

describe('planPhaseTwo', () => {
  const mixed = (done: BranchStatus): Branch[] => [branch('a', { status: done }), branch('b'), branch('c')];

  it('committing → confirm the branches not yet committed, at their confirm URLs', () => {
    const plan = tccRules.planPhaseTwo({ transaction: txn({ status: 'committing' }), branches: mixed('committed') });
    expect(plan).not.toBeNull();
    expect(plan?.direction).toBe('committing');
    expect(plan?.finalStatus).toBe('committed');
    expect(plan?.calls.map((c) => [c.branch.branchId, c.op, c.url])).toEqual([
      ['b', 'confirm', 'http://bank.test/b/confirm'],
      ['c', 'confirm', 'http://bank.test/c/confirm'],
    ]);
  });

  it('rolling-back → cancel the branches not yet rolled back, at their cancel URLs', () => {
    const plan = tccRules.planPhaseTwo({ transaction: txn({ status: 'rolling-back' }), branches: mixed('rolled-back') });
    expect(plan?.direction).toBe('rolling-back');
    expect(plan?.finalStatus).toBe('rolled-back');
    expect(plan?.calls.map((c) => [c.branch.branchId, c.op, c.url])).toEqual([
      ['b', 'cancel', 'http://bank.test/b/cancel'],
      ['c', 'cancel', 'http://bank.test/c/cancel'],
    ]);
  });

  it("each call's URL is the branch's own URL for that operation, whatever the URLs look like and the order they were registered in", () => {
    const x = branch('x', { operations: { confirm: 'http://one.test/tcc/commit?id=7', cancel: 'https://two.test:8443/undo/7' } });
    const y = branch('y', { operations: { cancel: 'http://three.test/c', confirm: 'http://four.test/ok' } });
    const branches = [x, y];
    expect(tccRules.planPhaseTwo({ transaction: txn({ status: 'committing' }), branches })?.calls).toEqual([
      { branch: x, op: 'confirm', url: 'http://one.test/tcc/commit?id=7' },
      { branch: y, op: 'confirm', url: 'http://four.test/ok' },
    ]);
    expect(tccRules.planPhaseTwo({ transaction: txn({ status: 'rolling-back' }), branches })?.calls).toEqual([
      { branch: x, op: 'cancel', url: 'https://two.test:8443/undo/7' },
      { branch: y, op: 'cancel', url: 'http://three.test/c' },
    ]);
  });

  it('passes the branch itself (payload and attempts) to the call', () => {
    const b = branch('b', { payload: '{"x":1}', attempts: 4 });
    const plan = tccRules.planPhaseTwo({ transaction: txn({ status: 'committing' }), branches: [b] });
    expect(plan?.calls[0]?.branch).toBe(b);
  });

  it('every branch already done → a plan with no calls', () => {
    const plan = tccRules.planPhaseTwo({ transaction: txn({ status: 'committing' }), branches: [branch('a', { status: 'committed' })] });
    expect(plan).toEqual({ direction: 'committing', finalStatus: 'committed', calls: [], skips: [], waiting: [] });
  });

  it('no branches at all → a plan with no calls', () => {
    expect(tccRules.planPhaseTwo({ transaction: txn({ status: 'rolling-back' }), branches: [] })).toEqual({
      direction: 'rolling-back',
      finalStatus: 'rolled-back',
      calls: [],
      skips: [],
      waiting: [],
    });
  });

  it.each(['open', 'committed', 'rolled-back'] as const)('%s → null', (status: GlobalStatus) => {
    expect(tccRules.planPhaseTwo({ transaction: txn({ status }), branches: [branch('a')] })).toBeNull();
  });
});

describe('afterRound', () => {
  const policy: RetryPolicy = { baseDelayMs: 1_000, maxDelayMs: 60_000, attentionAfterRetries: 5, attentionAfterMs: 600_000 };
  const NOW = T0 + 100_000;
  /** random() = 1 gives the ceiling of the jitter range, so delays are exact. */
  const top = () => 1;
  const afterRound = tccRules.afterRound;

  const confirmPlan = (ids: string[]): PhaseTwoPlan => ({
    direction: 'committing',
    finalStatus: 'committed',
    calls: ids.map((id) => ({ branch: branch(id), op: 'confirm', url: `http://bank.test/${id}/confirm` })),
    skips: [],
    waiting: [],
  });
  const cancelPlan = (ids: string[]): PhaseTwoPlan => ({
    direction: 'rolling-back',
    finalStatus: 'rolled-back',
    calls: ids.map((id) => ({ branch: branch(id), op: 'cancel', url: `http://bank.test/${id}/cancel` })),
    skips: [],
    waiting: [],
  });
  /** A call's result, for the round's operation. */
  const resultOf =
    (op: Operation) =>
    (branchId: string, outcome: RoundCall['outcome'], httpStatus: number | null): RoundCall => ({
      branchId,
      op,
      attempt: 1,
      outcome,
      httpStatus,
      error: outcome === 'success' ? null : 'boom',
    });
  const result = resultOf('confirm');
  const cancelResult = resultOf('cancel');

  it('all success → finish committed when committing', () => {
    const decision = afterRound(
      txn({ status: 'committing' }),
      confirmPlan(['a', 'b']),
      [result('a', 'success', 200), result('b', 'success', 201)],
      NOW,
      policy,
      top,
    );
    expect(decision).toEqual({ kind: 'finish', status: 'committed' });
  });

  it('all success → finish rolled-back when rolling back', () => {
    const decision = afterRound(txn({ status: 'rolling-back' }), cancelPlan(['a']), [cancelResult('a', 'success', 200)], NOW, policy, top);
    expect(decision).toEqual({ kind: 'finish', status: 'rolled-back' });
  });

  it('zero calls → finish', () => {
    expect(afterRound(txn({ status: 'committing' }), confirmPlan([]), [], NOW, policy, top)).toEqual({ kind: 'finish', status: 'committed' });
    expect(afterRound(txn({ status: 'rolling-back' }), cancelPlan([]), [], NOW, policy, top)).toEqual({ kind: 'finish', status: 'rolled-back' });
  });

  it('unknown → retryCount + 1 and a backoff delay from the new count', () => {
    const decision = afterRound(
      txn({ status: 'committing', retryCount: 2 }),
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
    const decision = afterRound(txn({ status: 'rolling-back' }), cancelPlan(['a']), [cancelResult('a', 'unknown', null)], NOW, policy, () => 0);
    expect(decision).toMatchObject({ kind: 'retry', retryCount: 1, nextRetryAt: NOW + 500 });
  });

  it('unknown mixed with ongoing → backoff (the unknown wins)', () => {
    const decision = afterRound(
      txn({ status: 'committing', retryCount: 1 }),
      confirmPlan(['a', 'b']),
      [result('a', 'ongoing', 425), result('b', 'unknown', 503)],
      NOW,
      policy,
      top,
    );
    expect(decision).toMatchObject({ kind: 'retry', retryCount: 2, nextRetryAt: NOW + 2_000 });
  });

  it('only ongoing → same retryCount and the base interval, whatever the count', () => {
    const decision = afterRound(
      txn({ status: 'committing', retryCount: 3 }),
      confirmPlan(['a', 'b']),
      [result('a', 'ongoing', 425), result('b', 'success', 200)],
      NOW,
      policy,
      () => 0,
    );
    expect(decision).toEqual({ kind: 'retry', retryCount: 3, nextRetryAt: NOW + 1_000, needsAttention: false, attentionReason: null });
  });

  it('failure (409) → needs attention at once, with a reason naming the branch, op and status', () => {
    const decision = afterRound(
      txn({ status: 'committing' }),
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
    const decision = afterRound(txn({ status: 'rolling-back' }), cancelPlan(['x']), [cancelResult('x', 'failure', 409)], NOW, policy, top);
    expect(decision).toMatchObject({ kind: 'retry', needsAttention: true });
    if (decision.kind === 'retry') expect(decision.attentionReason).toMatch(/\bx\b.*cancel/);
  });

  it('the same branch refusing again does not raise a new reason (one alert, not one per round)', () => {
    const first = afterRound(txn({ status: 'committing' }), confirmPlan(['a']), [result('a', 'failure', 409)], NOW, policy, top);
    if (first.kind !== 'retry' || first.attentionReason === null) throw new Error('expected a retry raising attention');
    const again = afterRound(
      txn({ status: 'committing', retryCount: first.retryCount, needsAttention: true, attentionReason: first.attentionReason }),
      confirmPlan(['a']),
      [result('a', 'failure', 409)],
      NOW,
      policy,
      top,
    );
    expect(again).toEqual({ kind: 'retry', retryCount: 2, nextRetryAt: NOW + 2_000, needsAttention: true, attentionReason: null });
  });

  it('a refusal after attention was raised for another reason raises the new reason', () => {
    const decision = afterRound(
      txn({ status: 'committing', retryCount: 6, needsAttention: true, attentionReason: 'phase two still incomplete after 5 retries' }),
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
    const decision = afterRound(
      txn({ status: 'committing', retryCount: 1 }),
      confirmPlan(['a', 'b']),
      [result('a', 'ongoing', 425), result('b', 'failure', 409)],
      NOW,
      policy,
      top,
    );
    expect(decision).toMatchObject({ kind: 'retry', retryCount: 2, nextRetryAt: NOW + 2_000, needsAttention: true });
  });

  it('below the retry budget → no attention', () => {
    const decision = afterRound(
      txn({ status: 'committing', retryCount: policy.attentionAfterRetries - 2 }),
      confirmPlan(['a']),
      [result('a', 'unknown', 500)],
      NOW,
      policy,
      top,
    );
    expect(decision).toMatchObject({ kind: 'retry', retryCount: policy.attentionAfterRetries - 1, needsAttention: false, attentionReason: null });
  });

  it('reaching the retry budget → attention with a reason', () => {
    const decision = afterRound(
      txn({ status: 'committing', retryCount: policy.attentionAfterRetries - 1 }),
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
      txn({ status: 'committing', createdAt: DECIDED - 5_000, decidedAt: NOW - ageMs, ...overrides });

    it('ongoing forever: no attention before the age, the base interval throughout', () => {
      const decision = afterRound(aged(policy.attentionAfterMs - 1), confirmPlan(['a']), [result('a', 'ongoing', 425)], NOW, policy, top);
      expect(decision).toEqual({ kind: 'retry', retryCount: 0, nextRetryAt: NOW + policy.baseDelayMs, needsAttention: false, attentionReason: null });
    });

    it('ongoing forever: attention once the decision is that old, naming the pending branch; the interval stays the base', () => {
      const decision = afterRound(
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
      const decision = afterRound(
        aged(policy.attentionAfterMs + 1, { status: 'rolling-back', retryCount: 1 }),
        cancelPlan(['x']),
        [cancelResult('x', 'unknown', null)],
        NOW,
        policy,
        top,
      );
      expect(decision).toMatchObject({ kind: 'retry', retryCount: 2, needsAttention: true });
      if (decision.kind === 'retry') expect(decision.attentionReason).toMatch(/after the cancel decision \(branch x: unknown\)$/);
    });

    it('raised once: a flagged transaction gets no new reason from its age', () => {
      const decision = afterRound(
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
      const old = txn({ status: 'committing', createdAt: NOW - policy.attentionAfterMs, decidedAt: null });
      const decision = afterRound(old, confirmPlan(['a']), [result('a', 'ongoing', 425)], NOW, policy, top);
      expect(decision).toMatchObject({ kind: 'retry', needsAttention: true });
      const young = txn({ status: 'committing', createdAt: NOW - policy.attentionAfterMs + 1, decidedAt: null });
      expect(afterRound(young, confirmPlan(['a']), [result('a', 'ongoing', 425)], NOW, policy, top)).toMatchObject({ needsAttention: false });
    });

    it('many pending branches: the reason names a few and counts the rest', () => {
      const names = ['b1', 'b2', 'b3', 'b4', 'b5'];
      const decision = afterRound(
        aged(policy.attentionAfterMs),
        confirmPlan(names),
        names.map((n) => result(n, 'ongoing', 425)),
        NOW,
        policy,
        top,
      );
      if (decision.kind !== 'retry') throw new Error('expected a retry');
      expect(decision.attentionReason).toContain('branch b3: ongoing');
      expect(decision.attentionReason).not.toContain('branch b4');
      expect(decision.attentionReason).toContain('and 2 more');
    });

    it('a finished round finishes whatever its age', () => {
      expect(afterRound(aged(policy.attentionAfterMs * 10), confirmPlan(['a']), [result('a', 'success', 200)], NOW, policy, top)).toEqual({
        kind: 'finish',
        status: 'committed',
      });
    });
  });

  it('attention already set stays set, without a new reason, on later unknown rounds', () => {
    const decision = afterRound(
      txn({ status: 'committing', retryCount: 20, needsAttention: true, attentionReason: 'earlier' }),
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
    const decision = afterRound(
      txn({ status: 'rolling-back', retryCount: 7, needsAttention: true, attentionReason: 'earlier' }),
      cancelPlan(['a']),
      [cancelResult('a', 'ongoing', 425)],
      NOW,
      policy,
      top,
    );
    expect(decision).toEqual({ kind: 'retry', retryCount: 7, nextRetryAt: NOW + 1_000, needsAttention: true, attentionReason: null });
  });

  it('a finished round finishes even when attention was set', () => {
    const decision = afterRound(
      txn({ status: 'committing', retryCount: 12, needsAttention: true }),
      confirmPlan(['a']),
      [result('a', 'success', 200)],
      NOW,
      policy,
      top,
    );
    expect(decision).toEqual({ kind: 'finish', status: 'committed' });
  });
});
