/**
 * The admin list's keyset paging (MysqlAdminStore.list) returns every
 * matching transaction exactly once, in order, whatever the filter and the
 * plan chosen for it (named index, primary key for a gid prefix, the two
 * participant plans), including rows that tie on created_at. The plans
 * themselves and their cost on a million rows are in docs/operations.md.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Knex } from 'knex';
import type { GlobalTransaction } from '../../coordinator/domain/transaction.ts';
import type { ListFilter } from '../../coordinator/store/ports/admin-store.ts';
import { connectMysql } from '../../coordinator/store/mysql/connect.ts';
import { migrateLatest } from '../../coordinator/store/mysql/migrator.ts';
import { MysqlAdminStore } from '../../coordinator/store/mysql/mysql-admin-store.ts';
import { MysqlTransactionStore } from '../../coordinator/store/mysql/mysql-transaction-store.ts';
import { MysqlWriter } from '../../coordinator/store/mysql/mysql-writer.ts';
import { connectBatchPool, MysqlBatch } from '../../coordinator/store/mysql/mysql-batch.ts';
import { createTestDatabase, type TestDatabase } from '../support/databases.ts';

const T0 = 1_700_000_000_000;
const COMMON = 'http://common-bank:4001';
const RARE = 'http://rare-bank:4002';

interface Fixture {
  gid: string;
  createdAt: number;
  status: GlobalTransaction['status'];
  needsAttention: boolean;
  paused: boolean;
  participants: string[];
}

describe('admin list paging', () => {
  let db: TestDatabase;
  let knex: Knex;
  let store: MysqlAdminStore;
  let batchLog: MysqlTransactionStore | undefined;
  const fixtures: Fixture[] = [];

  beforeAll(async () => {
    db = await createTestDatabase(inject('mysqlUrl'), 'admin_paging');
    knex = connectMysql({ url: db.url, poolMax: 4 });
    await migrateLatest(knex);
    const writer = new MysqlWriter(knex);
    const log = new MysqlTransactionStore(writer, new MysqlBatch(connectBatchPool(db.url, 2), writer));
    batchLog = log;
    // 3 branches make a participant "common": both participant plans run on a small log.
    store = new MysqlAdminStore(writer, { commonParticipantBranches: 3 });

    const statuses: GlobalTransaction['status'][] = ['open', 'committing', 'committed', 'rolled-back', 'rolling-back'];
    for (let i = 0; i < 23; i++) {
      // Groups of 4 share a created_at: ties are broken by gid.
      const createdAt = T0 + Math.floor(i / 4) * 1000;
      const gid = `${i % 3 === 0 ? 'pa' : 'pb'}-${String(i).padStart(3, '0')}`;
      const participants = i % 2 === 0 ? [COMMON, COMMON] : i % 7 === 1 ? [RARE] : ['http://other:4003'];
      const branches = participants.map((p, n) => ({
        branchId: `0${n + 1}`,
        operations: { confirm: `${p}/dtx/a/confirm`, cancel: `${p}/dtx/a/cancel` },
        payload: '{}',
      }));
      // Every third transaction registers its branch after it began (another instance, later clock).
      const late = i % 3 === 2;
      await log.begin({ gid, mode: 'tcc', now: createdAt, deadlineAt: createdAt + 60_000, caller: null, branches: late ? [] : branches });
      if (late) await log.registerBranches({ gid, guard: { from: 'open', mode: 'tcc' }, now: createdAt + 5_000, branches, actor: null });
      const fixture: Fixture = { gid, createdAt, status: statuses[i % statuses.length]!, needsAttention: i % 4 === 1, paused: i % 5 === 1, participants };
      await knex('dtx_global').where({ gid }).update({ status: fixture.status, needs_attention: fixture.needsAttention, paused: fixture.paused });
      fixtures.push(fixture);
    }
  });

  afterAll(async () => {
    // Closes the batch pool and the knex pool it shares.
    if (batchLog) await batchLog.close();
    else await knex?.destroy();
    await db?.drop();
  });

  function expected(filter: ListFilter, order: 'newest' | 'oldest'): string[] {
    const matching = fixtures.filter(
      (f) =>
        (filter.status === undefined || f.status === filter.status) &&
        (filter.needsAttention === undefined || f.needsAttention === filter.needsAttention) &&
        (filter.paused === undefined || f.paused === filter.paused) &&
        (filter.gidPrefix === undefined || f.gid.startsWith(filter.gidPrefix)) &&
        (filter.participant === undefined || f.participants.includes(filter.participant)) &&
        (filter.createdAfter === undefined || f.createdAt >= filter.createdAfter) &&
        (filter.createdBefore === undefined || f.createdAt < filter.createdBefore),
    );
    const sorted = matching.sort((a, b) => a.createdAt - b.createdAt || (a.gid < b.gid ? -1 : a.gid > b.gid ? 1 : 0)).map((f) => f.gid);
    return order === 'newest' ? sorted.reverse() : sorted;
  }

  async function pageThrough(filter: ListFilter, order: 'newest' | 'oldest', limit: number): Promise<string[]> {
    const seen: string[] = [];
    let after: { createdAt: number; gid: string } | undefined;
    for (let page = 0; page < 50; page++) {
      const result = await store.list({ filter, order, limit, ...(after ? { after } : {}) });
      seen.push(...result.items.map((t) => t.gid));
      if (!result.next) return seen;
      after = result.next;
    }
    throw new Error('paging did not end');
  }

  const filters: [string, ListFilter][] = [
    ['no filter', {}],
    ['status (open)', { status: 'committing' }],
    ['status (finished)', { status: 'committed' }],
    ['needs attention', { needsAttention: true }],
    ['not needing attention', { needsAttention: false }],
    ['paused', { paused: true }],
    ['mode', { mode: 'tcc' }],
    ['gid prefix', { gidPrefix: 'pa' }],
    ['gid prefix + finished status', { gidPrefix: 'pb', status: 'rolled-back' }],
    ['time window', { createdAfter: T0 + 1000, createdBefore: T0 + 4000 }],
    ['participant (common plan)', { participant: COMMON }],
    ['participant (common plan) + status', { participant: COMMON, status: 'open' }],
    ['participant (rare plan)', { participant: RARE }],
    ['participant with no transaction', { participant: 'http://nobody:1' }],
  ];

  it.each(filters)('%s: every match exactly once, in order, page after page', async (_label, filter) => {
    for (const order of ['newest', 'oldest'] as const) {
      const want = expected(filter, order);
      for (const limit of [1, 2, 5, 100]) {
        expect(await pageThrough(filter, order, limit), `${order}, pages of ${limit}`).toEqual(want);
      }
    }
  });

  it('covers both participant plans and ties on created_at', () => {
    expect(fixtures.filter((f) => f.participants.includes(COMMON)).length).toBeGreaterThanOrEqual(3);
    expect(fixtures.filter((f) => f.participants.includes(RARE)).length).toBeLessThan(3);
    expect(new Set(fixtures.map((f) => f.createdAt)).size).toBeLessThan(fixtures.length);
  });
});
