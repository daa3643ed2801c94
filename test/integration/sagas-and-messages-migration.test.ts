/**
 * Migration 0005 on an existing log (schema 0004, TCC rows): every branch
 * reads back as it was, at place 0 of its registration (branches of one
 * commit then keep their id order) with no graph, no payload of its own per
 * operation, no retry limit and the coordinator's timeout. `down` removes
 * exactly the columns 0005 added, and the rows are as 0004 left them.
 */
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectMysql } from '../../coordinator/store/mysql/connect.ts';
import { migrateLatest } from '../../coordinator/store/mysql/migrator.ts';
import { createTestDatabase, type TestDatabase } from '../support/databases.ts';
import { openLogStore } from '../support/log-store.ts';
import { dumpLogTable, logColumns, migrateThrough, migrationsAfter, rollbackAfter, rollbackLast } from '../support/migrate-to.ts';

const T0 = 1_700_000_000_000;
const BANK = 'http://bank:4000/dtx/account';
const OPERATIONS = { confirm: `${BANK}/confirm`, cancel: `${BANK}/cancel` };
const NEW_COLUMNS = [
  'dtx_branch.call_timeout_ms',
  'dtx_branch.depends_on',
  'dtx_branch.max_attempts',
  'dtx_branch.op_payloads',
  'dtx_branch.seq',
  'dtx_global.check_url',
  'dtx_global.not_before',
];

