/**
 * The pure saga rules (modes/saga/saga-rules.ts): the step graph checked at
 * submit, which steps each round calls forward and backward, what a round's
 * replies mean (go on, turn back, retry, finish), and every status's answer
 * to a submit, an abort, a force-abort and recovery. Statuses are the
 * model's names; a refusal's `status` is the one the API shows, in the
 * saga's words (spelled out here, not read from the rules under test).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { retryDelayMs, type RetryPolicy } from '../../coordinator/domain/backoff.ts';
import { afterRecordedRound, type PhaseTwoPlan, type RoundCall } from '../../coordinator/domain/phase-two.ts';
import { TransactionRefusedError, type RefusalCode } from '../../coordinator/domain/refusal.ts';
import type { Branch, BranchRegistration, GlobalStatus, GlobalTransaction, TransactionSnapshot } from '../../coordinator/domain/transaction.ts';
import { sagaRules } from '../../coordinator/modes/saga/saga-rules.ts';
import { branchAt, refusalOf, transactionAt } from '../support/model-fixtures.ts';

const T0 = 1_700_000_000_000;
const DEADLINE = T0 + 60_000;
const STATUSES: GlobalStatus[] = ['open', 'committing', 'rolling-back', 'committed', 'rolled-back'];
const SAGA_WORD: Record<GlobalStatus, string> = {
  open: 'created',
  committing: 'running',
  'rolling-back': 'compensating',
  committed: 'succeeded',
  'rolled-back': 'compensated',
};
const policy: RetryPolicy = { baseDelayMs: 1_000, maxDelayMs: 60_000, attentionAfterRetries: 5, attentionAfterMs: 600_000 };
/** random() = 1 gives the ceiling of the jitter range, so delays are exact. */
const top = () => 1;

function txn(overrides: Partial<GlobalTransaction> = {}): GlobalTransaction {
  return transactionAt(T0, { mode: 'saga', status: 'committing', decidedAt: T0, decidedBy: 'shop', ...overrides });
}

const actionUrl = (id: string) => `http://bank.test/saga/${id}/action`;
const compensateUrl = (id: string) => `http://bank.test/saga/${id}/compensate`;

/** A pending step depending on `dependsOn`; `overrides` on top. */
function step(id: string, dependsOn: string[], overrides: Partial<Branch> = {}): Branch {
  return branchAt(T0, id, { operations: { action: actionUrl(id), compensate: compensateUrl(id) }, dependsOn, ...overrides });
}

const succeeded = (at = T0 + 10): Partial<Branch> => ({ status: 'committed', attempts: 1, completion: { at, op: 'action', attempt: 1, httpStatus: 200 } });

/** s1 ← s2 ← s3 ← s4 (each depends on the one before). */
const sequence = (states: Partial<Branch>[] = []): Branch[] =>
  ['s1', 's2', 's3', 's4'].map((id, index) => step(id, index === 0 ? [] : [`s${index}`], states[index] ?? {}));
/** a ← b, a ← c, b & c ← d */
const diamond = (states: Partial<Record<'a' | 'b' | 'c' | 'd', Partial<Branch>>> = {}): Branch[] => [
  step('a', [], states.a),
  step('b', ['a'], states.b),
  step('c', ['a'], states.c),
  step('d', ['b', 'c'], states.d),
];

const plan = (status: GlobalStatus, branches: Branch[], overrides: Partial<GlobalTransaction> = {}): PhaseTwoPlan => {
  const planned = sagaRules.planPhaseTwo({ transaction: txn({ status, ...overrides }), branches });
  if (!planned) throw new Error(`no plan for a ${status} saga`);
  return planned;
};
const callIds = (p: PhaseTwoPlan) => p.calls.map((c) => c.branch.branchId);
const idsOf = (branches: readonly Branch[]) => branches.map((b) => b.branchId);

function reply(p: PhaseTwoPlan, branchId: string, outcome: RoundCall['outcome'], httpStatus: number | null, attempt = 1): RoundCall {
  const call = p.calls.find((c) => c.branch.branchId === branchId);
  if (!call) throw new Error(`${branchId} is not called in this round`);
  return { branchId, op: call.op, attempt, outcome, httpStatus, error: outcome === 'success' ? null : `HTTP ${httpStatus}` };
}

