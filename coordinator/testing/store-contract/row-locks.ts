/**
 * The contract of global row locks (FMT): all or nothing, held while the
 * holder is open or rolling back, released with the commit decision or the
 * last rollback round, taken over once the holder finished, one winner per
 * row under races, and listed for operators.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { AdminStore } from '../../store/ports/admin-store.ts';
import type { RowLockKey, RowLockResult, TransactionStore } from '../../store/ports/transaction-store.ts';
import { contractOps, gidOf, MINUTE, T0, type StoreUnderTest } from './fixtures.ts';

export function rowLocksContract(open: () => StoreUnderTest): void {
  let store: TransactionStore;
  let adminStore: AdminStore;
  beforeAll(() => {
    ({ store, adminStore } = open());
  });
  const { decision, round, success } = contractOps(() => store);

  /** An FMT transaction with branches `branchIds` (commit and rollback operations). */
  const beginFmt = (gid: string, branchIds: string[]) =>
    store.begin({
      gid,
      mode: 'fmt',
      now: T0,
      deadlineAt: T0 + MINUTE,
      caller: 'tests',
      branches: branchIds.map((branchId) => ({
        branchId,
        operations: { commit: 'http://127.0.0.1:9/dtx/fmt/commit', rollback: 'http://127.0.0.1:9/dtx/fmt/rollback' },
        payload: '{}',
      })),
    });
  const lock = (gid: string, branchId: string, keys: RowLockKey[], now = T0 + 500): Promise<RowLockResult | null> =>
    store.lockRows({ gid, branchId, keys, guard: { from: 'open', deadlineAfter: now, mode: 'fmt' }, now });
  /** Row keys of table `accounts` in resource `bank` (unique to the test, so tests never meet). */
  const rows = (scope: string, ...pks: (string | number)[]): RowLockKey[] =>
    pks.map((pk) => ({ resource: `bank-${scope}`, table: 'accounts', pk: JSON.stringify([pk]) }));
  const holders = async (keys: RowLockKey[]) => (await store.heldRowLocks(keys)).map((h) => [h.key.pk, h.gid, h.branchId]).sort();

  describe('row locks', () => {
    it('locks every key of a registered branch, as often as asked, and shows who holds each since when', async () => {
      const gid = gidOf('lock');
      await beginFmt(gid, ['01', '02']);
      const keys = rows(gid, 1, 2);
      expect(await lock(gid, '01', keys)).toEqual({ kind: 'locked' });
      expect(await lock(gid, '02', [...rows(gid, 3), keys[0]!], T0 + 700)).toEqual({ kind: 'locked' });
      expect(await holders([...keys, ...rows(gid, 3, 4)])).toEqual([
        ['[1]', gid, '01'],
        ['[2]', gid, '01'],
        ['[3]', gid, '02'],
      ]);
      const listed = await adminStore.rowLocks({ gid, limit: 10 });
      expect(listed.map((h) => [h.key, h.lockedAt])).toEqual([
        [keys[0], T0 + 500],
        [keys[1], T0 + 500],
        [rows(gid, 3)[0], T0 + 700],
      ]);
      expect((await adminStore.rowLocks({ resource: `bank-${gid}`, table: 'accounts', limit: 1 })).map((h) => h.key.pk)).toEqual(['[1]']);
    });

    it('a key held by another transaction refuses the whole request, naming the holder; nothing is taken', async () => {
      const [first, second] = [gidOf('holder'), gidOf('waiter')];
      await beginFmt(first, ['01']);
      await beginFmt(second, ['01']);
      const scope = first;
      expect(await lock(first, '01', rows(scope, 1))).toEqual({ kind: 'locked' });
      const refused = await lock(second, '01', rows(scope, 2, 1));
      expect(refused).toMatchObject({ kind: 'conflict', holder: { gid: first, branchId: '01', key: rows(scope, 1)[0], lockedAt: T0 + 500 } });
      expect(await holders(rows(scope, 1, 2))).toEqual([['[1]', first, '01']]);
    });

    it('refuses an unknown branch, a decided transaction and one past its deadline; null for an unknown gid', async () => {
      const gid = gidOf('lock-refused');
      await beginFmt(gid, ['01']);
      expect(await lock(gid, '99', rows(gid, 1))).toMatchObject({ kind: 'refused', before: { transaction: { gid, status: 'open' } } });
      expect(await lock(gid, '01', rows(gid, 1), T0 + MINUTE)).toMatchObject({ kind: 'refused' });
      expect(await store.decide(decision(gid, { to: 'rolling-back', guard: { from: 'open' } }))).not.toBeNull();
      expect(await lock(gid, '01', rows(gid, 1))).toMatchObject({ kind: 'refused', before: { transaction: { status: 'rolling-back' } } });
      expect(await lock(gidOf('unknown'), '01', rows(gid, 1))).toBeNull();
      expect(await holders(rows(gid, 1))).toEqual([]);
    });

    it('the commit decision releases the locks in its commit; a refused one releases nothing', async () => {
      const gid = gidOf('lock-commit');
      await beginFmt(gid, ['01']);
      await lock(gid, '01', rows(gid, 1, 2));
      // A decision refused by its guard releases nothing.
      expect(await store.decide(decision(gid, { guard: { from: 'committing' }, releaseRowLocks: true }))).toBeNull();
      expect(await holders(rows(gid, 1, 2))).toHaveLength(2);
      expect(await store.decide(decision(gid, { releaseRowLocks: true }))).not.toBeNull();
      expect(await holders(rows(gid, 1, 2))).toEqual([]);
      expect(await adminStore.rowLocks({ gid, limit: 10 })).toEqual([]);
    });

    it('a rollback holds the locks until its last round, which releases them', async () => {
      const gid = gidOf('lock-rollback');
      await beginFmt(gid, ['01']);
      await lock(gid, '01', rows(gid, 1));
      await store.decide(decision(gid, { to: 'rolling-back', guard: { from: 'open' }, releaseRowLocks: false }));
      expect(await holders(rows(gid, 1))).toEqual([['[1]', gid, '01']]);
      const other = gidOf('lock-rollback-waiter');
      await beginFmt(other, ['01']);
      expect(await lock(other, '01', rows(gid, 1))).toMatchObject({ kind: 'conflict', holder: { gid } });
      const finish = round(gid, [success('01', 1, 'rollback')], { kind: 'finish', status: 'rolled-back' }, { from: 'rolling-back', releaseRowLocks: true });
      expect(await store.recordRound(finish)).toBe(true);
      expect(await holders(rows(gid, 1))).toEqual([]);
      expect(await lock(other, '01', rows(gid, 1))).toEqual({ kind: 'locked' });
    });

    it('a lock left by a transaction that finished is free, and taken over', async () => {
      const gid = gidOf('lock-left');
      await beginFmt(gid, ['01']);
      await lock(gid, '01', rows(gid, 1));
      await store.decide(decision(gid, { to: 'rolling-back', guard: { from: 'open' } }));
      // Finished without releasing (an operator's path, an older coordinator): the row is still there, not held.
      expect(await store.recordRound(round(gid, [success('01', 1, 'rollback')], { kind: 'finish', status: 'rolled-back' }, { from: 'rolling-back' }))).toBe(
        true,
      );
      expect(await holders(rows(gid, 1))).toEqual([]);
      const next = gidOf('lock-taker');
      await beginFmt(next, ['01']);
      expect(await lock(next, '01', rows(gid, 1))).toEqual({ kind: 'locked' });
      expect(await holders(rows(gid, 1))).toEqual([['[1]', next, '01']]);
    });

    it('two transactions locking the same new rows at once: exactly one holds them all', async () => {
      for (let i = 0; i < 5; i++) {
        const [a, b] = [gidOf('race-lock-a'), gidOf('race-lock-b')];
        await beginFmt(a, ['01']);
        await beginFmt(b, ['01']);
        const keys = rows(a, 1, 2, 3);
        const results = await Promise.all([lock(a, '01', keys), lock(b, '01', [...keys].reverse())]);
        expect(results.map((r) => r?.kind).sort()).toEqual(['conflict', 'locked']);
        const winner = results[0]?.kind === 'locked' ? a : b;
        expect(new Set((await store.heldRowLocks(keys)).map((h) => h.gid))).toEqual(new Set([winner]));
        expect(await store.heldRowLocks(keys)).toHaveLength(3);
      }
    });
  });
}
