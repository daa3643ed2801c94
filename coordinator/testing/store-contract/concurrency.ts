/**
 * The contract under concurrency: racing decisions, claims and registrations.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { assembleHistory } from '../../domain/history.ts';
import type { TransactionStore } from '../../store/ports/transaction-store.ts';
import { contractOps, gidOf, ids, LEASE_MS, MINUTE, registration, T0, type StoreUnderTest } from './fixtures.ts';

export function concurrencyContract(open: () => StoreUnderTest): void {
  let store: TransactionStore;
  beforeAll(() => {
    ({ store } = open());
  });
  const { begin, decision, register } = contractOps(() => store);

  describe('concurrency', () => {
    it('two decisions racing: exactly one wins, and the log says the winner', async () => {
      for (let i = 0; i < 5; i++) {
        const gid = gidOf('race-decide');
        await begin(gid, ['01']);
        const [confirm, cancel] = await Promise.all([
          store.decide(decision(gid, { to: 'committing', owner: 'owner-a', actor: 'actor-a' })),
          store.decide(decision(gid, { to: 'rolling-back', owner: 'owner-b', actor: 'actor-b' })),
        ]);
        expect([confirm, cancel].filter((s) => s !== null)).toHaveLength(1);
        const winner = (confirm ?? cancel)!.transaction;
        const logged = (await store.load(gid))!;
        expect([logged.transaction.status, logged.transaction.leaseOwner, logged.transaction.decidedBy]).toEqual([
          winner.status,
          winner.leaseOwner,
          winner.decidedBy,
        ]);
        expect(winner.decidedBy).toBe(confirm ? 'actor-a' : 'actor-b');
        const events = await store.events(gid);
        expect(events).toEqual([]);
        const decisions = assembleHistory(logged, events).filter((e) => e.kind === 'status');
        expect(decisions.map((e) => [e.toStatus, e.actor])).toEqual([[winner.status, winner.decidedBy]]);
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
          expect(registered?.before.transaction.status).toBe('committing');
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
      const events = await store.events(gid);
      expect(events).toEqual([]);
      expect(assembleHistory((await store.load(gid))!, events).filter((e) => e.kind === 'register' && e.branchId === '02')).toHaveLength(1);
    });
  });
}