const expectRefused = (fn: () => unknown, code: RefusalCode): TransactionRefusedError => {
  const error = refusalOf(fn);
  expect(error.code).toBe(code);
  return error;
};

const reg = (branchId: string, dependsOn?: string[]): BranchRegistration => ({
  branchId,
  operations: { action: actionUrl(branchId), compensate: compensateUrl(branchId) },
  payload: '{}',
  dependsOn,
});

describe('saga names', () => {
  it('words: created / running / compensating / succeeded / compensated; steps pending / succeeded / compensated; action and compensate', () => {
    expect(sagaRules.mode).toBe('saga');
    expect(sagaRules.submittedAtBegin).toBe(true);
    expect(sagaRules.words.status).toEqual(SAGA_WORD);
    expect(sagaRules.words.branchStatus).toEqual({ pending: 'pending', committed: 'succeeded', 'rolled-back': 'compensated' });
    expect(sagaRules.words.op).toEqual({ committing: 'action', 'rolling-back': 'compensate' });
    expect(sagaRules.operations).toEqual(['action', 'compensate']);
  });
});

describe('checkSteps', () => {
  it('accepts a sequence, a diamond and independent steps', () => {
    expect(() => sagaRules.checkSteps('g', [reg('a', []), reg('b', ['a']), reg('c', ['b'])])).not.toThrow();
    expect(() => sagaRules.checkSteps('g', [reg('a', []), reg('b', ['a']), reg('c', ['a']), reg('d', ['b', 'c'])])).not.toThrow();
    expect(() => sagaRules.checkSteps('g', [reg('x', []), reg('y', [])])).not.toThrow();
  });

  it('no steps → INVALID_STEPS', () => {
    const error = expectRefused(() => sagaRules.checkSteps('g', []), 'INVALID_STEPS');
    expect(error.gid).toBe('g');
    expect(error.message).toMatch(/at least one step/);
  });

  it('a step twice → INVALID_STEPS naming it', () => {
    const error = expectRefused(() => sagaRules.checkSteps('g', [reg('a', []), reg('b', ['a']), reg('a', [])]), 'INVALID_STEPS');
    expect(error.message).toContain('step a is given twice');
  });

  it('a prerequisite that is no step → INVALID_STEPS naming the step and the prerequisite', () => {
    const error = expectRefused(() => sagaRules.checkSteps('g', [reg('a', []), reg('b', ['zz'])]), 'INVALID_STEPS');
    expect(error.message).toContain('step b depends on zz');
  });

  it('a cycle → INVALID_STEPS naming the steps along it', () => {
    const error = expectRefused(() => sagaRules.checkSteps('g', [reg('a', ['c']), reg('b', ['a']), reg('c', ['b']), reg('d', [])]), 'INVALID_STEPS');
    expect(error.message).toContain('a → c → b → a');
    const self = expectRefused(() => sagaRules.checkSteps('g', [reg('solo', ['solo'])]), 'INVALID_STEPS');
    expect(self.message).toContain('solo → solo');
  });
});

describe('registration', () => {
  it('no step joins a saga after it is submitted: the guard names the mode, and every registration is ILLEGAL_STATE', () => {
    expect(sagaRules.registrationGuard(T0)).toEqual({ from: 'open', deadlineAfter: T0, mode: 'saga' });
    for (const status of STATUSES) {
      const error = expectRefused(() => sagaRules.checkRegistration(txn({ status }), [step('a', [])], [reg('b', [])], T0), 'ILLEGAL_STATE');
      expect(error.status).toBe(SAGA_WORD[status]);
    }
  });
});

