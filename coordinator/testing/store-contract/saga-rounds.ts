/**
 * The contract of what a saga asks of the store: a begin decided in the
 * same commit, steps read back in the order given with their graph, the
 * rounds that keep the lease (`continue`, `turn`), steps marked done without
 * a call (`skipped`), a second completing call on a step (its compensation),
 * and a later decision (an abort of a running saga) logged as a status event.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { assembleHistory } from '../../domain/history.ts';
import type { RoundCall, RoundDecision } from '../../domain/phase-two.ts';
import type { BranchRegistration, TransactionSnapshot } from '../../domain/transaction.ts';
import type { BeginInput, DecisionInput, TransactionStore } from '../../store/ports/transaction-store.ts';
import { contractOps, gidOf, LEASE_MS, MINUTE, T0, type StoreUnderTest } from './fixtures.ts';

const SAGA_BASE = 'http://127.0.0.1:9/dtx/saga';
/** The lease the begin hands the submitting instance. */
const BEGIN_LEASE = T0 + LEASE_MS;

/** A saga step: its action and compensation, with what the step sets. */
function sagaStep(branchId: string, dependsOn: string[], extra: Partial<BranchRegistration> = {}): BranchRegistration {
  return {
    branchId,
    operations: { action: `${SAGA_BASE}/${branchId}/action`, compensate: `${SAGA_BASE}/${branchId}/compensate` },
    payload: `{"step":"${branchId}"}`,
    dependsOn,
    ...extra,
  };
}

const call = (
  branchId: string,
  op: RoundCall['op'],
  outcome: RoundCall['outcome'],
  httpStatus: number | null,
  attempt = 1,
  completedBefore?: boolean,
): RoundCall => ({
  branchId,
  op,
  outcome,
  httpStatus,
  error: outcome === 'success' ? null : `HTTP ${httpStatus}`,
  attempt,
  ...(completedBefore === undefined ? {} : { completedBefore }),
});

const REFUSED = 'step b: action refused (HTTP 409)';

