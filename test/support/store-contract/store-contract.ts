/**
 * The store contract: what every implementation of the store ports
 * (TransactionStore and AdminStore, coordinator/store/ports/) must do,
 * written against the ports only — no SQL, no driver. A new store is done
 * when `describeStoreContract` passes on it (see test/store-contract/).
 *
 * Times are synthetic (the store never reads a clock: every operation is
 * given its `now`), gids are unique per test, and the groups that look at
 * the whole log (findDue, the admin listing) get a store of their own.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdminStore, AuditEntry, ListRequest } from '../../../coordinator/store/ports/admin-store.ts';
import { decidePause, decideResume, decideRetryNow } from '../../../coordinator/domain/operator-decisions.ts';
import { checkRegistration, type BranchCallResult, type RoundDecision } from '../../../coordinator/domain/tcc-decisions.ts';
import { participantOf, type BranchRegistration, type GlobalStatus, type TransactionSnapshot } from '../../../coordinator/domain/transaction.ts';
import type { DecisionInput, RoundRecord, TransactionStore } from '../../../coordinator/store/ports/transaction-store.ts';

export interface StoreUnderTest {
  store: TransactionStore;
  adminStore: AdminStore;
  /** Releases everything the factory opened (and drops what it created). */
  close(): Promise<void>;
}

export interface StoreContext {
  /** A short name for what the store is for ([a-z_]), e.g. to name a database. */
  label: string;
}

/** Opens an empty store (its own database, schema applied). */
export type StoreFactory = (ctx: StoreContext) => Promise<StoreUnderTest>;

const T0 = 1_700_000_000_000;
const MINUTE = 60_000;
const LEASE_MS = 30_000;
const BASE = 'http://127.0.0.1:9/dtx/account';

export function registration(branchId: string, base = BASE, payload = '{"amount":1}'): BranchRegistration {
  return { branchId, confirmUrl: `${base}/confirm`, cancelUrl: `${base}/cancel`, payload };
}

function gidOf(label: string): string {
  return `${label}-${randomBytes(5).toString('hex')}`;
}

const ids = (snapshot: TransactionSnapshot | null | undefined) => snapshot?.branches.map((b) => b.branchId) ?? [];

/** Registers one store for the enclosing describe: opened before its tests, closed after. */
function useStore(factory: StoreFactory, label: string): () => StoreUnderTest {
  let opened: StoreUnderTest | undefined;
  beforeAll(async () => {
    opened = await factory({ label });
  });
  afterAll(async () => {
    await opened?.close();
  });
  return () => {
    if (!opened) throw new Error('store not opened');
    return opened;
  };
}

