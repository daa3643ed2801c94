/**
 * The contract of begin, registerBranches and decide.
 */
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { assembleHistory } from '../../domain/history.ts';
import { participantOf, type BranchRegistration, type GlobalTransaction } from '../../domain/transaction.ts';
import { tccRules } from '../../modes/tcc/tcc-rules.ts';
import type { TransactionStore } from '../../store/ports/transaction-store.ts';
import { BASE, contractOps, gidOf, ids, LEASE_MS, MINUTE, registration, T0, type StoreUnderTest } from './fixtures.ts';

export function registrationContract(open: () => StoreUnderTest): void {
  let store: TransactionStore;
  beforeAll(() => {
    ({ store } = open());
  });
  const { begin, decision, register } = contractOps(() => store);
  /** What the domain makes of a registration, on the snapshot the operation read. */
  const checkRegistration: typeof tccRules.checkRegistration = (...args) => tccRules.checkRegistration(...args);

  describe('begin', () => {
    it('creates an open transaction due at its deadline, with its branches in the same commit; its history is read from the rows', async () => {
      const gid = gidOf('begin');
      expect(await begin(gid, ['01', '02'], T0, 'billing')).toBe('created');
      const snapshot = await store.load(gid);
      expect(snapshot?.transaction).toEqual({
        gid,
        mode: 'tcc',
        status: 'open',
        reason: null,
        caller: 'billing',
        createdAt: T0,
        updatedAt: T0,
        deadlineAt: T0 + MINUTE,
        decidedAt: null,
        decidedBy: null,
        finishedAt: null,
        retryCount: 0,
        nextRetryAt: T0 + MINUTE,
        needsAttention: false,
        attentionReason: null,
        paused: false,
        leaseOwner: null,
        leaseUntil: null,
        checkUrl: null,
        notBefore: null,
        // Nobody else was named to join it.
        joinableBy: [],
      });
      expect(snapshot?.branches).toEqual(
        ['01', '02'].map((branchId) => ({
          gid,
          branchId,
          operations: { confirm: `${BASE}/confirm`, cancel: `${BASE}/cancel` },
          participant: participantOf(`${BASE}/confirm`),
          payload: '{"amount":1}',
          opPayloads: null,
          dependsOn: null,
          maxAttempts: null,
          callTimeoutMs: null,
          status: 'pending',
          attempts: 0,
          lastError: null,
          createdAt: T0,
          updatedAt: T0,
          registeredBy: 'billing',
          completion: null,
        })),
      );
      // The operations keep their registration order.
      expect(snapshot?.branches.map((b) => Object.keys(b.operations))).toEqual([
        ['confirm', 'cancel'],
        ['confirm', 'cancel'],
      ]);
      // The happy path writes no event rows: its history is read from the rows.
      const events = await store.events(gid);
      expect(events).toEqual([]);
      expect(assembleHistory(snapshot!, events).map((e) => [e.kind, e.branchId, e.toStatus, e.actor, e.at])).toEqual([
        ['begin', null, 'open', 'billing', T0],
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

    it('keeps who its begin named to join it; only its caller passes a decision guarded by caller, only they a registration guarded by joiner', async () => {
      const gid = gidOf('joinable');
      expect(
        await store.begin({ gid, mode: 'tcc', now: T0, deadlineAt: T0 + MINUTE, caller: 'orders', joinableBy: ['bank-a'], branches: [registration('01')] }),
      ).toBe('created');
      expect((await store.load(gid))?.transaction).toMatchObject({ caller: 'orders', joinableBy: ['bank-a'] });
      const guard = (extra: object) => ({ from: 'open' as const, deadlineAfter: T0 + 500, mode: 'tcc' as const, ...extra });
      // Registrations: by a caller named to join, or the one that began it; callers compare byte for byte.
      for (const stranger of ['stranger', 'Orders', 'BANK-A', null]) {
        const refused = await store.registerBranches({
          gid,
          guard: guard({ joiner: stranger }),
          now: T0 + 500,
          branches: [registration('02')],
          actor: stranger,
        });
        expect(refused?.inserted, String(stranger)).toEqual([]);
      }
      expect(
        (await store.registerBranches({ gid, guard: guard({ joiner: 'bank-a' }), now: T0 + 500, branches: [registration('02')], actor: 'bank-a' }))?.inserted,
      ).toHaveLength(1);
      expect(
        (await store.registerBranches({ gid, guard: guard({ joiner: 'orders' }), now: T0 + 500, branches: [registration('03')], actor: 'orders' }))?.inserted,
      ).toHaveLength(1);
      // Decisions: its own caller only, not one merely named to join.
      for (const other of ['bank-a', 'Orders', null]) {
        expect(
          await store.decide(decision(gid, { guard: { from: 'open', deadlineAfter: T0 + 1_000, caller: other }, actor: other ?? 'anonymous' })),
          String(other),
        ).toBeNull();
      }
      expect((await store.load(gid))?.transaction.status).toBe('open');
      expect(await store.decide(decision(gid, { guard: { from: 'open', deadlineAfter: T0 + 1_000, caller: 'orders' }, actor: 'orders' }))).toMatchObject({
        transaction: { status: 'committing', decidedBy: 'orders' },
      });
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

    it('inserts new branches with who registered them, returning the snapshot before the insert', async () => {
      const gid = gidOf('register');
      await begin(gid, ['01']);
      const result = await register(gid, [registration('02'), registration('03')], T0 + 500, 'shipping');
      expect(ids(result?.before)).toEqual(['01']);
      expect(result?.before.transaction.status).toBe('open');
      expect(result?.inserted.map((b) => b.branchId)).toEqual(['02', '03']);
      const snapshot = await store.load(gid);
      expect(ids(snapshot)).toEqual(['01', '02', '03']);
      expect(snapshot?.branches[1]).toMatchObject({
        status: 'pending',
        attempts: 0,
        createdAt: T0 + 500,
        participant: participantOf(`${BASE}/confirm`),
        registeredBy: 'shipping',
        completion: null,
      });
      expect(snapshot?.branches[0]?.registeredBy).toBe('tests');
      const events = await store.events(gid);
      expect(events).toEqual([]);
      expect(
        assembleHistory(snapshot!, events)
          .slice(-2)
          .map((e) => [e.kind, e.branchId, e.actor, e.at]),
      ).toEqual([
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
      expect(() => checkRegistration(conflict!.before.transaction, conflict!.before.branches, other, T0 + 500)).toThrow(
        expect.objectContaining({ code: 'BRANCH_CONFLICT' }),
      );
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
      expect(late?.before.transaction.status).toBe('committing');
      expect(ids(await store.load(gid))).toEqual(['01']);
      expect(await store.events(gid)).toEqual(events);
    });

    it('keeps the operations in the order they were registered, whatever the order', async () => {
      const gid = gidOf('register-order');
      await begin(gid, ['01']);
      const reversed: BranchRegistration = { branchId: '02', operations: { cancel: `${BASE}/cancel`, confirm: `${BASE}/confirm` }, payload: '{}' };
      expect((await register(gid, [reversed]))?.inserted).toEqual([reversed]);
      const branch = (await store.load(gid))?.branches.find((b) => b.branchId === '02');
      expect(Object.keys(branch!.operations)).toEqual(['cancel', 'confirm']);
      expect(branch?.participant).toBe(participantOf(`${BASE}/cancel`));
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
    it('moves open to the decided status, logs its time and actor, takes the lease and makes it due at the lease end', async () => {
      const gid = gidOf('decide');
      await begin(gid, ['01', '02']);
      const decided = await store.decide(decision(gid, { reason: 'all tried' }));
      expect(decided?.transaction).toMatchObject({
        status: 'committing',
        reason: 'all tried',
        decidedAt: T0 + 1_000,
        decidedBy: 'tests',
        updatedAt: T0 + 1_000,
        leaseOwner: 'owner-a',
        leaseUntil: T0 + 1_000 + LEASE_MS,
        nextRetryAt: T0 + 1_000 + LEASE_MS,
      });
      expect(ids(decided)).toEqual(['01', '02']);
      expect(await store.load(gid)).toEqual(decided);
      expect(await store.decisionTime(gid)).toBe(T0 + 1_000);
      // No event row: the history reads the decision from the row.
      const events = await store.events(gid);
      expect(events).toEqual([]);
      const status = assembleHistory(decided!, events).filter((e) => e.kind === 'status');
      expect(status.map((e) => [e.fromStatus, e.toStatus, e.actor, e.message, e.at])).toEqual([['open', 'committing', 'tests', 'all tried', T0 + 1_000]]);
    });

    it('requires open: a second decision is refused and writes nothing', async () => {
      const gid = gidOf('decide-twice');
      await begin(gid, ['01']);
      expect(await store.decide(decision(gid, { to: 'rolling-back' }))).not.toBeNull();
      const before = await store.load(gid);
      const events = await store.events(gid);
      expect(await store.decide(decision(gid, { to: 'committing', owner: 'owner-b', now: T0 + 2_000, actor: 'someone-else' }))).toBeNull();
      expect((await store.load(gid))?.transaction).toMatchObject({ status: 'rolling-back', leaseOwner: 'owner-a', decidedAt: T0 + 1_000, decidedBy: 'tests' });
      expect(await store.load(gid)).toEqual(before);
      expect(await store.events(gid)).toEqual(events);
    });

    it('a guard with deadlineAfter refuses a decision at or after the deadline, writing nothing; without it the decision is taken', async () => {
      const gid = gidOf('deadline');
      await begin(gid, ['01']);
      const before = await store.load(gid);
      const late = T0 + MINUTE;
      expect(await store.decide(decision(gid, { now: late, leaseUntil: late + LEASE_MS, guard: tccRules.submit(late).guard }))).toBeNull();
      expect(await store.decide(decision(gid, { now: late + 1, guard: { from: 'open', deadlineAfter: late + 1 } }))).toBeNull();
      expect(await store.load(gid)).toEqual(before);
      expect(await store.events(gid)).toEqual([]);
      // One millisecond before the deadline it holds.
      const justInTime = gidOf('deadline-in-time');
      await begin(justInTime, ['01']);
      expect((await store.decide(decision(justInTime, { now: late - 1 })))?.transaction).toMatchObject({ status: 'committing', decidedAt: late - 1 });
      const swept = await store.decide(
        decision(gid, { to: 'rolling-back', now: late, leaseUntil: late + LEASE_MS, guard: tccRules.abort(late).guard, actor: 'timeout-sweeper' }),
      );
      expect(swept?.transaction).toMatchObject({ status: 'rolling-back', decidedAt: late, decidedBy: 'timeout-sweeper' });
    });

    it('a guard with mode refuses a transaction of another mode, writing nothing (and so does registration)', async () => {
      const gid = gidOf('guard-mode');
      await begin(gid, ['01']);
      const before = await store.load(gid);
      // 'tcc' is the only mode today: a guard naming another one stands for a rule of a mode the transaction is not in.
      const otherMode = 'saga' as GlobalTransaction['mode'];
      expect(await store.decide(decision(gid, { guard: { from: 'open', mode: otherMode } }))).toBeNull();
      const refused = await store.registerBranches({
        gid,
        guard: { from: 'open', mode: otherMode },
        now: T0 + 500,
        branches: [registration('02')],
        actor: 'tests',
      });
      expect(refused?.inserted).toEqual([]);
      expect(await store.load(gid)).toEqual(before);
      expect(await store.events(gid)).toEqual([]);
      const decided = await store.decide(decision(gid, { guard: { from: 'open', mode: 'tcc', deadlineAfter: T0 + 1_000 } }));
      expect(decided?.transaction).toMatchObject({ status: 'committing', decidedBy: 'tests' });
    });

    it('returns null for an unknown transaction; decisionTime is null while open and for an unknown one', async () => {
      const gid = gidOf('undecided');
      expect(await store.decide(decision(gid))).toBeNull();
      expect(await store.decisionTime(gid)).toBeNull();
      await begin(gid, ['01']);
      expect(await store.decisionTime(gid)).toBeNull();
    });
  });
}