describe('planPhaseTwo forward (running)', () => {
  it('a sequence calls only the first pending step whose prerequisites succeeded, at its action URL; the rest wait', () => {
    const first = plan('committing', sequence());
    expect(first).toMatchObject({ direction: 'committing', finalStatus: 'committed', skips: [] });
    expect(first.calls.map((c) => [c.branch.branchId, c.op, c.url])).toEqual([['s1', 'action', actionUrl('s1')]]);
    expect(idsOf(first.waiting)).toEqual(['s2', 's3', 's4']);

    const third = plan('committing', sequence([succeeded(), succeeded()]));
    expect(callIds(third)).toEqual(['s3']);
    expect(idsOf(third.waiting)).toEqual(['s4']);
  });

  it('a graph calls every ready step together; a join waits for all its prerequisites', () => {
    expect(callIds(plan('committing', diamond()))).toEqual(['a']);
    const fork = plan('committing', diamond({ a: succeeded() }));
    expect(callIds(fork)).toEqual(['b', 'c']);
    expect(idsOf(fork.waiting)).toEqual(['d']);
    const half = plan('committing', diamond({ a: succeeded(), b: succeeded() }));
    expect(callIds(half)).toEqual(['c']);
    expect(idsOf(half.waiting)).toEqual(['d']);
    expect(callIds(plan('committing', diamond({ a: succeeded(), b: succeeded(), c: succeeded() })))).toEqual(['d']);
  });

  it('a step being retried stays ready, with the branch row passed to the call', () => {
    const retried = sequence([{ attempts: 3, lastError: 'HTTP 500' }]);
    const p = plan('committing', retried);
    expect(callIds(p)).toEqual(['s1']);
    expect(p.calls[0]!.branch).toBe(retried[0]);
  });

  it('steps without a graph (dependsOn null) run at once', () => {
    expect(callIds(plan('committing', [step('x', [], { dependsOn: null }), step('y', [], { dependsOn: null })]))).toEqual(['x', 'y']);
  });

  it('every step succeeded → a plan with nothing to call or wait on', () => {
    const p = plan('committing', sequence([succeeded(), succeeded(), succeeded(), succeeded()]));
    expect(p).toEqual({ direction: 'committing', finalStatus: 'committed', calls: [], skips: [], waiting: [] });
  });

  it.each(['open', 'committed', 'rolled-back'] as const)('%s → null', (status) => {
    expect(sagaRules.planPhaseTwo({ transaction: txn({ status }), branches: sequence() })).toBeNull();
  });
});

describe('planPhaseTwo backward (compensating)', () => {
  it('reverse order: the failed step first (it may have run), then what succeeded before it; a step that never ran is skipped', () => {
    const branches = sequence([succeeded(), succeeded(), { attempts: 2, lastError: 'HTTP 409' }, {}]);
    const p = plan('rolling-back', branches);
    expect(p).toMatchObject({ direction: 'rolling-back', finalStatus: 'rolled-back' });
    expect(p.calls.map((c) => [c.branch.branchId, c.op, c.url])).toEqual([['s3', 'compensate', compensateUrl('s3')]]);
    expect(idsOf(p.skips)).toEqual(['s4']);
    expect(idsOf(p.waiting)).toEqual(['s1', 's2']);

    const next = plan('rolling-back', sequence([succeeded(), succeeded(), { status: 'rolled-back', attempts: 3 }, { status: 'rolled-back' }]));
    expect(callIds(next)).toEqual(['s2']);
    expect(next.skips).toEqual([]);
    expect(idsOf(next.waiting)).toEqual(['s1']);

    const last = plan('rolling-back', sequence([succeeded(), { status: 'rolled-back', attempts: 2 }, { status: 'rolled-back' }, { status: 'rolled-back' }]));
    expect(callIds(last)).toEqual(['s1']);
    expect(last.waiting).toEqual([]);
  });

  it('a pending step never called whose prerequisites all succeeded is compensated: a lost round may have called it', () => {
    const p = plan('rolling-back', sequence([succeeded(), {}, {}, {}]));
    expect(callIds(p)).toEqual(['s2']);
    expect(idsOf(p.skips)).toEqual(['s3', 's4']);
    expect(idsOf(p.waiting)).toEqual(['s1']);
  });

  it('in a graph: the dependents of a step are undone before it; a join whose prerequisites did not all succeed is skipped', () => {
    const p = plan('rolling-back', diamond({ a: succeeded(), b: succeeded(), c: { attempts: 1, lastError: 'HTTP 409' } }));
    expect(callIds(p)).toEqual(['b', 'c']);
    expect(idsOf(p.skips)).toEqual(['d']);
    expect(idsOf(p.waiting)).toEqual(['a']);
  });

  it('compensated steps are neither called nor skipped nor waited on; all compensated → nothing to do', () => {
    const p = plan(
      'rolling-back',
      diamond({ a: succeeded(), b: { status: 'rolled-back', attempts: 2 }, c: { status: 'rolled-back' }, d: { status: 'rolled-back' } }),
    );
    expect(callIds(p)).toEqual(['a']);
    expect(p.skips).toEqual([]);
    expect(p.waiting).toEqual([]);
    const done = diamond({ a: { status: 'rolled-back' }, b: { status: 'rolled-back' }, c: { status: 'rolled-back' }, d: { status: 'rolled-back' } });
    expect(plan('rolling-back', done)).toEqual({ direction: 'rolling-back', finalStatus: 'rolled-back', calls: [], skips: [], waiting: [] });
  });

  it('a step with attempts is compensated even if its action never succeeded; none ran at all → all skipped, nothing called', () => {
    expect(callIds(plan('rolling-back', [step('x', [], { attempts: 1 }), step('y', ['x'])]))).toEqual(['x']);
    // Turned back before anything ran: the first step's prerequisites (none) "succeeded", so it may have run.
    const early = plan('rolling-back', sequence());
    expect(callIds(early)).toEqual(['s1']);
    expect(idsOf(early.skips)).toEqual(['s2', 's3', 's4']);
  });
});

