/**
 * The contract of claim, recordRound, load, events and decisionTime.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { AdminStore } from '../../../coordinator/store/ports/admin-store.ts';
import { decidePause, decideResume, decideRetryNow } from '../../../coordinator/domain/operator-decisions.ts';
import { type RoundDecision } from '../../../coordinator/domain/tcc-decisions.ts';
import type { TransactionStore } from '../../../coordinator/store/ports/transaction-store.ts';
import { contractOps, operatorChange, gidOf, ids, LEASE_MS, MINUTE, registration, T0, type StoreUnderTest } from './fixtures.ts';

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
        expect(claimed?.transaction).toMatchObject({ status: 'trying', leaseOwner: 'owner-a', leaseUntil: T0 + 2 * MINUTE, nextRetryAt: T0 + 2 * MINUTE });
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
        expect(await store.recordRound(round(gid, [success('01')], { kind: 'finish', status: 'confirmed' }, { owner: 'owner-b', now: far + 1 }))).toBe(true);
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
        expect(await adminStore.applyOperatorChange({ before: nobody, change: decidePause(nobody.transaction), audit: audit(nobody.transaction.gid, 'pause') })).toBeNull();
      });
    });

    describe('recordRound', () => {
      it('finish: branch outcomes, one event per call, the terminal status, lease released', async () => {
        const gid = gidOf('finish');
        await begin(gid, ['01', '02']);
        await store.decide(decision(gid));
        expect(await store.recordRound(round(gid, [success('01'), success('02')], { kind: 'finish', status: 'confirmed' }))).toBe(true);
        const snapshot = await store.load(gid);
        expect(snapshot?.transaction).toMatchObject({
          status: 'confirmed',
          finishedAt: T0 + 2_000,
          updatedAt: T0 + 2_000,
          nextRetryAt: null,
          leaseOwner: null,
          leaseUntil: null,
          needsAttention: false,
        });
        expect(snapshot?.branches.map((b) => [b.branchId, b.status, b.attempts, b.lastError])).toEqual([
          ['01', 'confirmed', 1, null],
          ['02', 'confirmed', 1, null],
        ]);
        const events = (await store.events(gid)).slice(-3);
        expect(events.map((e) => [e.kind, e.branchId, e.op, e.outcome, e.attempt, e.fromStatus, e.toStatus])).toEqual([
          ['branch-call', '01', 'confirm', 'success', 1, null, null],
          ['branch-call', '02', 'confirm', 'success', 1, null, null],
          ['status', null, null, null, null, 'confirming', 'confirmed'],
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
          status: 'confirming',
          retryCount: 1,
          nextRetryAt: T0 + 9_000,
          needsAttention: true,
          attentionReason: 'confirm failed',
          leaseOwner: null,
          leaseUntil: null,
          finishedAt: null,
        });
        expect(snapshot?.branches.map((b) => [b.branchId, b.status, b.attempts, b.lastError])).toEqual([
          ['01', 'confirmed', 1, null],
          ['02', 'prepared', 1, 'HTTP 500: boom'],
        ]);
        const events = (await store.events(gid)).slice(-3);
        expect(events.map((e) => [e.kind, e.branchId, e.outcome])).toEqual([
          ['branch-call', '01', 'success'],
          ['branch-call', '02', 'failure'],
          ['attention', null, null],
        ]);
        // The next round (claimed when due) finishes with the remaining branch.
        expect(await store.claim(gid, 'owner-b', T0 + 9_000, T0 + 9_000 + LEASE_MS)).not.toBeNull();
        expect(await store.recordRound(round(gid, [success('02', 2)], { kind: 'finish', status: 'confirmed' }, { owner: 'owner-b', now: T0 + 9_500 }))).toBe(true);
        expect((await store.load(gid))?.branches.map((b) => [b.status, b.attempts])).toEqual([
          ['confirmed', 1],
          ['confirmed', 2],
        ]);
      });

      it('refused, writing nothing, when another owner holds the lease or the status changed', async () => {
        const gid = gidOf('round-refused');
        await begin(gid, ['01']);
        await store.decide(decision(gid));
        const before = await store.load(gid);
        const events = await store.events(gid);
        expect(await store.recordRound(round(gid, [success('01')], { kind: 'finish', status: 'confirmed' }, { owner: 'owner-b' }))).toBe(false);
        expect(await store.recordRound(round(gid, [success('01')], { kind: 'finish', status: 'cancelled' }, { op: 'cancel', from: 'cancelling' }))).toBe(false);
        const retry: RoundDecision = { kind: 'retry', retryCount: 1, nextRetryAt: T0 + 9_000, needsAttention: false, attentionReason: null };
        expect(await store.recordRound(round(gid, [failure('01', 'x')], retry, { owner: 'owner-b' }))).toBe(false);
        expect(await store.load(gid)).toEqual(before);
        expect(await store.events(gid)).toEqual(events);
      });

      it('refuses to finish while a branch not completed by this round is not done', async () => {
        // A round planned from a snapshot without 02 (say one read before 02 was registered): 02 is still prepared.
        const direct = gidOf('round-pending');
        await begin(direct, ['01', '02']);
        await store.decide(decision(direct));
        const before = await store.load(direct);
        const events = await store.events(direct);
        expect(await store.recordRound(round(direct, [success('01')], { kind: 'finish', status: 'confirmed' }))).toBe(false);
        expect(await store.load(direct)).toEqual(before);
        expect(await store.events(direct)).toEqual(events);
        // The lease is still held: the owner can call the branch it missed and finish then.
        expect(await store.recordRound(round(direct, [success('01'), success('02')], { kind: 'finish', status: 'confirmed' }, { now: T0 + 3_000 }))).toBe(true);
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
        const events = await store.events(gid);
        expect(events.map((e) => e.kind)).toEqual(['begin', 'register', 'register', 'status']);
        expect(events.every((e) => e.gid === gid)).toBe(true);
        const idsInOrder = events.map((e) => e.id);
        expect([...idsInOrder].sort((a, b) => a - b)).toEqual(idsInOrder);
        expect(new Set(idsInOrder).size).toBe(idsInOrder.length);
      });
    });

}
