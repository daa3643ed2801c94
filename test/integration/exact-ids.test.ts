/**
 * Ids in the transaction log compare byte for byte, on the real database:
 * gids and branch ids differing only in case are different transactions and
 * branches; a begin is a re-send only when the transaction row with exactly
 * its gid exists; and migration 0003 turns an existing log (schema 0002,
 * with rows) into that, keeping every row, and adds decided_at and caller.
 */
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { assembleHistory } from '../../coordinator/domain/history.ts';
import { connectMysql } from '../../coordinator/store/mysql/connect.ts';
import { migrateLatest } from '../../coordinator/store/mysql/migrator.ts';
import { createTestDatabase, type TestDatabase } from '../support/databases.ts';
import { openLogStore, registration, type LogStore } from '../support/log-store.ts';
import { dumpLogTable, logColumns, migrateThrough, migrationsAfter } from '../support/migrate-to.ts';
import { uniqueGid } from '../support/recovery-helpers.ts';

const T0 = 1_700_000_000_000;

describe('ids compared exactly', () => {
  let db: TestDatabase;
  let log: LogStore;

  beforeAll(async () => {
    db = await createTestDatabase(inject('mysqlUrl'), 'exact_ids');
    log = await openLogStore(db.url);
  });

  afterAll(async () => {
    await log?.close();
    await db?.drop();
  });

  const begin = (gid: string, branchIds: string[], caller: string | null = 'tests') =>
    log.store.begin({ gid, mode: 'tcc', now: Date.now(), deadlineAt: Date.now() + 60_000, caller, branches: branchIds.map((id) => registration(id)) });

  it("begin 'order-1' while 'ORDER-1' exists creates a second transaction, each with its own branches", async () => {
    const suffix = uniqueGid('');
    const upper = `ORDER-1${suffix}`;
    const lower = `order-1${suffix}`;
    expect(await begin(upper, ['01'])).toBe('created');
    expect(await begin(lower, ['02'])).toBe('created');

    const [a, b] = await Promise.all([log.store.load(upper), log.store.load(lower)]);
    expect(a?.transaction.gid).toBe(upper);
    expect(b?.transaction.gid).toBe(lower);
    expect(a?.branches.map((x) => [x.gid, x.branchId])).toEqual([[upper, '01']]);
    expect(b?.branches.map((x) => [x.gid, x.branchId])).toEqual([[lower, '02']]);
    expect((await log.store.events(lower)).every((e) => e.gid === lower)).toBe(true);
    // A true re-send is still one.
    expect(await begin(lower, ['02'])).toBe('exists');
  });

  it('two branch ids differing only in case are two branches, at begin and at register', async () => {
    const gid = uniqueGid('case-branches');
    expect(await begin(gid, ['pay', 'PAY'])).toBe('created');
    const now = Date.now();
    const registered = await log.store.registerBranches({
      gid,
      guard: { from: 'open', deadlineAfter: now },
      now,
      branches: [registration('Ship'), registration('ship')],
      actor: null,
    });
    expect(registered?.inserted.map((b) => b.branchId)).toEqual(['Ship', 'ship']);
    const snapshot = await log.store.load(gid);
    expect(snapshot?.branches.map((b) => b.branchId).sort()).toEqual(['PAY', 'Ship', 'pay', 'ship']);
  });

  it('an id that cannot exist (outside ASCII) is simply not found', async () => {
    for (const gid of ['é-1', 'ＯＲＤＥＲ-1', '\u{1F600}']) {
      expect(await log.store.load(gid), gid).toBeNull();
      expect(await log.store.events(gid), gid).toEqual([]);
    }
  });

  it('a duplicate key that is not the transaction row is an error, not a re-send', async () => {
    const gid = uniqueGid('orphan');
    // A branch row without its transaction: begin hits the branch key, not the gid's.
    await log.knex('dtx_branch').insert({
      gid,
      branch_id: '01',
      operations: JSON.stringify(registration('01').operations),
      participant: 'http://127.0.0.1:9',
      payload: '{}',
      status: 'pending',
      attempts: 0,
      created_at: T0,
      updated_at: T0,
    });
    await expect(begin(gid, ['01'])).rejects.toMatchObject({ errno: 1062 });
    expect(await log.store.load(gid)).toBeNull();
  });

  it('records the caller at begin and the decision time at the decision, which decisionTime reads', async () => {
    const gid = uniqueGid('decided');
    expect(await begin(gid, ['01'], 'billing')).toBe('created');
    const open = await log.store.load(gid);
    expect(open?.transaction).toMatchObject({ caller: 'billing', decidedAt: null, decidedBy: null });
    const decidedAt = Date.now();
    const decided = await log.store.decide({
      gid,
      to: 'rolling-back',
      guard: { from: 'open' },
      reason: 'timeout',
      now: decidedAt,
      owner: 'o',
      leaseUntil: decidedAt + 1_000,
      actor: 'timeout-sweeper',
    });
    expect(decided?.transaction).toMatchObject({ status: 'rolling-back', caller: 'billing', decidedAt, decidedBy: 'timeout-sweeper' });
    expect(await log.store.decisionTime(gid)).toBe(decidedAt);
    // The history says the same, read from the row (the decision writes no event row).
    const events = await log.store.events(gid);
    expect(events).toEqual([]);
    const [status] = assembleHistory(decided!, events).filter((e) => e.kind === 'status');
    expect([status?.at, status?.actor]).toEqual([decidedAt, 'timeout-sweeper']);
  });
});

