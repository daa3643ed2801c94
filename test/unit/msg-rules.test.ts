/**
 * The pure rules of transactional messages (modes/msg/msg-rules.ts): who
 * may decide in each status, recovery asking the sender past the deadline,
 * delivery to every receiver at once, an abort dropping them without a
 * call, and a delayed delivery not counted late.
 */
import { describe, expect, it } from 'vitest';
import type { RetryPolicy } from '../../coordinator/domain/backoff.ts';
import type { RoundCall } from '../../coordinator/domain/phase-two.ts';
import type { Branch, GlobalStatus, GlobalTransaction } from '../../coordinator/domain/transaction.ts';
import { msgRules } from '../../coordinator/modes/msg/msg-rules.ts';
import { branchAt, refusalOf, transactionAt } from '../support/model-fixtures.ts';

const T0 = 1_700_000_000_000;
const policy: RetryPolicy = { baseDelayMs: 1_000, maxDelayMs: 60_000, attentionAfterRetries: 5, attentionAfterMs: 600_000 };
const top = () => 1;
const MSG_WORD: Record<GlobalStatus, string> = {
  open: 'prepared',
  committing: 'submitted',
  'rolling-back': 'aborting',
  committed: 'delivered',
  'rolled-back': 'aborted',
};

/** The refusal `fn` throws, or undefined when it does not throw. */
function refusalIfAny(fn: () => unknown) {
  try {
    fn();
    return undefined;
  } catch {
    return refusalOf(fn);
  }
}

const message = (overrides: Partial<GlobalTransaction> = {}) =>
  transactionAt(T0, { mode: 'msg', status: 'open', deadlineAt: T0 + 10_000, checkUrl: 'http://shop.test/dtx/orders/check', ...overrides });
const receiver = (id: string, overrides: Partial<Branch> = {}) =>
  branchAt(T0, id, { operations: { deliver: `http://mail.test/dtx/${id}/deliver` }, ...overrides });
const delivered = (branchId: string, outcome: RoundCall['outcome'] = 'success'): RoundCall => ({
  branchId,
  op: 'deliver',
  outcome,
  httpStatus: outcome === 'success' ? 200 : outcome === 'failure' ? 409 : 500,
  error: null,
  attempt: 1,
});