describe('afterRound forward', () => {
  const NOW = T0 + 10_000;
  const running = txn();
  const afterRound = (p: PhaseTwoPlan, results: RoundCall[], now = NOW, t = running) => sagaRules.afterRound(t, p, results, now, policy, top);

  it('a 409 turns the saga back, naming the step', () => {
    const p = plan('committing', diamond({ a: succeeded() }));
    expect(afterRound(p, [reply(p, 'b', 'success', 200), reply(p, 'c', 'failure', 409)])).toEqual({
      kind: 'turn',
      to: 'rolling-back',
      reason: 'step c: action refused (HTTP 409)',
    });
  });

  it('a step out of retries (its maxAttempts-th call not a success) turns the saga back; before that it is retried', () => {
    const limited = sequence([{ maxAttempts: 3, attempts: 2 }]);
    const p = plan('committing', limited);
    for (const [outcome, http] of [
      ['unknown', 500],
      ['ongoing', 425],
    ] as const) {
      expect(afterRound(p, [reply(p, 's1', outcome, http, 3)])).toEqual({
        kind: 'turn',
        to: 'rolling-back',
        reason: 'step s1: action failed 3 times, its retry limit is 2',
      });
      expect(afterRound(p, [reply(p, 's1', outcome, http, 2)])).toMatchObject({ kind: 'retry' });
    }
    // A success on the last allowed call is a success.
    expect(afterRound(p, [reply(p, 's1', 'success', 200, 3)])).toEqual({ kind: 'continue' });
    // No limit: retried whatever the attempt.
    const unlimited = plan('committing', sequence());
    expect(afterRound(unlimited, [reply(unlimited, 's1', 'unknown', 500, 50)])).toMatchObject({ kind: 'retry' });
  });

  it('at or past the deadline, a round with steps left turns the saga back for "timeout"', () => {
    const p = plan('committing', sequence());
    for (const now of [DEADLINE, DEADLINE + 1]) {
      expect(afterRound(p, [reply(p, 's1', 'success', 200)], now)).toEqual({ kind: 'turn', to: 'rolling-back', reason: 'timeout' });
      expect(afterRound(p, [reply(p, 's1', 'unknown', 500)], now)).toEqual({ kind: 'turn', to: 'rolling-back', reason: 'timeout' });
    }
    expect(afterRound(p, [reply(p, 's1', 'success', 200)], DEADLINE - 1)).toEqual({ kind: 'continue' });
  });

  it('a refusal is named rather than the deadline when both apply', () => {
    const p = plan('committing', sequence());
    expect(afterRound(p, [reply(p, 's1', 'failure', 409)], DEADLINE + 1)).toMatchObject({ reason: 'step s1: action refused (HTTP 409)' });
  });

  it('every call succeeded and steps wait → continue; none wait → finish committed', () => {
    const p = plan('committing', diamond({ a: succeeded() }));
    expect(afterRound(p, [reply(p, 'b', 'success', 200), reply(p, 'c', 'success', 200)])).toEqual({ kind: 'continue' });
    const last = plan('committing', diamond({ a: succeeded(), b: succeeded(), c: succeeded() }));
    expect(afterRound(last, [reply(last, 'd', 'success', 200)])).toEqual({ kind: 'finish', status: 'committed' });
  });

  it('the round that completes every step finishes committed even when it ends past the deadline (nothing is left to turn back for)', () => {
    const last = plan('committing', sequence([succeeded(), succeeded(), succeeded()]));
    expect(afterRound(last, [reply(last, 's4', 'success', 200)], DEADLINE + 1)).toEqual({ kind: 'finish', status: 'committed' });
  });

  it('an unknown reply → retry with the backoff, the next try capped at the deadline', () => {
    const p = plan('committing', sequence());
    const early = afterRound(p, [reply(p, 's1', 'unknown', 500)]);
    expect(early).toEqual({ kind: 'retry', retryCount: 1, nextRetryAt: NOW + retryDelayMs(1, policy, top), needsAttention: false, attentionReason: null });
    const late = afterRound(p, [reply(p, 's1', 'unknown', 500)], DEADLINE - 10, txn({ retryCount: 4 }));
    expect(late).toMatchObject({ kind: 'retry', retryCount: 5, nextRetryAt: DEADLINE });
    // An ongoing reply keeps the base interval, capped as well.
    expect(afterRound(p, [reply(p, 's1', 'ongoing', 425)], DEADLINE - 10)).toMatchObject({ kind: 'retry', retryCount: 0, nextRetryAt: DEADLINE });
  });

  it('steps left that none can run (a hand-edited log) → retry, flagged for the operator once', () => {
    const stuck: PhaseTwoPlan = { ...plan('committing', sequence()), calls: [], waiting: sequence() };
    const decision = afterRound(stuck, []);
    expect(decision).toMatchObject({ kind: 'retry', retryCount: 1, needsAttention: true });
    if (decision.kind === 'retry') expect(decision.attentionReason).toContain('s1, s2, s3, s4');
    expect(afterRound(stuck, [], NOW, txn({ needsAttention: true, attentionReason: 'x' }))).toMatchObject({ needsAttention: true, attentionReason: null });
  });
});