describe('migration 0005 on an existing log', () => {
  let db: TestDatabase;
  let knex: Knex;

  beforeAll(async () => {
    db = await createTestDatabase(inject('mysqlUrl'), 'step_graphs_migration');
    knex = connectMysql({ url: db.url, poolMax: 2 });
  });

  afterAll(async () => {
    await knex?.destroy();
    await db?.drop();
  });

  const dumpAll = async () => ({
    global: await dumpLogTable(knex, 'dtx_global'),
    branch: await dumpLogTable(knex, 'dtx_branch'),
    event: await dumpLogTable(knex, 'dtx_event'),
  });

  it('TCC rows read back unchanged: branches at place 0, every new field null; down removes exactly the new columns, row for row', async () => {
    const through = await migrateThrough(knex, '0004-modes');
    expect(through.at(-1)).toBe('0004-modes');

    // A committing transaction whose branches were registered in one commit (same created_at), in an order their ids do not sort in.
    await knex('dtx_global').insert([
      {
        gid: 'T-committing',
        mode: 'tcc',
        status: 'committing',
        reason: 'submitted',
        caller: 'billing',
        created_at: T0,
        updated_at: T0 + 10,
        deadline_at: T0 + 60_000,
        decided_at: T0 + 5,
        decided_by: 'billing',
        retry_count: 1,
        next_retry_at: T0 + 1_000,
        needs_attention: false,
        paused: false,
      },
      {
        gid: 'T-committed',
        mode: 'tcc',
        status: 'committed',
        reason: null,
        caller: 'billing',
        created_at: T0,
        updated_at: T0 + 20,
        deadline_at: T0 + 60_000,
        decided_at: T0 + 5,
        decided_by: 'billing',
        finished_at: T0 + 20,
        retry_count: 0,
        next_retry_at: null,
        needs_attention: false,
        paused: false,
      },
    ]);
    const branchRow = (gid: string, branchId: string, status: string, done: boolean) => ({
      gid,
      branch_id: branchId,
      operations: JSON.stringify(OPERATIONS),
      participant: 'http://bank:4000',
      payload: `{"branch":"${branchId}"}`,
      status,
      attempts: done ? 1 : 0,
      last_error: null,
      created_at: T0,
      updated_at: T0 + 10,
      registered_by: 'billing',
      done_at: done ? T0 + 10 : null,
      done_op: done ? 'confirm' : null,
      done_attempt: done ? 1 : null,
      done_http: done ? 200 : null,
    });
    await knex('dtx_branch').insert([
      branchRow('T-committing', '02', 'committed', true),
      branchRow('T-committing', '01', 'pending', false),
      branchRow('T-committed', '01', 'committed', true),
    ]);
    await knex('dtx_event').insert({
      gid: 'T-committing',
      at: T0 + 10,
      kind: 'branch-call',
      branch_id: '01',
      op: 'confirm',
      outcome: 'unknown',
      attempt: 1,
      message: 'HTTP 500',
    });

    const before = await dumpAll();
    const columnsBefore = await logColumns(knex, db.name);
    // 0005 alone first: its columns, and nothing else.
    expect(await migrateThrough(knex, '0005-sagas-and-messages')).toEqual(['0005-sagas-and-messages']);
    const columnsAfter = await logColumns(knex, db.name);
    expect(
      Object.keys(columnsAfter)
        .filter((column) => !(column in columnsBefore))
        .sort(),
    ).toEqual(NEW_COLUMNS);
    // Nothing else changed shape.
    for (const [column, shape] of Object.entries(columnsBefore)) expect(columnsAfter[column], column).toEqual(shape);

    // Row for row: the old columns as they were, the new ones at their defaults.
    const after = await dumpAll();
    expect(after.global).toEqual(before.global.map((row) => ({ ...row, check_url: null, not_before: null })));
    expect(after.event).toEqual(before.event);
    expect(after.branch).toEqual(
      before.branch.map((row) => ({ ...row, seq: 0, depends_on: null, op_payloads: null, max_attempts: null, call_timeout_ms: null })),
    );
    // 0005 undone alone leaves 0004's columns; then up again, with the later migrations the store reads.
    expect(await rollbackLast(knex, '0005-sagas-and-messages')).toEqual(['0005-sagas-and-messages']);
    expect(await logColumns(knex, db.name)).toEqual(columnsBefore);
    expect(await migrateLatest(knex)).toEqual(migrationsAfter('0004-modes'));

    const log = await openLogStore(db.url, { migrate: false });
    try {
      const snapshot = (await log.store.load('T-committing'))!;
      // Logged before anyone could be named to join it (0006): its caller alone registers in it.
      expect(snapshot.transaction).toMatchObject({
        status: 'committing',
        decidedAt: T0 + 5,
        decidedBy: 'billing',
        retryCount: 1,
        caller: 'billing',
        joinableBy: [],
      });
      // Same created_at and seq 0: by id, as before 0005.
      expect(snapshot.branches.map((b) => [b.branchId, b.status, b.operations, b.payload, b.dependsOn, b.opPayloads, b.maxAttempts, b.callTimeoutMs])).toEqual([
        ['01', 'pending', OPERATIONS, '{"branch":"01"}', null, null, null, null],
        ['02', 'committed', OPERATIONS, '{"branch":"02"}', null, null, null, null],
      ]);
      expect(snapshot.branches[1]!.completion).toEqual({ at: T0 + 10, op: 'confirm', attempt: 1, httpStatus: 200 });
      expect((await log.store.load('T-committed'))!.branches.map((b) => [b.branchId, b.status, b.dependsOn, b.maxAttempts])).toEqual([
        ['01', 'committed', null, null],
      ]);
      expect((await log.store.events('T-committing')).map((e) => [e.kind, e.branchId, e.outcome])).toEqual([['branch-call', '01', 'unknown']]);

      // The old transaction carries on under 0005: claimed when due and finished.
      expect(await log.store.claim('T-committing', 'o', T0 + 1_000, T0 + 31_000)).not.toBeNull();
      const results = [{ branchId: '01', op: 'confirm' as const, outcome: 'success' as const, httpStatus: 200, error: null, attempt: 2 }];
      expect(
        await log.store.recordRound({
          gid: 'T-committing',
          owner: 'o',
          from: 'committing',
          results,
          skipped: [],
          decision: { kind: 'finish', status: 'committed' },
          now: T0 + 1_500,
          leaseUntil: T0 + 31_000,
        }),
      ).toBe(true);
      expect((await log.store.load('T-committing'))!.transaction.status).toBe('committed');
    } finally {
      await log.close();
    }

    // down: exactly the 0004 columns again, and the rows 0004 had (the finish above aside, which is undone by restoring its rows first).
    await knex('dtx_global')
      .where({ gid: 'T-committing' })
      .update(before.global.find((row) => row.gid === 'T-committing')!);
    for (const row of before.branch.filter((r) => r.gid === 'T-committing')) {
      await knex('dtx_branch').where({ gid: row.gid, branch_id: row.branch_id }).update(row);
    }
    expect(await rollbackAfter(knex, '0004-modes')).toEqual(migrationsAfter('0004-modes').reverse());
    expect(await logColumns(knex, db.name)).toEqual(columnsBefore);
    expect(await dumpAll()).toEqual(before);
  });
});