export function sagaRoundsContract(open: () => StoreUnderTest): void {
  let store: TransactionStore;
  beforeAll(() => {
    ({ store } = open());
  });
  const { round } = contractOps(() => store);

  /** Begins and submits a saga of a → b → c in one commit, leased to owner-a; returns its gid. */
  async function beginSaga(label: string, steps = [sagaStep('a', []), sagaStep('b', ['a']), sagaStep('c', ['b'])]): Promise<string> {
    const gid = gidOf(label);
    const input: BeginInput = {
      gid,
      mode: 'saga',
      now: T0,
      deadlineAt: T0 + MINUTE,
      caller: 'shop',
      branches: steps,
      decision: { to: 'committing', reason: 'checkout', actor: 'shop', owner: 'owner-a', leaseUntil: BEGIN_LEASE },
    };
    expect(await store.begin(input)).toBe('created');
    return gid;
  }

  /** The whole log of `gid` as it stands, to show a refused write left it alone. */
  const logOf = async (gid: string): Promise<[TransactionSnapshot | null, unknown[]]> => [await store.load(gid), await store.events(gid)];

  /** A failed action round that hands the lease back with a failed-rounds count of 1, then owner-a claims it again when due. */
  async function failOnceAndReclaim(gid: string, branchId: string, op: RoundCall['op'], from: 'committing' | 'rolling-back' = 'committing'): Promise<void> {
    const retry: RoundDecision = { kind: 'retry', retryCount: 1, nextRetryAt: T0 + 5_000, needsAttention: false, attentionReason: null };
    expect(await store.recordRound(round(gid, [call(branchId, op, 'unknown', 500)], retry, { from, now: T0 + 1_000 }))).toBe(true);
    expect((await store.load(gid))!.transaction).toMatchObject({ retryCount: 1, leaseOwner: null });
    expect(await store.claim(gid, 'owner-a', T0 + 5_000, T0 + 5_000 + LEASE_MS)).not.toBeNull();
  }

  describe('saga: begin decided in the same commit', () => {
    it('starts committing with the decision on the row, leased and due at the lease end; steps in the order given with their graph', async () => {
      const steps = [
        sagaStep('zeta', []),
        sagaStep('alpha', ['zeta'], { maxAttempts: 3, callTimeoutMs: 2_500 }),
        sagaStep('mid', ['zeta', 'alpha'], { opPayloads: { compensate: '{"undo":"mid"}' } }),
        sagaStep('free', []),
      ];
      const gid = await beginSaga('saga-begin', steps);
      const snapshot = (await store.load(gid))!;
      expect(snapshot.transaction).toMatchObject({
        gid,
        mode: 'saga',
        status: 'committing',
        reason: 'checkout',
        caller: 'shop',
        createdAt: T0,
        updatedAt: T0,
        deadlineAt: T0 + MINUTE,
        decidedAt: T0,
        decidedBy: 'shop',
        finishedAt: null,
        retryCount: 0,
        leaseOwner: 'owner-a',
        leaseUntil: BEGIN_LEASE,
        nextRetryAt: BEGIN_LEASE,
        needsAttention: false,
        paused: false,
      });
      expect(
        snapshot.branches.map((b) => [b.branchId, b.dependsOn, b.opPayloads, b.maxAttempts, b.callTimeoutMs, b.status, b.attempts, b.registeredBy]),
      ).toEqual([
        ['zeta', [], null, null, null, 'pending', 0, 'shop'],
        ['alpha', ['zeta'], null, 3, 2_500, 'pending', 0, 'shop'],
        ['mid', ['zeta', 'alpha'], { compensate: '{"undo":"mid"}' }, null, null, 'pending', 0, 'shop'],
        ['free', [], null, null, null, 'pending', 0, 'shop'],
      ]);
      expect(snapshot.branches[0]).toMatchObject({
        operations: { action: `${SAGA_BASE}/zeta/action`, compensate: `${SAGA_BASE}/zeta/compensate` },
        payload: '{"step":"zeta"}',
        participant: 'http://127.0.0.1:9',
        completion: null,
      });
      expect(Object.keys(snapshot.branches[0]!.operations)).toEqual(['action', 'compensate']);
      // No event rows: the history reads the begin, the steps and the decision from the rows.
      expect(await store.events(gid)).toEqual([]);
      expect(await store.decisionTime(gid)).toBe(T0);
      expect(
        assembleHistory(snapshot, [])
          .filter((e) => e.kind === 'status')
          .map((e) => [e.fromStatus, e.toStatus, e.message, e.actor, e.at]),
      ).toEqual([['open', 'committing', 'checkout', 'shop', T0]]);
    });

    it('the lease is the submitter’s until it ends: another instance cannot claim it before', async () => {
      const gid = await beginSaga('saga-begin-lease');
      expect(await store.claim(gid, 'owner-b', BEGIN_LEASE - 1, BEGIN_LEASE - 1 + LEASE_MS)).toBeNull();
      expect((await store.claim(gid, 'owner-b', BEGIN_LEASE, BEGIN_LEASE + LEASE_MS))?.transaction).toMatchObject({
        leaseOwner: 'owner-b',
        status: 'committing',
      });
    });

    it('a second begin of the same gid is `exists` and writes nothing', async () => {
      const gid = await beginSaga('saga-begin-twice');
      const before = await logOf(gid);
      const again: BeginInput = {
        gid,
        mode: 'saga',
        now: T0 + 5,
        deadlineAt: T0 + 2 * MINUTE,
        caller: 'other',
        branches: [sagaStep('x', [])],
        decision: { to: 'committing', reason: 'again', actor: 'other', owner: 'owner-b', leaseUntil: T0 + 99_000 },
      };
      expect(await store.begin(again)).toBe('exists');
      expect(await logOf(gid)).toEqual(before);
    });
  });

  describe('saga: rounds that keep the lease', () => {
    it('continue: outcomes recorded, the lease kept and extended (due then), the failed-rounds count reset; no status change, no event', async () => {
      const gid = await beginSaga('saga-continue');
      await failOnceAndReclaim(gid, 'a', 'action');
      const eventsBefore = await store.events(gid);
      expect(
        await store.recordRound(round(gid, [call('a', 'action', 'success', 200, 2)], { kind: 'continue' }, { now: T0 + 6_000, leaseUntil: T0 + 50_000 })),
      ).toBe(true);
      const snapshot = (await store.load(gid))!;
      expect(snapshot.transaction).toMatchObject({
        status: 'committing',
        retryCount: 0,
        updatedAt: T0 + 6_000,
        leaseOwner: 'owner-a',
        leaseUntil: T0 + 50_000,
        nextRetryAt: T0 + 50_000,
        finishedAt: null,
        decidedAt: T0,
        reason: 'checkout',
      });
      expect(snapshot.branches.map((b) => [b.branchId, b.status, b.attempts, b.lastError, b.completion])).toEqual([
        ['a', 'committed', 2, null, { op: 'action', attempt: 2, httpStatus: 200, at: T0 + 6_000 }],
        ['b', 'pending', 0, null, null],
        ['c', 'pending', 0, null, null],
      ]);
      expect(await store.events(gid)).toEqual(eventsBefore);
      // Still the owner's: another instance cannot claim it, and the owner records its next round.
      expect(await store.claim(gid, 'owner-b', T0 + 49_999, T0 + 90_000)).toBeNull();
      expect(
        await store.recordRound(round(gid, [call('b', 'action', 'success', 200)], { kind: 'continue' }, { now: T0 + 7_000, leaseUntil: T0 + 51_000 })),
      ).toBe(true);
    });

    it('turn: the new status and its reason, one status event by the coordinator, the lease kept; the first decision stays on the row', async () => {
      const gid = await beginSaga('saga-turn');
      await failOnceAndReclaim(gid, 'a', 'action');
      expect(
        await store.recordRound(round(gid, [call('a', 'action', 'success', 200, 2)], { kind: 'continue' }, { now: T0 + 6_000, leaseUntil: T0 + 50_000 })),
      ).toBe(true);
      const turn: RoundDecision = { kind: 'turn', to: 'rolling-back', reason: REFUSED };
      expect(await store.recordRound(round(gid, [call('b', 'action', 'failure', 409)], turn, { now: T0 + 7_000, leaseUntil: T0 + 52_000 }))).toBe(true);
      const snapshot = (await store.load(gid))!;
      expect(snapshot.transaction).toMatchObject({
        status: 'rolling-back',
        reason: REFUSED,
        retryCount: 0,
        updatedAt: T0 + 7_000,
        leaseOwner: 'owner-a',
        leaseUntil: T0 + 52_000,
        nextRetryAt: T0 + 52_000,
        decidedAt: T0,
        decidedBy: 'shop',
        finishedAt: null,
      });
      expect(snapshot.branches.map((b) => [b.branchId, b.status, b.attempts, b.lastError])).toEqual([
        ['a', 'committed', 2, null],
        ['b', 'pending', 1, 'HTTP 409'],
        ['c', 'pending', 0, null],
      ]);
      const events = await store.events(gid);
      const statusEvents = events.filter((e) => e.kind === 'status');
      expect(statusEvents.map((e) => [e.fromStatus, e.toStatus, e.message, e.actor, e.at])).toEqual([
        ['committing', 'rolling-back', REFUSED, 'coordinator', T0 + 7_000],
      ]);
      expect(events.slice(-2).map((e) => [e.kind, e.branchId, e.op, e.outcome])).toEqual([
        ['branch-call', 'b', 'action', 'failure'],
        ['status', null, null, null],
      ]);
      expect(await store.decisionTime(gid)).toBe(T0);
      // The owner goes on backward under the lease it kept.
      expect(
        await store.recordRound(
          round(gid, [call('b', 'compensate', 'success', 200)], { kind: 'continue' }, { from: 'rolling-back', now: T0 + 8_000, leaseUntil: T0 + 53_000 }),
        ),
      ).toBe(true);
    });

    it('skipped: steps marked done without a call, an event each; they count as done for the finish', async () => {
      const gid = await beginSaga('saga-skipped');
      expect(
        await store.recordRound(round(gid, [call('a', 'action', 'success', 200)], { kind: 'continue' }, { now: T0 + 1_000, leaseUntil: T0 + 40_000 })),
      ).toBe(true);
      const turn: RoundDecision = { kind: 'turn', to: 'rolling-back', reason: REFUSED };
      expect(await store.recordRound(round(gid, [call('b', 'action', 'failure', 409)], turn, { now: T0 + 2_000, leaseUntil: T0 + 41_000 }))).toBe(true);
      const backward = { from: 'rolling-back' as const, now: T0 + 3_000, leaseUntil: T0 + 42_000 };
      // c never ran: skipped while b is compensated.
      expect(
        await store.recordRound(
          round(gid, [call('b', 'compensate', 'success', 200, 2)], { kind: 'continue' }, { ...backward, skipped: [{ branchId: 'c', op: 'compensate' }] }),
        ),
      ).toBe(true);
      const snapshot = (await store.load(gid))!;
      expect(snapshot.branches.map((b) => [b.branchId, b.status, b.attempts, b.completion?.op ?? null])).toEqual([
        ['a', 'committed', 1, 'action'],
        ['b', 'rolled-back', 2, 'compensate'],
        ['c', 'rolled-back', 0, null],
      ]);
      expect(snapshot.branches[2]!.updatedAt).toBe(T0 + 3_000);
      const skips = (await store.events(gid)).filter((e) => e.outcome === 'skipped');
      expect(skips.map((e) => [e.kind, e.branchId, e.op, e.outcome, e.at])).toEqual([['branch-call', 'c', 'compensate', 'skipped', T0 + 3_000]]);
      // The finish guard counts c as done: compensating a (the last step) finishes.
      const finish: RoundDecision = { kind: 'finish', status: 'rolled-back' };
      expect(await store.recordRound(round(gid, [call('a', 'compensate', 'success', 200, 2, true)], finish, { ...backward, now: T0 + 4_000 }))).toBe(true);
      expect((await store.load(gid))!.transaction).toMatchObject({ status: 'rolled-back', finishedAt: T0 + 4_000, leaseOwner: null, nextRetryAt: null });
    });

    it('a finish whose skips are the last steps not done: the skips make it done in the same commit', async () => {
      const gid = await beginSaga('saga-skip-finish', [sagaStep('a', []), sagaStep('b', ['a'])]);
      expect(
        await store.recordRound(
          round(gid, [call('a', 'action', 'failure', 409)], { kind: 'turn', to: 'rolling-back', reason: 'step a: action refused (HTTP 409)' }),
        ),
      ).toBe(true);
      const finish: RoundDecision = { kind: 'finish', status: 'rolled-back' };
      const backward = { from: 'rolling-back' as const, now: T0 + 3_000 };
      // Without the skip, b is still pending: refused, nothing written.
      const before = await logOf(gid);
      expect(await store.recordRound(round(gid, [call('a', 'compensate', 'success', 200, 2)], finish, backward))).toBe(false);
      expect(await logOf(gid)).toEqual(before);
      expect(
        await store.recordRound(
          round(gid, [call('a', 'compensate', 'success', 200, 2)], finish, { ...backward, skipped: [{ branchId: 'b', op: 'compensate' }] }),
        ),
      ).toBe(true);
      const snapshot = (await store.load(gid))!;
      expect(snapshot.transaction.status).toBe('rolled-back');
      expect(snapshot.branches.map((b) => b.status)).toEqual(['rolled-back', 'rolled-back']);
    });

    it('a success on a step already completed (its compensation) is an event; the row keeps the first completion', async () => {
      const gid = await beginSaga('saga-completed-before', [sagaStep('a', []), sagaStep('b', ['a'])]);
      expect(
        await store.recordRound(round(gid, [call('a', 'action', 'success', 201)], { kind: 'continue' }, { now: T0 + 1_000, leaseUntil: T0 + 40_000 })),
      ).toBe(true);
      expect(
        await store.recordRound(
          round(
            gid,
            [call('b', 'action', 'failure', 409)],
            { kind: 'turn', to: 'rolling-back', reason: REFUSED },
            { now: T0 + 2_000, leaseUntil: T0 + 41_000 },
          ),
        ),
      ).toBe(true);
      const backward = { from: 'rolling-back' as const, leaseUntil: T0 + 42_000 };
      expect(await store.recordRound(round(gid, [call('b', 'compensate', 'success', 200, 2)], { kind: 'continue' }, { ...backward, now: T0 + 3_000 }))).toBe(
        true,
      );
      expect(
        await store.recordRound(
          round(gid, [call('a', 'compensate', 'success', 204, 2, true)], { kind: 'finish', status: 'rolled-back' }, { ...backward, now: T0 + 4_000 }),
        ),
      ).toBe(true);
      const snapshot = (await store.load(gid))!;
      expect(snapshot.branches.map((b) => [b.branchId, b.status, b.attempts, b.completion])).toEqual([
        ['a', 'rolled-back', 2, { op: 'action', attempt: 1, httpStatus: 201, at: T0 + 1_000 }],
        ['b', 'rolled-back', 2, { op: 'compensate', attempt: 2, httpStatus: 200, at: T0 + 3_000 }],
      ]);
      const events = await store.events(gid);
      expect(events.filter((e) => e.kind === 'branch-call' && e.outcome === 'success').map((e) => [e.branchId, e.op, e.attempt, e.message, e.at])).toEqual([
        ['a', 'compensate', 2, 'HTTP 204', T0 + 4_000],
      ]);
      // The history shows both of a's completing calls, each once.
      const calls = assembleHistory(snapshot, events).filter((e) => e.kind === 'branch-call' && e.outcome === 'success');
      expect(calls.map((e) => [e.branchId, e.op, e.attempt])).toEqual([
        ['a', 'action', 1],
        ['b', 'compensate', 2],
        ['a', 'compensate', 2],
      ]);
    });
  });

  describe('saga: a later decision', () => {
    const abort = (gid: string, overrides: Partial<DecisionInput> = {}): DecisionInput => ({
      gid,
      to: 'rolling-back',
      guard: { from: 'committing' },
      reason: 'customer cancelled',
      now: T0 + 6_000,
      owner: 'owner-b',
      leaseUntil: T0 + 6_000 + LEASE_MS,
      actor: 'ops',
      ...overrides,
    });

    it('decide from committing: a status event, decided_at/decided_by kept, the failed-rounds count reset, the lease taken', async () => {
      const gid = await beginSaga('saga-decide');
      await failOnceAndReclaim(gid, 'a', 'action');
      // A retry again, so the count is 1 and the lease free when the abort comes.
      const retry: RoundDecision = { kind: 'retry', retryCount: 1, nextRetryAt: T0 + 9_000, needsAttention: false, attentionReason: null };
      expect(await store.recordRound(round(gid, [call('a', 'action', 'unknown', 500, 2)], retry, { now: T0 + 5_500 }))).toBe(true);
      const decided = await store.decide(abort(gid));
      expect(decided?.transaction).toMatchObject({
        status: 'rolling-back',
        reason: 'customer cancelled',
        decidedAt: T0,
        decidedBy: 'shop',
        retryCount: 0,
        updatedAt: T0 + 6_000,
        leaseOwner: 'owner-b',
        leaseUntil: T0 + 6_000 + LEASE_MS,
        nextRetryAt: T0 + 6_000 + LEASE_MS,
      });
      expect(await store.load(gid)).toEqual(decided);
      const statusEvents = (await store.events(gid)).filter((e) => e.kind === 'status');
      expect(statusEvents.map((e) => [e.fromStatus, e.toStatus, e.message, e.actor, e.at])).toEqual([
        ['committing', 'rolling-back', 'customer cancelled', 'ops', T0 + 6_000],
      ]);
      expect(await store.decisionTime(gid)).toBe(T0);
      // The history: the first decision from the row (open → committing), then the abort's row.
      const history = assembleHistory(decided!, await store.events(gid)).filter((e) => e.kind === 'status');
      expect(history.map((e) => [e.fromStatus, e.toStatus, e.actor])).toEqual([
        ['open', 'committing', 'shop'],
        ['committing', 'rolling-back', 'ops'],
      ]);
    });

    it('an abort while the running owner holds the lease wins; that owner’s round is then refused, forward or backward', async () => {
      const gid = await beginSaga('saga-abort-race');
      const decided = await store.decide(abort(gid, { now: T0 + 1_000, leaseUntil: T0 + 1_000 + LEASE_MS }));
      expect(decided?.transaction).toMatchObject({ status: 'rolling-back', leaseOwner: 'owner-b' });
      const before = await logOf(gid);
      expect(await store.recordRound(round(gid, [call('a', 'action', 'success', 200)], { kind: 'continue' }))).toBe(false);
      expect(await store.recordRound(round(gid, [call('a', 'compensate', 'success', 200)], { kind: 'continue' }, { from: 'rolling-back' }))).toBe(false);
      expect(await logOf(gid)).toEqual(before);
    });

    it('refused, writing nothing, when the status is not the guard’s', async () => {
      const gid = await beginSaga('saga-decide-refused');
      expect(
        await store.recordRound(
          round(gid, [call('a', 'action', 'failure', 409)], { kind: 'turn', to: 'rolling-back', reason: 'step a: action refused (HTTP 409)' }),
        ),
      ).toBe(true);
      const before = await logOf(gid);
      expect(await store.decide(abort(gid))).toBeNull();
      expect(await store.decide(abort(gid, { guard: { from: 'open' }, to: 'committing' }))).toBeNull();
      expect(await logOf(gid)).toEqual(before);
    });
  });

  describe('saga: rounds refused by the lease or status guard write nothing', () => {
    it('continue, turn and skips by another owner, or under another status, are refused', async () => {
      const gid = await beginSaga('saga-round-refused');
      const before = await logOf(gid);
      const turn: RoundDecision = { kind: 'turn', to: 'rolling-back', reason: REFUSED };
      const refused = [
        round(gid, [call('a', 'action', 'success', 200)], { kind: 'continue' }, { owner: 'owner-b' }),
        round(gid, [call('a', 'action', 'success', 200)], { kind: 'continue' }, { from: 'rolling-back' }),
        round(gid, [call('a', 'action', 'failure', 409)], turn, { owner: 'owner-b' }),
        round(gid, [call('a', 'action', 'failure', 409)], { ...turn, to: 'committing' }, { from: 'rolling-back' }),
        round(gid, [], { kind: 'continue' }, { owner: 'owner-b', skipped: [{ branchId: 'c', op: 'compensate' }] }),
        round(gid, [], { kind: 'continue' }, { from: 'rolling-back', skipped: [{ branchId: 'c', op: 'compensate' }] }),
      ];
      for (const record of refused) expect(await store.recordRound(record), `${record.decision.kind} as ${record.owner} from ${record.from}`).toBe(false);
      expect(await logOf(gid)).toEqual(before);
      // Once the lease expired and another instance claimed it, the first owner's rounds are refused too.
      expect(await store.claim(gid, 'owner-b', BEGIN_LEASE, BEGIN_LEASE + LEASE_MS)).not.toBeNull();
      const claimed = await logOf(gid);
      expect(await store.recordRound(round(gid, [call('a', 'action', 'success', 200)], { kind: 'continue' }, { now: BEGIN_LEASE + 1 }))).toBe(false);
      expect(await store.recordRound(round(gid, [call('a', 'action', 'failure', 409)], turn, { now: BEGIN_LEASE + 1 }))).toBe(false);
      expect(await logOf(gid)).toEqual(claimed);
    });
  });
}
