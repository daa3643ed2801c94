/**
 * The contract over the whole log (findDue, the admin listing): each group
 * gets a store of its own, so that other tests' rows do not count.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { ListRequest } from '../../store/ports/admin-store.ts';
import { decidePause } from '../../domain/operator-decisions.ts';
import { type GlobalStatus } from '../../domain/transaction.ts';
import { TCC_WORDS } from '../../modes/tcc/tcc-words.ts';
import { gidOf, operatorChange, MINUTE, registration, T0, useStore, type StoreFactory } from './fixtures.ts';

export function wholeLogContract(factory: StoreFactory): void {
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
      await store.decide({ gid: g1, to: 'rolling-back', guard: { from: 'open' }, reason: null, now: at(2), owner: 'o', leaseUntil: at(2) + 1, actor: 'tests' });
      const cancelled = { branchId: '01', op: 'cancel' as const, outcome: 'success' as const, httpStatus: 200, error: null, attempt: 1 };
      expect(
        await store.recordRound({
          gid: g1,
          owner: 'o',
          from: 'rolling-back',
          results: [cancelled],
          skipped: [],
          decision: { kind: 'finish', status: 'rolled-back' },
          now: at(2),
          leaseUntil: at(2) + 1,
        }),
      ).toBe(true);
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
        let status: GlobalStatus = 'open';
        let paused = false;
        if (i % 4 !== 0) {
          const to = i % 2 === 0 ? 'rolling-back' : 'committing';
          const now = createdAt + 1;
          await store.decide({
            gid,
            to,
            guard: { from: 'open', deadlineAfter: now },
            reason: null,
            now,
            owner: 'o',
            leaseUntil: createdAt + 2,
            actor: 'tests',
          });
          status = to;
          if (i % 4 === 3) {
            const op = TCC_WORDS.op[to];
            const done = to === 'committing' ? 'committed' : 'rolled-back';
            const results = branches.map((b) => ({ branchId: b.branchId, op, outcome: 'success' as const, httpStatus: 200, error: null, attempt: 1 }));
            expect(
              await store.recordRound({
                gid,
                owner: 'o',
                from: to,
                results,
                skipped: [],
                decision: { kind: 'finish', status: done },
                now: createdAt + 3,
                leaseUntil: createdAt + 3,
              }),
            ).toBe(true);
            status = done;
          } else if (i % 4 === 2) {
            await operatorChange(
              { store, adminStore },
              { at: createdAt, actor: 'ops', role: 'operator', action: 'pause', gid, branchId: null, reason: 'contract', detail: null },
              (s) => decidePause(s.transaction, TCC_WORDS),
            );
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
      { status: 'open' },
      { status: 'committed' },
      { paused: true },
      { paused: false, status: 'rolling-back' },
      { gidPrefix: 'pa' },
      { participant: COMMON },
      { participant: RARE },
      { createdAfter: T0 + 1_000, createdBefore: T0 + 3_000 },
      { mode: 'tcc', gidPrefix: 'pb', status: 'committing' },
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
}