describe('afterRound backward', () => {
  const NOW = T0 + 10_000;
  const compensating = txn({ status: 'rolling-back', reason: 'step s3: action refused (HTTP 409)' });
  const afterRound = (p: PhaseTwoPlan, results: RoundCall[], now = NOW, t = compensating) => sagaRules.afterRound(t, p, results, now, policy, top);
  const turned = () => plan('rolling-back', sequence([succeeded(), succeeded(), { attempts: 1 }, {}]));

  it('a compensation refused (409) is retried and flagged for the operator, never abandoned', () => {
    const p = turned();
    const decision = afterRound(p, [reply(p, 's3', 'failure', 409)]);
    expect(decision).toMatchObject({ kind: 'retry', retryCount: 1, needsAttention: true });
    if (decision.kind === 'retry') expect(decision.attentionReason).toBe('branch s3 refused compensate (HTTP 409); compensate must eventually succeed');
  });

  it('past the deadline it does not turn again: it retries, and the retry is not capped at the deadline', () => {
    const p = turned();
    expect(afterRound(p, [reply(p, 's3', 'unknown', 500)], DEADLINE + 5)).toEqual({
      kind: 'retry',
      retryCount: 1,
      nextRetryAt: DEADLINE + 5 + retryDelayMs(1, policy, top),
      needsAttention: false,
      attentionReason: null,
    });
    expect(afterRound(p, [reply(p, 's3', 'success', 200)], DEADLINE + 5)).toEqual({ kind: 'continue' });
  });

  it('every call succeeded with steps left → continue; none left → finish rolled-back', () => {
    const p = turned();
    expect(afterRound(p, [reply(p, 's3', 'success', 200)])).toEqual({ kind: 'continue' });
    const last = plan('rolling-back', sequence([succeeded(), { status: 'rolled-back' }, { status: 'rolled-back' }, { status: 'rolled-back' }]));
    expect(afterRound(last, [reply(last, 's1', 'success', 200)])).toEqual({ kind: 'finish', status: 'rolled-back' });
  });

  it('a round of skips alone goes on (or finishes when nothing is left)', () => {
    const skipsOnly: PhaseTwoPlan = { ...turned(), calls: [] };
    expect(afterRound(skipsOnly, [])).toEqual({ kind: 'continue' });
    const lastSkips: PhaseTwoPlan = { ...skipsOnly, waiting: [] };
    expect(afterRound(lastSkips, [])).toEqual({ kind: 'finish', status: 'rolled-back' });
  });
});

