/**
 * The contract of claim, recordRound, load, events and decisionTime.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { AdminStore } from '../../store/ports/admin-store.ts';
import { assembleHistory } from '../../domain/history.ts';
import { decidePause as pause, decideResume as resume, decideRetryNow as retryNow } from '../../domain/operator-decisions.ts';
import type { RoundDecision } from '../../domain/phase-two.ts';
import type { GlobalTransaction } from '../../domain/transaction.ts';
import { TCC_WORDS } from '../../modes/tcc/tcc-words.ts';
import type { TransactionStore } from '../../store/ports/transaction-store.ts';
import { BASE, contractOps, operatorChange, gidOf, ids, LEASE_MS, MINUTE, registration, T0, type StoreUnderTest } from './fixtures.ts';

const decidePause = (txn: GlobalTransaction) => pause(txn, TCC_WORDS);
const decideResume = (txn: GlobalTransaction, now: number) => resume(txn, now, TCC_WORDS);
const decideRetryNow = (txn: GlobalTransaction, now: number) => retryNow(txn, now, TCC_WORDS);

export function roundsContract(open: () => StoreUnderTest): void {
  let store: TransactionStore;
  let adminStore: AdminStore;
  beforeAll(() => {
    ({ store, adminStore } = open());
  });
  const { begin, decision, register, success, failure, round, audit } = contractOps(() => store);

  describe('claim', () => {
    it('takes a due transaction with a free lease and pushes its due time to the lease end', async () => {
      const gid = gidOf('claim');
      await begin(gid, ['01']);
      // Due at its deadline (T0 + 1 min).
      expect(await store.claim(gid, 'owner-a', T0 + MINUTE - 1, T0 + 2 * MINUTE)).toBeNull();
      const claimed = await store.claim(gid, 'owner-a', T0 + MINUTE, T0 + 2 * MINUTE);
      expect(claimed?.transaction).toMatchObject({ status: 'open', leaseOwner: 'owner-a', leaseUntil: T0 + 2 * MINUTE, nextRetryAt: T0 + 2 * MINUTE });
      expect(ids(claimed)).toEqual(['01']);
    });

    it('refuses while another owner holds the lease, and takes it once the lease expired', async () => {
      const gid = gidOf('claim-lease');
      await begin(gid, ['01']);
      const decided = await store.decide(decision(gid));
      const leaseUntil = decided!.transaction.leaseUntil!;
      // An operator makes it due now while owner-a still holds the lease.
      await operatorChange({ store, adminStore }, audit(gid, 'retry'), (snapshot) => decideRetryNow(snapshot.transaction, T0 + 1_500));
      expect(await store.claim(gid, 'owner-b', T0 + 1_500, T0 + 1_500 + LEASE_MS)).toBeNull();
      expect(await store.claim(gid, 'owner-b', leaseUntil - 1, leaseUntil - 1 + LEASE_MS)).toBeNull();
      const taken = await store.claim(gid, 'owner-b', leaseUntil, leaseUntil + LEASE_MS);
      expect(taken?.transaction).toMatchObject({ leaseOwner: 'owner-b', leaseUntil: leaseUntil + LEASE_MS });
    });

    it('refuses a paused transaction until it is resumed, and a finished or unknown one', async () => {
      const gid = gidOf('claim-paused');
      await begin(gid, ['01']);
      await store.decide(decision(gid));
      await operatorChange({ store, adminStore }, audit(gid, 'pause'), (snapshot) => decidePause(snapshot.transaction));
      const far = T0 + 100 * MINUTE;
      expect(await store.claim(gid, 'owner-b', far, far + LEASE_MS)).toBeNull();
      await operatorChange({ store, adminStore }, audit(gid, 'resume'), (snapshot) => decideResume(snapshot.transaction, far));
      const claimed = await store.claim(gid, 'owner-b', far, far + LEASE_MS);
      expect(claimed?.transaction.leaseOwner).toBe('owner-b');
      expect(await store.recordRound(round(gid, [success('01')], { kind: 'finish', status: 'committed' }, { owner: 'owner-b', now: far + 1 }))).toBe(true);
      expect(await store.claim(gid, 'owner-c', far + 10 * LEASE_MS, far + 11 * LEASE_MS)).toBeNull();
      expect(await store.claim(gidOf('nobody'), 'owner-c', far, far + LEASE_MS)).toBeNull();
    });
  });

  describe('applyOperatorChange', () => {
    it('is refused as stale, writing nothing, when the transaction changed since it was loaded; null for an unknown gid', async () => {
      const gid = gidOf('operator-stale');
      await begin(gid, ['01']);
      await store.decide(decision(gid));
      const loaded = (await store.load(gid))!;
      // A phase-two round records meanwhile (the lease owner's retry schedule).
      const retry: RoundDecision = { kind: 'retry', retryCount: 1, nextRetryAt: T0 + 5_000, needsAttention: false, attentionReason: null };
      expect(await store.recordRound(round(gid, [failure('01', 'HTTP 500')], retry))).toBe(true);
      const eventsBefore = (await store.events(gid)).length;
      expect(await adminStore.applyOperatorChange({ before: loaded, change: decidePause(loaded.transaction), audit: audit(gid, 'pause') })).toBe('stale');
      expect((await store.load(gid))!.transaction.paused).toBe(false);
      expect((await store.events(gid)).length).toBe(eventsBefore);
      // Decided again on a fresh load, it applies.
      const after = await operatorChange({ store, adminStore }, audit(gid, 'pause'), (snapshot) => decidePause(snapshot.transaction));
      expect(after.transaction.paused).toBe(true);
      const nobody = { ...loaded, transaction: { ...loaded.transaction, gid: gidOf('nobody') } };
      expect(
        await adminStore.applyOperatorChange({ before: nobody, change: decidePause(nobody.transaction), audit: audit(nobody.transaction.gid, 'pause') }),
      ).toBeNull();
    });
  });

  describe('recordRound', () => {
    it('finish: branch outcomes and completing calls, the terminal status, lease released; no event rows', async () => {
      const gid = gidOf('finish');
      await begin(gid, ['01', '02']);
      await store.decide(decision(gid));
      expect(await store.recordRound(round(gid, [success('01'), success('02')], { kind: 'finish', status: 'committed' }))).toBe(true);
      const snapshot = await store.load(gid);
      expect(snapshot?.transaction).toMatchObject({
        status: 'committed',
        finishedAt: T0 + 2_000,
        updatedAt: T0 + 2_000,
        nextRetryAt: null,
        leaseOwner: null,
        leaseUntil: null,
        needsAttention: false,
      });
      expect(snapshot?.branches.map((b) => [b.branchId, b.status, b.attempts, b.lastError])).toEqual([
        ['01', 'committed', 1, null],
        ['02', 'committed', 1, null],
      ]);
      // Each branch's completing call is on its row.
      expect(snapshot?.branches.map((b) => b.completion)).toEqual([
        { op: 'confirm', attempt: 1, httpStatus: 200, at: T0 + 2_000 },
        { op: 'confirm', attempt: 1, httpStatus: 200, at: T0 + 2_000 },
      ]);
      // The happy path wrote no event rows; the history reads the calls and the finish from the rows.
      const events = await store.events(gid);
      expect(events).toEqual([]);
      expect(
        assembleHistory(snapshot!, events)
          .slice(-3)
          .map((e) => [e.kind, e.branchId, e.op, e.outcome, e.attempt, e.fromStatus, e.toStatus, e.at]),
      ).toEqual([
        ['branch-call', '01', 'confirm', 'success', 1, null, null, T0 + 2_000],
        ['branch-call', '02', 'confirm', 'success', 1, null, null, T0 + 2_000],
        ['status', null, null, null, null, 'committing', 'committed', T0 + 2_000],
      ]);
      // Decided, not re-decided: the decision time stays.
      expect(await store.decisionTime(gid)).toBe(T0 + 1_000);
    });

    it('retry: the schedule, the flag and its reason, the failed branch attempt and error; lease released', async () => {
      const gid = gidOf('retry');
      await begin(gid, ['01', '02']);
      await store.decide(decision(gid));
      const retry: RoundDecision = { kind: 'retry', retryCount: 1, nextRetryAt: T0 + 9_000, needsAttention: true, attentionReason: 'confirm failed' };
      expect(await store.recordRound(round(gid, [success('01'), failure('02', 'HTTP 500: boom')], retry))).toBe(true);
      const snapshot = await store.load(gid);
      expect(snapshot?.transaction).toMatchObject({
        status: 'committing',
        retryCount: 1,
        nextRetryAt: T0 + 9_000,
        needsAttention: true,
        attentionReason: 'confirm failed',
        leaseOwner: null,
        leaseUntil: null,
        finishedAt: null,
      });
      expect(snapshot?.branches.map((b) => [b.branchId, b.status, b.attempts, b.lastError])).toEqual([
        ['01', 'committed', 1, null],
        ['02', 'pending', 1, 'HTTP 500: boom'],
      ]);
      expect(snapshot?.branches.map((b) => b.completion)).toEqual([{ op: 'confirm', attempt: 1, httpStatus: 200, at: T0 + 2_000 }, null]);
      // Rows only for what the rows cannot show: the failed call and the flag.
      const events = await store.events(gid);
      expect(events.map((e) => [e.kind, e.branchId, e.op, e.outcome, e.attempt, e.message])).toEqual([
        ['branch-call', '02', 'confirm', 'failure', 1, 'HTTP 500: boom'],
        ['attention', null, null, null, null, 'confirm failed'],
      ]);
      expect(
        assembleHistory(snapshot!, events)
          .slice(-3)
          .map((e) => [e.kind, e.branchId, e.outcome]),
      ).toEqual([
        ['branch-call', '01', 'success'],
        ['branch-call', '02', 'failure'],
        ['attention', null, null],
      ]);
      // The next round (claimed when due) finishes with the remaining branch.
      expect(await store.claim(gid, 'owner-b', T0 + 9_000, T0 + 9_000 + LEASE_MS)).not.toBeNull();
      expect(await store.recordRound(round(gid, [success('02', 2)], { kind: 'finish', status: 'committed' }, { owner: 'owner-b', now: T0 + 9_500 }))).toBe(
        true,
      );
      const finished = await store.load(gid);
      expect(finished?.branches.map((b) => [b.status, b.attempts])).toEqual([
        ['committed', 1],
        ['committed', 2],
      ]);
      expect(finished?.branches[1]?.completion).toEqual({ op: 'confirm', attempt: 2, httpStatus: 200, at: T0 + 9_500 });
      expect(await store.events(gid)).toEqual(events);
    });

    it('a rollback round keeps each completing call on its branch row: its operation, attempt, reply status (or none) and time', async () => {
      const gid = gidOf('completion');
      await begin(gid, ['01', '02']);
      await store.decide(decision(gid, { to: 'rolling-back', actor: 'ops' }));
      const retry: RoundDecision = { kind: 'retry', retryCount: 1, nextRetryAt: T0 + 9_000, needsAttention: false, attentionReason: null };
      const cancelled = { ...success('01', 1, 'cancel'), httpStatus: 204 };
      expect(await store.recordRound(round(gid, [cancelled, failure('02', 'timeout', 1, 'cancel')], retry, { from: 'rolling-back' }))).toBe(true);
      expect(await store.claim(gid, 'owner-b', T0 + 9_000, T0 + 9_000 + LEASE_MS)).not.toBeNull();
      const noReply = { ...success('02', 2, 'cancel'), httpStatus: null };
      expect(
        await store.recordRound(round(gid, [noReply], { kind: 'finish', status: 'rolled-back' }, { owner: 'owner-b', from: 'rolling-back', now: T0 + 9_500 })),
      ).toBe(true);
      const snapshot = (await store.load(gid))!;
      expect(snapshot.transaction).toMatchObject({ status: 'rolled-back', decidedBy: 'ops', finishedAt: T0 + 9_500 });
      expect(snapshot.branches.map((b) => [b.branchId, b.status, b.completion])).toEqual([
        ['01', 'rolled-back', { op: 'cancel', attempt: 1, httpStatus: 204, at: T0 + 2_000 }],
        ['02', 'rolled-back', { op: 'cancel', attempt: 2, httpStatus: null, at: T0 + 9_500 }],
      ]);
      const events = await store.events(gid);
      expect(events.map((e) => [e.kind, e.branchId, e.op, e.outcome])).toEqual([['branch-call', '02', 'cancel', 'failure']]);
      expect(assembleHistory(snapshot, events).map((e) => [e.kind, e.branchId, e.op, e.outcome, e.attempt, e.message, e.toStatus, e.actor])).toEqual([
        ['begin', null, null, null, null, `deadline ${new Date(T0 + MINUTE).toISOString()}`, 'open', 'tests'],
        ['register', '01', null, null, null, `confirm ${BASE}/confirm cancel ${BASE}/cancel`, null, 'tests'],
        ['register', '02', null, null, null, `confirm ${BASE}/confirm cancel ${BASE}/cancel`, null, 'tests'],
        ['status', null, null, null, null, null, 'rolling-back', 'ops'],
        ['branch-call', '01', 'cancel', 'success', 1, 'HTTP 204', null, null],
        ['branch-call', '02', 'cancel', 'failure', 1, 'timeout', null, null],
        ['branch-call', '02', 'cancel', 'success', 2, null, null, null],
        ['status', null, null, null, null, null, 'rolled-back', null],
      ]);
    });

    it('refused, writing nothing, when another owner holds the lease or the status changed', async () => {
      const gid = gidOf('round-refused');
      await begin(gid, ['01']);
      await store.decide(decision(gid));
      const before = await store.load(gid);
      const events = await store.events(gid);
      expect(await store.recordRound(round(gid, [success('01')], { kind: 'finish', status: 'committed' }, { owner: 'owner-b' }))).toBe(false);
      expect(await store.recordRound(round(gid, [success('01', 1, 'cancel')], { kind: 'finish', status: 'rolled-back' }, { from: 'rolling-back' }))).toBe(
        false,
      );
      const retry: RoundDecision = { kind: 'retry', retryCount: 1, nextRetryAt: T0 + 9_000, needsAttention: false, attentionReason: null };
      expect(await store.recordRound(round(gid, [failure('01', 'x')], retry, { owner: 'owner-b' }))).toBe(false);
      expect(await store.load(gid)).toEqual(before);
      expect(await store.events(gid)).toEqual(events);
    });

    it('refuses to finish while a branch not completed by this round is not done', async () => {
      // A round planned from a snapshot without 02 (say one read before 02 was registered): 02 is still pending.
      const direct = gidOf('round-pending');
      await begin(direct, ['01', '02']);
      await store.decide(decision(direct));
      const before = await store.load(direct);
      const events = await store.events(direct);
      expect(await store.recordRound(round(direct, [success('01')], { kind: 'finish', status: 'committed' }))).toBe(false);
      expect(await store.load(direct)).toEqual(before);
      expect(await store.events(direct)).toEqual(events);
      // The lease is still held: the owner can call the branch it missed and finish then.
      expect(await store.recordRound(round(direct, [success('01'), success('02')], { kind: 'finish', status: 'committed' }, { now: T0 + 3_000 }))).toBe(true);
    });
  });

  describe('load, events and decisionTime', () => {
    it('an unknown gid: no snapshot, no events, no decision time', async () => {
      const gid = gidOf('unknown');
      expect(await store.load(gid)).toBeNull();
      expect(await store.events(gid)).toEqual([]);
      expect(await store.decisionTime(gid)).toBeNull();
    });

    it('events are oldest first with increasing ids, and only of their transaction', async () => {
      const gid = gidOf('history');
      await begin(gid, ['01']);
      await register(gid, [registration('02')]);
      await store.decide(decision(gid));
      // The happy path so far wrote no rows; failed calls and the flag do.
      expect(await store.events(gid)).toEqual([]);
      const retry: RoundDecision = { kind: 'retry', retryCount: 1, nextRetryAt: T0 + 9_000, needsAttention: true, attentionReason: 'stuck' };
      expect(await store.recordRound(round(gid, [failure('01', 'a'), failure('02', 'b')], retry))).toBe(true);
      const events = await store.events(gid);
      expect(events.map((e) => [e.kind, e.branchId])).toEqual([
        ['branch-call', '01'],
        ['branch-call', '02'],
        ['attention', null],
      ]);
      const snapshot = (await store.load(gid))!;
      expect(assembleHistory(snapshot, events).map((e) => e.kind)).toEqual([
        'begin',
        'register',
        'register',
        'status',
        'branch-call',
        'branch-call',
        'attention',
      ]);
      expect(events.every((e) => e.gid === gid)).toBe(true);
      const idsInOrder = events.map((e) => e.id);
      expect([...idsInOrder].sort((a, b) => a - b)).toEqual(idsInOrder);
      expect(new Set(idsInOrder).size).toBe(idsInOrder.length);
    });
  });
}