describe('migration 0003 on an existing log', () => {
  let db: TestDatabase;
  let knex: Knex;

  beforeAll(async () => {
    db = await createTestDatabase(inject('mysqlUrl'), 'exact_ids_migration');
    knex = connectMysql({ url: db.url, poolMax: 2 });
  });

  afterAll(async () => {
    await knex?.destroy();
    await db?.drop();
  });

  const columns = () => logColumns(knex, db.name);
  const dump = (table: string) => dumpLogTable(knex, table);

  it('keeps every row and column, makes the id columns binary, and adds decided_at and caller', async () => {
    // The log as 0002 left it.
    await migrateThrough(knex, '0002-operations');
    const gid = 'Order-7.a_b';
    await knex('dtx_global').insert({
      gid,
      mode: 'tcc',
      status: 'confirming',
      reason: 'submitted',
      created_at: T0,
      updated_at: T0 + 10,
      deadline_at: T0 + 60_000,
      retry_count: 2,
      next_retry_at: T0 + 5_000,
      needs_attention: true,
      attention_reason: 'stuck',
      paused: false,
      lease_owner: 'node-a#3',
      lease_until: T0 + 15_000,
    });
    await knex('dtx_branch').insert({
      gid,
      branch_id: 'Pay-01',
      confirm_url: 'http://bank:4000/dtx/account/confirm',
      cancel_url: 'http://bank:4000/dtx/account/cancel',
      participant: 'http://bank:4000',
      payload: '{"amount":1}',
      status: 'prepared',
      attempts: 2,
      last_error: 'HTTP 500',
      created_at: T0,
      updated_at: T0 + 10,
    });
    await knex('dtx_event').insert([
      { gid, at: T0, kind: 'begin', to_status: 'trying', message: 'deadline' },
      { gid, at: T0 + 5, kind: 'status', from_status: 'trying', to_status: 'confirming', actor: 'initiator' },
      { gid, at: T0 + 10, kind: 'branch-call', branch_id: 'Pay-01', op: 'confirm', outcome: 'unknown', attempt: 2, message: 'HTTP 500' },
    ]);
    await knex('dtx_audit').insert([
      { at: T0 + 20, actor: 'ops', role: 'operator', action: 'pause', gid, branch_id: null, reason: 'looking', detail: null },
      { at: T0 + 30, actor: 'ops', role: 'operator', action: 'resolve-branch', gid, branch_id: 'Pay-01', reason: 'fixed', detail: 'by hand' },
    ]);
    const before = { global: await dump('dtx_global'), branch: await dump('dtx_branch'), event: await dump('dtx_event'), audit: await dump('dtx_audit') };
    const columnsBefore = await columns();
    expect(columnsBefore['dtx_global.gid']?.collation).toBe('utf8mb4_unicode_ci');

    expect(await migrateThrough(knex, '0003-exact-ids')).toEqual(['0003-exact-ids']);

    // Every row as it was; the global row gains the two new columns, empty.
    expect(await dump('dtx_global')).toEqual(before.global.map((row) => ({ ...row, decided_at: null, caller: null })));
    expect(await dump('dtx_branch')).toEqual(before.branch);
    expect(await dump('dtx_event')).toEqual(before.event);
    expect(await dump('dtx_audit')).toEqual(before.audit);

    const after = await columns();
    const idColumns = [
      'dtx_global.gid',
      'dtx_branch.gid',
      'dtx_branch.branch_id',
      'dtx_event.gid',
      'dtx_event.branch_id',
      'dtx_audit.gid',
      'dtx_audit.branch_id',
    ];
    for (const name of idColumns) {
      expect(after[name], name).toEqual({ ...columnsBefore[name], collation: 'utf8mb4_bin' });
    }
    // Nothing else changed.
    for (const [name, column] of Object.entries(columnsBefore)) {
      if (!idColumns.includes(name)) expect(after[name], name).toEqual(column);
    }
    expect(after['dtx_global.decided_at']).toMatchObject({ type: 'bigint(20)', nullable: 'YES' });
    expect(after['dtx_global.caller']).toMatchObject({ type: 'varchar(64)', nullable: 'YES' });

    // Migrated on to the latest schema, the store reads the old transaction; its decision time comes from the history.
    expect(await migrateLatest(knex)).toEqual(migrationsAfter('0003-exact-ids'));
    const log = await openLogStore(db.url, { migrate: false });
    try {
      const snapshot = await log.store.load(gid);
      expect(snapshot?.transaction).toMatchObject({ gid, status: 'committing', caller: null, decidedAt: null, decidedBy: null, retryCount: 2 });
      expect(snapshot?.branches.map((b) => b.branchId)).toEqual(['Pay-01']);
      expect(await log.store.decisionTime(gid)).toBe(T0 + 5);
      // And the case variant of the old gid is now another transaction.
      expect(await log.store.begin({ gid: gid.toLowerCase(), mode: 'tcc', now: T0, deadlineAt: T0 + 1, caller: null, branches: [] })).toBe('created');
      expect(await log.store.load(gid.toUpperCase())).toBeNull();
    } finally {
      await log.close();
    }
  });
});