/** Runs `fn` and returns what it returned or the refusal it threw (anything else thrown fails the test). */
function outcomeOf<T>(fn: () => T): T | TransactionRefusedError {
  try {
    return fn();
  } catch (error) {
    expect(error).toBeInstanceOf(TransactionRefusedError);
    return error as TransactionRefusedError;
  }
}

describe('explainSubmit, explainAbort, checkForceAbort, recoveryStep in every status', () => {
  it('submit: open → committing guarded by open; explainSubmit: decide when open, already when running or succeeded, else ILLEGAL_STATE', () => {
    expect(sagaRules.submit(T0)).toEqual({ to: 'committing', guard: { from: 'open' } });
    expect(sagaRules.explainSubmit(txn({ status: 'open' }), T0)).toEqual({ kind: 'decide', transition: { to: 'committing', guard: { from: 'open' } } });
    expect(sagaRules.explainSubmit(txn({ status: 'committing' }), DEADLINE + 1)).toEqual({ kind: 'already', status: 'committing' });
    expect(sagaRules.explainSubmit(txn({ status: 'committed' }), T0)).toEqual({ kind: 'already', status: 'committed' });
    for (const status of ['rolling-back', 'rolled-back'] as const) {
      const error = expectRefused(() => sagaRules.explainSubmit(txn({ status, reason: 'step b: action refused (HTTP 409)' }), T0), 'ILLEGAL_STATE');
      expect(error).toMatchObject({ gid: 'gid-1', status: SAGA_WORD[status] });
      expect(error.message).toContain('step b: action refused (HTTP 409)');
      expectRefused(() => sagaRules.explainSubmit(txn({ status, reason: null }), T0), 'ILLEGAL_STATE');
    }
  });

  it('abort: running → compensating guarded by running; explainAbort: decide when running, already when compensating or compensated, else ILLEGAL_STATE', () => {
    expect(sagaRules.abort(T0)).toEqual({ to: 'rolling-back', guard: { from: 'committing' } });
    const expected: Record<GlobalStatus, string> = {
      open: 'ILLEGAL_STATE',
      committing: 'decide',
      'rolling-back': 'already',
      committed: 'ILLEGAL_STATE',
      'rolled-back': 'already',
    };
    for (const status of STATUSES) {
      for (const now of [T0, DEADLINE + 1]) {
        const step = outcomeOf(() => sagaRules.explainAbort(txn({ status }), now));
        if (step instanceof TransactionRefusedError) {
          expect(step.code, status).toBe(expected[status]);
          expect(step.status).toBe(SAGA_WORD[status]);
        } else {
          expect(step.kind, status).toBe(expected[status]);
          // A saga never asks a check-back: the kind checked above refuses one.
          if (step.kind === 'decide') expect(step.transition).toEqual(sagaRules.abort(now));
          else if (step.kind === 'already') expect(step.status).toBe(status);
        }
      }
    }
  });

  it('checkForceAbort: allowed only while running (paused or not); otherwise ILLEGAL_STATE carrying the status word', () => {
    for (const status of STATUSES) {
      for (const paused of [false, true]) {
        const result = outcomeOf(() => sagaRules.checkForceAbort(txn({ status, paused })));
        if (status === 'committing') expect(result).toBeUndefined();
        else expect(result).toMatchObject({ code: 'ILLEGAL_STATE', status: SAGA_WORD[status], gid: 'gid-1' });
      }
    }
  });

  it('recoveryStep: running past its deadline turns back; before it runs phase two; compensating always runs phase two; finished → nothing', () => {
    const at = (status: GlobalStatus, now: number) => sagaRules.recoveryStep(txn({ status }), now);
    expect(at('committing', DEADLINE - 1)).toBe('run-phase-two');
    expect(at('committing', DEADLINE)).toBe('abort-timeout');
    expect(at('committing', DEADLINE + 60_000)).toBe('abort-timeout');
    for (const now of [T0, DEADLINE, DEADLINE + 1]) expect(at('rolling-back', now)).toBe('run-phase-two');
    for (const status of ['committed', 'rolled-back'] as const) for (const now of [T0, DEADLINE + 1]) expect(at(status, now)).toBe('nothing');
    expect(at('open', DEADLINE - 1)).toBe('nothing');
    expect(at('open', DEADLINE)).toBe('abort-timeout');
  });
});