describe('msgRules', () => {
  it('names its statuses for users, and delivers with one operation', () => {
    expect(msgRules.words.status).toEqual(MSG_WORD);
    expect(msgRules.operations).toEqual(['deliver']);
    expect(msgRules.submittedAtBegin).toBe(false);
    expect(msgRules.registersLater).toBe(false);
  });

  it('has at least one receiver; none joins after the prepare', () => {
    expect(refusalOf(() => msgRules.checkSteps('g', []))).toMatchObject({ code: 'INVALID_STEPS' });
    const mail = { branchId: 'mail', operations: { deliver: 'http://x.test/d' }, payload: '{}' };
    expect(refusalOf(() => msgRules.checkSteps('g', [mail, mail]))).toMatchObject({ code: 'INVALID_STEPS', message: 'receiver mail is given twice' });
    expect(() => msgRules.checkSteps('g', [{ branchId: 'a', operations: { deliver: 'http://x.test/d' }, payload: '{}' }])).not.toThrow();
    expect(refusalOf(() => msgRules.checkRegistration(message(), [], [], T0))).toMatchObject({ code: 'ILLEGAL_STATE', status: 'prepared' });
  });

  describe('decisions in every status', () => {
    // A caller's abort of a prepared message is never logged on its word: the sender's check-back decides it.
    it.each<[GlobalStatus, string, string]>([
      ['open', 'decide', 'check-back'],
      ['committing', 'already', 'ILLEGAL_STATE'],
      ['committed', 'already', 'ILLEGAL_STATE'],
      ['rolling-back', 'ILLEGAL_STATE', 'already'],
      ['rolled-back', 'ILLEGAL_STATE', 'already'],
    ])('%s: submit → %s, abort → %s', (status, submit, abort) => {
      // Past the deadline too: a sender that committed may submit late.
      const txn = message({ status, deadlineAt: T0 - 1 });
      const answer = (explain: () => { kind: string }) => {
        const refusal = refusalIfAny(explain);
        if (refusal) {
          expect(refusal.status).toBe(MSG_WORD[status]);
          return refusal.code;
        }
        return explain().kind;
      };
      expect(answer(() => msgRules.explainSubmit(txn, T0))).toBe(submit);
      expect(answer(() => msgRules.explainAbort(txn, T0))).toBe(abort);
    });

    it('never force-aborted: a prepared one is for its sender or the check-back to decide', () => {
      expect(refusalOf(() => msgRules.checkForceAbort(message()))).toMatchObject({ code: 'ILLEGAL_STATE', message: expect.stringContaining('check-back') });
      for (const status of ['committing', 'committed', 'rolling-back', 'rolled-back'] as const) {
        expect(
          refusalOf(() => msgRules.checkForceAbort(message({ status }))),
          status,
        ).toMatchObject({ code: 'ILLEGAL_STATE' });
      }
    });
  });

  it('recovery asks the sender once the deadline passed, runs phase two once decided, and leaves finished ones', () => {
    expect(msgRules.recoveryStep(message(), T0 + 9_999)).toBe('nothing');
    expect(msgRules.recoveryStep(message(), T0 + 10_000)).toBe('check-back');
    expect(msgRules.recoveryStep(message({ status: 'committing' }), T0)).toBe('run-phase-two');
    expect(msgRules.recoveryStep(message({ status: 'rolling-back' }), T0)).toBe('run-phase-two');
    expect(msgRules.recoveryStep(message({ status: 'committed' }), T0 + 99_999)).toBe('nothing');
  });

  it('submitted: delivers to every receiver not delivered yet, at once', () => {
    const plan = msgRules.planPhaseTwo({
      transaction: message({ status: 'committing' }),
      branches: [receiver('a', { status: 'committed' }), receiver('b'), receiver('c')],
    });
    expect(plan?.calls.map((c) => [c.branch.branchId, c.op, c.url])).toEqual([
      ['b', 'deliver', 'http://mail.test/dtx/b/deliver'],
      ['c', 'deliver', 'http://mail.test/dtx/c/deliver'],
    ]);
    expect(plan).toMatchObject({ finalStatus: 'committed', skips: [], waiting: [] });
  });

  it('aborting: every receiver is dropped without a call, and the round finishes', () => {
    const plan = msgRules.planPhaseTwo({ transaction: message({ status: 'rolling-back' }), branches: [receiver('a'), receiver('b')] })!;
    expect(plan.calls).toEqual([]);
    expect(plan.skips.map((b) => b.branchId)).toEqual(['a', 'b']);
    expect(msgRules.afterRound(message({ status: 'rolling-back' }), plan, [], T0, policy, top)).toEqual({ kind: 'finish', status: 'rolled-back' });
  });

  it('a receiver not accepting is retried; a refusal is flagged at once', () => {
    const txn = message({ status: 'committing', decidedAt: T0 });
    const plan = msgRules.planPhaseTwo({ transaction: txn, branches: [receiver('a'), receiver('b')] })!;
    expect(msgRules.afterRound(txn, plan, [delivered('a'), delivered('b')], T0, policy, top)).toEqual({ kind: 'finish', status: 'committed' });
    expect(msgRules.afterRound(txn, plan, [delivered('a'), delivered('b', 'unknown')], T0 + 1, policy, top)).toMatchObject({
      kind: 'retry',
      needsAttention: false,
    });
    expect(msgRules.afterRound(txn, plan, [delivered('a', 'failure'), delivered('b')], T0 + 1, policy, top)).toMatchObject({
      kind: 'retry',
      needsAttention: true,
      attentionReason: expect.stringContaining('branch a refused deliver'),
    });
  });

  it('a delivery delayed on purpose is not late: its age counts from its delivery time', () => {
    const late = T0 + policy.attentionAfterMs + 1;
    const txn = message({ status: 'committing', decidedAt: T0 });
    const plan = msgRules.planPhaseTwo({ transaction: txn, branches: [receiver('a')] })!;
    expect(msgRules.afterRound(txn, plan, [delivered('a', 'unknown')], late, policy, top)).toMatchObject({ needsAttention: true });
    const delayed = { ...txn, notBefore: T0 + 60_000 };
    expect(msgRules.afterRound(delayed, plan, [delivered('a', 'unknown')], late, policy, top)).toMatchObject({ needsAttention: false });
  });
});