export function describeStoreContract(name: string, factory: StoreFactory): void {
  describe(`store contract: ${name}`, () => {
    describe('on a shared store', () => {
      const open = useStore(factory, 'contract');
      let store: TransactionStore;
      let adminStore: AdminStore;
      beforeAll(() => {
        ({ store, adminStore } = open());
      });

      const begin = (gid: string, branchIds: string[], at = T0, caller: string | null = 'tests') =>
        store.begin({ gid, mode: 'tcc', now: at, deadlineAt: at + MINUTE, caller, branches: branchIds.map((id) => registration(id)) });

      const decision = (gid: string, overrides: Partial<DecisionInput> = {}): DecisionInput => ({
        gid,
        to: 'confirming',
        reason: null,
        now: T0 + 1_000,
        owner: 'owner-a',
        leaseUntil: T0 + 1_000 + LEASE_MS,
        beforeDeadline: true,
        actor: 'tests',
        ...overrides,
      });

      const register = (gid: string, branches: BranchRegistration[], now = T0 + 500, actor: string | null = 'tests') =>
        store.registerBranches({ gid, mode: 'tcc', now, branches, actor });

      const success = (branchId: string, attempt = 1): BranchCallResult & { attempt: number } => ({ branchId, outcome: 'success', httpStatus: 200, error: null, attempt });
      const failure = (branchId: string, error: string, attempt = 1): BranchCallResult & { attempt: number } => ({ branchId, outcome: 'failure', httpStatus: 500, error, attempt });

      const round = (gid: string, results: RoundRecord['results'], decisionOf: RoundDecision, overrides: Partial<RoundRecord> = {}): RoundRecord => ({
        gid,
        owner: 'owner-a',
        op: 'confirm',
        from: 'confirming',
        results,
        decision: decisionOf,
        now: T0 + 2_000,
        ...overrides,
      });

      const audit = (gid: string, action: AuditEntry['action']): AuditEntry => ({ at: T0, actor: 'ops', role: 'operator', action, gid, branchId: null, reason: 'contract', detail: null });

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
          await adminStore.changeByOperator(gid, audit(gid, 'retry'), (snapshot) => decideRetryNow(snapshot.transaction, T0 + 1_500));
          expect(await store.claim(gid, 'owner-b', T0 + 1_500, T0 + 1_500 + LEASE_MS)).toBeNull();
          expect(await store.claim(gid, 'owner-b', leaseUntil - 1, leaseUntil - 1 + LEASE_MS)).toBeNull();
          const taken = await store.claim(gid, 'owner-b', leaseUntil, leaseUntil + LEASE_MS);
          expect(taken?.transaction).toMatchObject({ leaseOwner: 'owner-b', leaseUntil: leaseUntil + LEASE_MS });
        });

        it('refuses a paused transaction until it is resumed, and a finished or unknown one', async () => {
          const gid = gidOf('claim-paused');
          await begin(gid, ['01']);
          await store.decide(decision(gid));
          await adminStore.changeByOperator(gid, audit(gid, 'pause'), (snapshot) => decidePause(snapshot.transaction));
          const far = T0 + 100 * MINUTE;
          expect(await store.claim(gid, 'owner-b', far, far + LEASE_MS)).toBeNull();
          await adminStore.changeByOperator(gid, audit(gid, 'resume'), (snapshot) => decideResume(snapshot.transaction, far));
          const claimed = await store.claim(gid, 'owner-b', far, far + LEASE_MS);
          expect(claimed?.transaction.leaseOwner).toBe('owner-b');
          expect(await store.recordRound(round(gid, [success('01')], { kind: 'finish', status: 'confirmed' }, { owner: 'owner-b', now: far + 1 }))).toBe(true);
          expect(await store.claim(gid, 'owner-c', far + 10 * LEASE_MS, far + 11 * LEASE_MS)).toBeNull();
          expect(await store.claim(gidOf('nobody'), 'owner-c', far, far + LEASE_MS)).toBeNull();
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

      describe('concurrency', () => {
        it('two decisions racing: exactly one wins, and the log says the winner', async () => {
          for (let i = 0; i < 5; i++) {
            const gid = gidOf('race-decide');
            await begin(gid, ['01']);
            const [confirm, cancel] = await Promise.all([
              store.decide(decision(gid, { to: 'confirming', owner: 'owner-a' })),
              store.decide(decision(gid, { to: 'cancelling', owner: 'owner-b' })),
            ]);
            expect([confirm, cancel].filter((s) => s !== null)).toHaveLength(1);
            const winner = (confirm ?? cancel)!.transaction;
            const logged = (await store.load(gid))!.transaction;
            expect([logged.status, logged.leaseOwner]).toEqual([winner.status, winner.leaseOwner]);
            expect((await store.events(gid)).filter((e) => e.kind === 'status')).toHaveLength(1);
          }
        });

        it('two claims racing: exactly one wins and holds the lease', async () => {
          for (let i = 0; i < 5; i++) {
            const gid = gidOf('race-claim');
            await begin(gid, ['01']);
            const due = T0 + MINUTE;
            const results = await Promise.all([store.claim(gid, 'owner-a', due, due + LEASE_MS), store.claim(gid, 'owner-b', due, due + LEASE_MS)]);
            const winners = results.filter((s) => s !== null);
            expect(winners).toHaveLength(1);
            expect((await store.load(gid))?.transaction.leaseOwner).toBe(winners[0]!.transaction.leaseOwner);
          }
        });

        it('a registration racing the decision is either in the decision snapshot or refused', async () => {
          const outcomes = new Set<string>();
          for (let i = 0; i < 10; i++) {
            const gid = gidOf('race-register');
            await begin(gid, ['01']);
            const [registered, snapshot] = await Promise.all([register(gid, [registration('02')], T0 + 900), store.decide(decision(gid))]);
            expect(snapshot).not.toBeNull();
            if (registered?.inserted.length) {
              expect(registered.inserted.map((b) => b.branchId)).toEqual(['02']);
              expect(ids(snapshot)).toEqual(['01', '02']);
              outcomes.add('registered');
            } else {
              // Refused: it read the decided transaction.
              expect(registered?.before.transaction.status).toBe('confirming');
              expect(ids(snapshot)).toEqual(['01']);
              outcomes.add('refused');
            }
            expect(ids(await store.load(gid))).toEqual(ids(snapshot));
          }
          expect(outcomes.size).toBeGreaterThan(0);
        });

        it('the same new branch registered concurrently is inserted once', async () => {
          const gid = gidOf('race-same-branch');
          await begin(gid, ['01']);
          const results = await Promise.all([1, 2, 3].map(() => register(gid, [registration('02')])));
          expect(results.flatMap((r) => r?.inserted.map((b) => b.branchId) ?? [])).toEqual(['02']);
          expect(ids(await store.load(gid))).toEqual(['01', '02']);
          expect((await store.events(gid)).filter((e) => e.kind === 'register' && e.branchId === '02')).toHaveLength(1);
        });
      });
    });

    describe('findDue', () => {
      const open = useStore(factory, 'contract_due');

      it('open transactions due by `until`, soonest first, at most `limit`; finished ones never', async () => {
        const { store } = open();
        const at = (minutes: number) => T0 + minutes * MINUTE;
        // Due at their deadlines: begun at 3, 1, 2, 4 minutes → due at 4, 2, 3, 5.
        const gids = await Promise.all(
          [3, 1, 2, 4].map(async (m) => {
            const gid = gidOf(`due${m}`);
            await store.begin({ gid, mode: 'tcc', now: at(m), deadlineAt: at(m + 1), caller: null, branches: [registration('01')] });
            return gid;
          }),
        );
        const [g3, g1, g2, g4] = gids as [string, string, string, string];
        expect(await store.findDue(at(1), 10)).toEqual([]);
        expect(await store.findDue(at(4), 10)).toEqual([
          { gid: g1, nextRetryAt: at(2) },
          { gid: g2, nextRetryAt: at(3) },
          { gid: g3, nextRetryAt: at(4) },
        ]);
        expect((await store.findDue(at(10), 2)).map((d) => d.gid)).toEqual([g1, g2]);
        // A finished transaction is no longer due; a claimed one is due at its lease end.
        await store.decide({ gid: g1, to: 'cancelling', reason: null, now: at(2), owner: 'o', leaseUntil: at(2) + 1, beforeDeadline: false, actor: 'tests' });
        expect(await store.recordRound({ gid: g1, owner: 'o', op: 'cancel', from: 'cancelling', results: [{ branchId: '01', outcome: 'success', httpStatus: 200, error: null, attempt: 1 }], decision: { kind: 'finish', status: 'cancelled' }, now: at(2) })).toBe(true);
        expect(await store.claim(g2, 'o', at(3), at(20))).not.toBeNull();
        expect(await store.findDue(at(10), 10)).toEqual([
          { gid: g3, nextRetryAt: at(4) },
          { gid: g4, nextRetryAt: at(5) },
        ]);
        expect((await store.findDue(at(20), 10)).map((d) => d.gid)).toEqual([g3, g4, g2]);
      });
    });

    describe('admin listing', () => {
      const open = useStore(factory, 'contract_list');
      const COMMON = 'http://common-bank:4001';
      const RARE = 'http://rare-bank:4002';
      interface Fixture {
        gid: string;
        createdAt: number;
        status: GlobalStatus;
        paused: boolean;
        participants: string[];
      }
      const fixtures: Fixture[] = [];

      beforeAll(async () => {
        const { store, adminStore } = open();
        for (let i = 0; i < 14; i++) {
          // Groups of 3 share a created_at: ties are broken by gid.
          const createdAt = T0 + Math.floor(i / 3) * 1_000;
          const gid = `${i % 3 === 0 ? 'pa' : 'pb'}-${String(i).padStart(3, '0')}`;
          const participants = i % 2 === 0 ? [COMMON] : i % 5 === 1 ? [RARE, COMMON] : ['http://other:4003'];
          const branches = participants.map((p, n) => registration(`0${n + 1}`, `${p}/dtx/a`));
          await store.begin({ gid, mode: 'tcc', now: createdAt, deadlineAt: createdAt + MINUTE, caller: null, branches });
          let status: GlobalStatus = 'trying';
          let paused = false;
          if (i % 4 !== 0) {
            const to = i % 2 === 0 ? 'cancelling' : 'confirming';
            await store.decide({ gid, to, reason: null, now: createdAt + 1, owner: 'o', leaseUntil: createdAt + 2, beforeDeadline: true, actor: 'tests' });
            status = to;
            if (i % 4 === 3) {
              const op = to === 'confirming' ? 'confirm' : 'cancel';
              const done = to === 'confirming' ? 'confirmed' : 'cancelled';
              const results = branches.map((b) => ({ branchId: b.branchId, outcome: 'success' as const, httpStatus: 200, error: null, attempt: 1 }));
              expect(await store.recordRound({ gid, owner: 'o', op, from: to, results, decision: { kind: 'finish', status: done }, now: createdAt + 3 })).toBe(true);
              status = done;
            } else if (i % 4 === 2) {
              await adminStore.changeByOperator(gid, { at: createdAt, actor: 'ops', role: 'operator', action: 'pause', gid, branchId: null, reason: 'contract', detail: null }, (s) => decidePause(s.transaction));
              paused = true;
            }
          }
          fixtures.push({ gid, createdAt, status, paused, participants });
        }
      });

      function expected(request: Omit<ListRequest, 'limit' | 'after'>): string[] {
        const f = request.filter;
        const matching = fixtures.filter(
          (x) =>
            (f.status === undefined || x.status === f.status) &&
            (f.paused === undefined || x.paused === f.paused) &&
            (f.gidPrefix === undefined || x.gid.startsWith(f.gidPrefix)) &&
            (f.participant === undefined || x.participants.includes(f.participant)) &&
            (f.createdAfter === undefined || x.createdAt >= f.createdAfter) &&
            (f.createdBefore === undefined || x.createdAt < f.createdBefore),
        );
        const sorted = matching.sort((a, b) => a.createdAt - b.createdAt || (a.gid < b.gid ? -1 : a.gid > b.gid ? 1 : 0));
        return (request.order === 'newest' ? sorted.reverse() : sorted).map((x) => x.gid);
      }

      async function walk(request: Omit<ListRequest, 'after'>): Promise<string[]> {
        const { adminStore } = open();
        const seen: string[] = [];
        let after: ListRequest['after'];
        for (let page = 0; page < 50; page++) {
          const result = await adminStore.list({ ...request, after });
          expect(result.items.length).toBeLessThanOrEqual(request.limit);
          seen.push(...result.items.map((t) => t.gid));
          if (!result.next) break;
          after = result.next;
        }
        return seen;
      }

      const filters: ListRequest['filter'][] = [
        {},
        { status: 'trying' },
        { status: 'confirmed' },
        { paused: true },
        { paused: false, status: 'cancelling' },
        { gidPrefix: 'pa' },
        { participant: COMMON },
        { participant: RARE },
        { createdAfter: T0 + 1_000, createdBefore: T0 + 3_000 },
        { mode: 'tcc', gidPrefix: 'pb', status: 'confirming' },
      ];

      it('returns every match exactly once, in order, through cursor pages of any size', async () => {
        for (const filter of filters) {
          for (const order of ['newest', 'oldest'] as const) {
            const want = expected({ filter, order });
            for (const limit of [1, 2, 5, 100]) {
              expect(await walk({ filter, order, limit }), `${JSON.stringify(filter)} ${order} ${limit}`).toEqual(want);
            }
          }
        }
      });

      it('a page carries the transactions as load returns them, and a last page has no cursor', async () => {
        const { store, adminStore } = open();
        const page = await adminStore.list({ filter: { gidPrefix: 'pa-000' }, order: 'newest', limit: 5 });
        expect(page.next).toBeNull();
        expect(page.items).toEqual([(await store.load('pa-000'))!.transaction]);
        const first = await adminStore.list({ filter: {}, order: 'oldest', limit: 2 });
        expect(first.next).toEqual({ createdAt: first.items[1]!.createdAt, gid: first.items[1]!.gid });
      });
    });
  });
}