describe('property: a saga run to its end', () => {
  /** A reply as a participant gives it; replies drawn past the end of the list are successes, so every run can end. */
  const REPLIES: [RoundCall['outcome'], number | null][] = [
    ['success', 200],
    ['failure', 409],
    ['unknown', 500],
    ['unknown', null],
    ['ongoing', 425],
  ];
  const saga = fc.integer({ min: 1, max: 7 }).chain((size) =>
    fc.record({
      // Each step may depend on any earlier one: always acyclic.
      deps: fc.tuple(...Array.from({ length: size }, (_, i) => fc.subarray(Array.from({ length: i }, (_, j) => j)))),
      limits: fc.array(fc.option(fc.integer({ min: 1, max: 3 })), { minLength: size, maxLength: size }),
      // Weighted to successes, so that some sagas succeed.
      replies: fc.array(fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: REPLIES.length - 1 }) }), {
        maxLength: 40,
      }),
      deadlineMs: fc.integer({ min: 1, max: 20_000 }),
      roundMs: fc.integer({ min: 0, max: 2_000 }),
    }),
  );

  it('actions only after their prerequisites; ends succeeded with every step done, or compensated with every called step undone after its dependents', () => {
    const endings = { committed: 0, 'rolled-back': 0 };
    fc.assert(
      fc.property(saga, ({ deps, limits, replies, deadlineMs, roundMs }) => {
        const deadlineAt = T0 + deadlineMs;
        const dependsOn = new Map(deps.map((d, i) => [`s${i}`, d.map((j) => `s${j}`)]));
        let snapshot: TransactionSnapshot = {
          transaction: txn({ deadlineAt, nextRetryAt: T0 }),
          branches: deps.map((_, i) => step(`s${i}`, dependsOn.get(`s${i}`)!, { maxAttempts: limits[i] ?? null })),
        };
        const actionCalls = new Map<string, number>();
        const compensateCalls: string[] = [];
        /** Steps whose compensation succeeded, in the order they did. */
        const compensations: string[] = [];
        const skipped: string[] = [];
        let next = 0;
        let now = T0;
        const statusOf = (id: string) => snapshot.branches.find((b) => b.branchId === id)!.status;

        for (let round = 0; ; round++) {
          // Termination: each non-final round makes progress or uses up a reply (and forward, a retry or the deadline).
          expect(round).toBeLessThan(500);
          const p = sagaRules.planPhaseTwo(snapshot)!;
          expect(p).not.toBeNull();
          for (const call of p.calls) {
            const id = call.branch.branchId;
            if (call.op === 'action') {
              expect(snapshot.transaction.status).toBe('committing');
              expect(call.branch.status).toBe('pending');
              for (const prerequisite of dependsOn.get(id)!) expect(statusOf(prerequisite), `${id} called before ${prerequisite} succeeded`).toBe('committed');
              actionCalls.set(id, (actionCalls.get(id) ?? 0) + 1);
              if (call.branch.maxAttempts !== null) expect(actionCalls.get(id)!).toBeLessThanOrEqual(call.branch.maxAttempts);
            } else {
              expect(call.op).toBe('compensate');
              expect(call.branch.status).not.toBe('rolled-back');
              // Every step depending on it that was called is undone already.
              for (const [other, prerequisites] of dependsOn) {
                if (prerequisites.includes(id) && actionCalls.has(other)) expect(statusOf(other), `${id} compensated before ${other}`).toBe('rolled-back');
              }
              compensateCalls.push(id);
            }
          }
          skipped.push(...idsOf(p.skips));
          const results: RoundCall[] = p.calls.map(({ branch, op }) => {
            const [outcome, httpStatus] = REPLIES[replies[next++] ?? 0]!;
            return {
              branchId: branch.branchId,
              op,
              attempt: branch.attempts + 1,
              outcome,
              httpStatus,
              error: outcome === 'success' ? null : `HTTP ${httpStatus}`,
              completedBefore: branch.completion !== null,
            };
          });
          compensations.push(...results.filter((r) => r.op === 'compensate' && r.outcome === 'success').map((r) => r.branchId));
          const decision = sagaRules.afterRound(snapshot.transaction, p, results, now, policy, Math.random);
          if (decision.kind === 'continue' || decision.kind === 'turn') {
            if (decision.kind === 'turn') expect(p.direction).toBe('committing');
            snapshot = afterRecordedRound(snapshot, p, results, decision, now, now + 30_000);
            now += roundMs;
            continue;
          }
          // A retry or a finish records the round's outcomes as a continue would, then its own schedule or status.
          const recorded = afterRecordedRound(snapshot, p, results, { kind: 'continue' }, now, now);
          if (decision.kind === 'retry') {
            const { retryCount, nextRetryAt, needsAttention } = decision;
            if (p.direction === 'committing') expect(nextRetryAt).toBeLessThanOrEqual(Math.max(deadlineAt, now));
            snapshot = { ...recorded, transaction: { ...recorded.transaction, retryCount, nextRetryAt, needsAttention } };
            now = Math.max(nextRetryAt, now + 1);
            continue;
          }
          snapshot = { ...recorded, transaction: { ...recorded.transaction, status: decision.status } };
          break;
        }

        const { status } = snapshot.transaction;
        if (status === 'committed' || status === 'rolled-back') endings[status]++;
        if (status === 'committed') {
          expect(snapshot.branches.every((b) => b.status === 'committed')).toBe(true);
          expect(compensateCalls).toEqual([]);
          expect(skipped).toEqual([]);
        } else {
          expect(status).toBe('rolled-back');
          expect(snapshot.branches.every((b) => b.status === 'rolled-back')).toBe(true);
          // Every step called is compensated by a call, once; a skipped step was never called.
          for (const id of actionCalls.keys()) expect(compensations.filter((c) => c === id)).toHaveLength(1);
          for (const id of skipped) expect(actionCalls.has(id), `${id} skipped though called`).toBe(false);
          expect(new Set([...compensations, ...skipped]).size).toBe(snapshot.branches.length);
          expect(compensations.length + skipped.length).toBe(snapshot.branches.length);
          // A step never called is compensated only if all its prerequisites had succeeded (it may have run, for all the rules know).
          for (const id of compensations.filter((c) => !actionCalls.has(c))) {
            for (const prerequisite of dependsOn.get(id)!) expect(actionCalls.has(prerequisite)).toBe(true);
          }
        }
      }),
      { numRuns: 400 },
    );
    // The runs covered both endings.
    expect(endings.committed).toBeGreaterThan(0);
    expect(endings['rolled-back']).toBeGreaterThan(0);
  });
});
