/**
 * The contract of begin, registerBranches and decide.
 */
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkRegistration } from '../../../coordinator/domain/tcc-decisions.ts';
import { participantOf } from '../../../coordinator/domain/transaction.ts';
import type { TransactionStore } from '../../../coordinator/store/ports/transaction-store.ts';
import { BASE, contractOps, gidOf, ids, LEASE_MS, MINUTE, registration, T0, type StoreUnderTest } from './fixtures.ts';

export function registrationContract(open: () => StoreUnderTest): void {
  let store: TransactionStore;
  beforeAll(() => {
    ({ store } = open());
  });
  const { begin, decision, register } = contractOps(() => store);

    describe('begin', () => {
      it('creates a trying transaction due at its deadline, with its branches and events in the same commit', async () => {
        const gid = gidOf('begin');
        expect(await begin(gid, ['01', '02'], T0, 'billing')).toBe('created');
        const snapshot = await store.load(gid);
        expect(snapshot?.transaction).toEqual({
          gid,
          mode: 'tcc',
          status: 'trying',
          reason: null,
          caller: 'billing',
          createdAt: T0,
          updatedAt: T0,
          deadlineAt: T0 + MINUTE,
          decidedAt: null,
          finishedAt: null,
          retryCount: 0,
          nextRetryAt: T0 + MINUTE,
          needsAttention: false,
          attentionReason: null,
          paused: false,
          leaseOwner: null,
          leaseUntil: null,
        });
        expect(snapshot?.branches).toEqual(
          ['01', '02'].map((branchId) => ({
            gid,
            branchId,
            confirmUrl: `${BASE}/confirm`,
            cancelUrl: `${BASE}/cancel`,
            participant: participantOf(`${BASE}/confirm`),
            payload: '{"amount":1}',
            status: 'prepared',
            attempts: 0,
            lastError: null,
            createdAt: T0,
            updatedAt: T0,
          })),
        );
        const events = await store.events(gid);
        expect(events.map((e) => [e.kind, e.branchId, e.toStatus, e.actor, e.at])).toEqual([
          ['begin', null, 'trying', 'billing', T0],
          ['register', '01', null, 'billing', T0],
          ['register', '02', null, 'billing', T0],
        ]);
      });

      it('returns exists for the same gid without writing (a re-send), whatever it carries', async () => {
        const gid = gidOf('resend');
        expect(await begin(gid, ['01'])).toBe('created');
        const events = await store.events(gid);
        expect(await begin(gid, ['01', '02'], T0 + 5_000, 'someone-else')).toBe('exists');
        const snapshot = await store.load(gid);
        expect(ids(snapshot)).toEqual(['01']);
        expect(snapshot?.transaction).toMatchObject({ createdAt: T0, caller: 'tests' });
        expect(await store.events(gid)).toEqual(events);
      });

      it('compares gids and branch ids exactly: ids differing in case are different', async () => {
        const suffix = randomBytes(4).toString('hex');
        const upper = `ORDER-${suffix}`;
        const lower = `order-${suffix}`;
        expect(await begin(upper, ['pay', 'PAY'])).toBe('created');
        expect(await begin(lower, ['01'])).toBe('created');
        expect((await store.load(upper))?.transaction.gid).toBe(upper);
        expect((await store.load(lower))?.transaction.gid).toBe(lower);
        expect(ids(await store.load(upper)).sort()).toEqual(['PAY', 'pay']);
        expect(ids(await store.load(lower))).toEqual(['01']);
        expect(await store.load(`Order-${suffix}`)).toBeNull();
        expect(await begin(lower, ['01'])).toBe('exists');
      });
    });

    describe('registerBranches', () => {
      it('returns null for an unknown transaction', async () => {
        expect(await register(gidOf('nobody'), [registration('01')])).toBeNull();
      });

      it('inserts new branches with their events, returning the snapshot before the insert', async () => {
        const gid = gidOf('register');
        await begin(gid, ['01']);
        const result = await register(gid, [registration('02'), registration('03')], T0 + 500, 'shipping');
        expect(ids(result?.before)).toEqual(['01']);
        expect(result?.before.transaction.status).toBe('trying');
        expect(result?.inserted.map((b) => b.branchId)).toEqual(['02', '03']);
        const snapshot = await store.load(gid);
        expect(ids(snapshot)).toEqual(['01', '02', '03']);
        expect(snapshot?.branches[1]).toMatchObject({ status: 'prepared', attempts: 0, createdAt: T0 + 500, participant: participantOf(`${BASE}/confirm`) });
        const events = (await store.events(gid)).slice(-2);
        expect(events.map((e) => [e.kind, e.branchId, e.actor, e.at])).toEqual([
          ['register', '02', 'shipping', T0 + 500],
          ['register', '03', 'shipping', T0 + 500],
        ]);
      });

      it('a known branch id (a re-send, or a conflict) refuses the whole registration, writing nothing; the snapshot shows why', async () => {
        const gid = gidOf('reregister');
        await begin(gid, ['01']);
        const events = await store.events(gid);
        const resend = await register(gid, [registration('01')]);
        expect(resend?.inserted).toEqual([]);
        // What the domain makes of it, on the snapshot the operation read.
        expect(checkRegistration(resend!.before.transaction, resend!.before.branches, [registration('01')], T0 + 500)).toEqual([]);
        const other = [registration('01', BASE, '{"amount":2}'), registration('02')];
        const conflict = await register(gid, other);
        expect(conflict?.inserted).toEqual([]);
        expect(() => checkRegistration(conflict!.before.transaction, conflict!.before.branches, other, T0 + 500)).toThrow(expect.objectContaining({ code: 'BRANCH_CONFLICT' }));
        // All or none: the new 02 was not inserted either.
        expect(ids(await store.load(gid))).toEqual(['01']);
        expect(await store.events(gid)).toEqual(events);
      });

      it('is refused after the decision and at the deadline, writing nothing', async () => {
        const gid = gidOf('late-register');
        await begin(gid, ['01']);
        const atDeadline = await register(gid, [registration('02')], T0 + MINUTE);
        expect(atDeadline?.inserted).toEqual([]);
        expect(() => checkRegistration(atDeadline!.before.transaction, atDeadline!.before.branches, [registration('02')], T0 + MINUTE)).toThrow(
          expect.objectContaining({ code: 'DEADLINE_PASSED' }),
        );
        expect(await store.decide(decision(gid))).not.toBeNull();
        const events = await store.events(gid);
        const late = await register(gid, [registration('02')], T0 + 1_500);
        expect(late?.inserted).toEqual([]);
        expect(late?.before.transaction.status).toBe('confirming');
        expect(ids(await store.load(gid))).toEqual(['01']);
        expect(await store.events(gid)).toEqual(events);
      });

      it('an empty registration inserts nothing', async () => {
        const gid = gidOf('register-empty');
        await begin(gid, ['01']);
        const result = await register(gid, []);
        expect(result?.inserted).toEqual([]);
        expect(ids(result?.before)).toEqual(['01']);
      });
    });

    describe('decide', () => {
      it('moves trying to the decided status, logs its time, takes the lease and makes it due at the lease end', async () => {
        const gid = gidOf('decide');
        await begin(gid, ['01', '02']);
        const decided = await store.decide(decision(gid, { reason: 'all tried' }));
        expect(decided?.transaction).toMatchObject({
          status: 'confirming',
          reason: 'all tried',
          decidedAt: T0 + 1_000,
          updatedAt: T0 + 1_000,
          leaseOwner: 'owner-a',
          leaseUntil: T0 + 1_000 + LEASE_MS,
          nextRetryAt: T0 + 1_000 + LEASE_MS,
        });
        expect(ids(decided)).toEqual(['01', '02']);
        expect(await store.load(gid)).toEqual(decided);
        expect(await store.decisionTime(gid)).toBe(T0 + 1_000);
        const status = (await store.events(gid)).filter((e) => e.kind === 'status');
        expect(status.map((e) => [e.fromStatus, e.toStatus, e.actor, e.message, e.at])).toEqual([['trying', 'confirming', 'tests', 'all tried', T0 + 1_000]]);
      });

      it('requires trying: a second decision is refused and writes nothing', async () => {
        const gid = gidOf('decide-twice');
        await begin(gid, ['01']);
        expect(await store.decide(decision(gid, { to: 'cancelling' }))).not.toBeNull();
        const events = await store.events(gid);
        expect(await store.decide(decision(gid, { to: 'confirming', owner: 'owner-b', now: T0 + 2_000 }))).toBeNull();
        expect((await store.load(gid))?.transaction).toMatchObject({ status: 'cancelling', leaseOwner: 'owner-a', decidedAt: T0 + 1_000 });
        expect(await store.events(gid)).toEqual(events);
      });

      it('beforeDeadline refuses a decision at or after the deadline; without it the decision is taken', async () => {
        const gid = gidOf('deadline');
        await begin(gid, ['01']);
        const late = T0 + MINUTE;
        expect(await store.decide(decision(gid, { now: late, leaseUntil: late + LEASE_MS }))).toBeNull();
        expect((await store.load(gid))?.transaction.status).toBe('trying');
        const swept = await store.decide(decision(gid, { to: 'cancelling', now: late, leaseUntil: late + LEASE_MS, beforeDeadline: false, actor: 'timeout-sweeper' }));
        expect(swept?.transaction).toMatchObject({ status: 'cancelling', decidedAt: late });
      });

      it('returns null for an unknown transaction; decisionTime is null while trying and for an unknown one', async () => {
        const gid = gidOf('undecided');
        expect(await store.decide(decision(gid))).toBeNull();
        expect(await store.decisionTime(gid)).toBeNull();
        await begin(gid, ['01']);
        expect(await store.decisionTime(gid)).toBeNull();
      });
    });

}
