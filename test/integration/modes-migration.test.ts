/**
 * Migration 0004 on an existing log (schema 0003, TCC rows and their
 * events): every status takes the model's name, a branch's URLs become its
 * `operations` (confirm, then cancel), and the history of each transaction
 * is exactly the event rows it had (the happy path read from the rows adds
 * nothing where rows already say it). A transaction begun before the
 * migration and finished after it has each line once. `down` restores the
 * 0003 columns, names and indexes, row for row.
 */
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { assembleHistory } from '../../coordinator/domain/history.ts';
import type { GlobalStatus } from '../../coordinator/domain/transaction.ts';
import { connectMysql } from '../../coordinator/store/mysql/connect.ts';
import { migrateLatest } from '../../coordinator/store/mysql/migrator.ts';
import { createTestDatabase, type TestDatabase } from '../support/databases.ts';
import { openLogStore } from '../support/log-store.ts';
import { dumpLogTable, logColumns, migrateThrough, migrationsAfter, rollbackAfter } from '../support/migrate-to.ts';

const T0 = 1_700_000_000_000;
const BANK = 'http://bank:4000/dtx/account';

/** Transactions as 0003 logged them, by their TCC status then and the model's status now. */
const LOGGED: { gid: string; status: string; model: GlobalStatus; branches: [string, string][] }[] = [
  { gid: 'T-trying', status: 'trying', model: 'open', branches: [['01', 'prepared']] },
  {
    gid: 'T-confirming',
    status: 'confirming',
    model: 'committing',
    branches: [
      ['01', 'confirmed'],
      ['02', 'prepared'],
    ],
  },
  { gid: 'T-confirmed', status: 'confirmed', model: 'committed', branches: [['01', 'confirmed']] },
  { gid: 'T-cancelling', status: 'cancelling', model: 'rolling-back', branches: [['01', 'prepared']] },
  { gid: 'T-cancelled', status: 'cancelled', model: 'rolled-back', branches: [['01', 'cancelled']] },
];

const BRANCH_MODEL: Record<string, string> = { prepared: 'pending', confirmed: 'committed', cancelled: 'rolled-back' };

/** The 0003 event rows of a transaction in `status`: begin, registers, and what its status implies. */
function eventsOf(gid: string, status: string, branches: [string, string][]): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [
    { gid, at: T0, kind: 'begin', to_status: 'trying', message: `deadline ${new Date(T0 + 60_000).toISOString()}`, actor: 'billing' },
    ...branches.map(([branchId]) => ({
      gid,
      at: T0,
      kind: 'register',
      branch_id: branchId,
      message: `confirm ${BANK}/confirm cancel ${BANK}/cancel`,
      actor: 'billing',
    })),
  ];
  if (status === 'trying') return rows;
  const direction = status.startsWith('confirm') ? 'confirming' : 'cancelling';
  const op = direction === 'confirming' ? 'confirm' : 'cancel';
  rows.push({ gid, at: T0 + 5, kind: 'status', from_status: 'trying', to_status: direction, message: 'submitted', actor: 'initiator' });
  for (const [branchId, branchStatus] of branches) {
    if (branchStatus === 'prepared') {
      rows.push({ gid, at: T0 + 10, kind: 'branch-call', branch_id: branchId, op, outcome: 'unknown', attempt: 1, message: 'HTTP 500' });
    } else {
      rows.push({ gid, at: T0 + 10, kind: 'branch-call', branch_id: branchId, op, outcome: 'success', attempt: 1, message: 'HTTP 200' });
    }
  }
  if (branches.some(([, s]) => s === 'prepared')) rows.push({ gid, at: T0 + 10, kind: 'attention', message: 'stuck' });
  else rows.push({ gid, at: T0 + 10, kind: 'status', from_status: direction, to_status: status });
  return rows;
}

describe('migration 0004 on an existing log', () => {
  let db: TestDatabase;
  let knex: Knex;

  beforeAll(async () => {
    db = await createTestDatabase(inject('mysqlUrl'), 'modes_migration');
    knex = connectMysql({ url: db.url, poolMax: 2 });
  });

  afterAll(async () => {
    await knex?.destroy();
    await db?.drop();
  });

  const columns = () => logColumns(knex, db.name);

  async function indexes(): Promise<string[]> {
    const rows = (await knex('information_schema.STATISTICS')
      .select('TABLE_NAME as t', 'INDEX_NAME as i', 'SEQ_IN_INDEX as n', 'COLUMN_NAME as c', 'NON_UNIQUE as u')
      .where('TABLE_SCHEMA', db.name)) as { t: string; i: string; n: number; c: string; u: number }[];
    return rows.map((r) => `${r.t}.${r.i}.${r.n}:${r.c}:${r.u}`).sort();
  }

  const dump = (table: string) => dumpLogTable(knex, table);
  const dumpAll = async () => ({ global: await dump('dtx_global'), branch: await dump('dtx_branch'), event: await dump('dtx_event') });

  it('reads back with the model names, operations in order and the same history; down restores 0003; a transaction spanning it has each line once', async () => {
    expect(await migrateThrough(knex, '0003-exact-ids')).toEqual(['0001-transaction-log', '0002-operations', '0003-exact-ids']);
    for (const { gid, status, branches } of LOGGED) {
      const decided = status !== 'trying';
      const finished = status === 'confirmed' || status === 'cancelled';
      await knex('dtx_global').insert({
        gid,
        mode: 'tcc',
        status,
        reason: decided ? 'submitted' : null,
        caller: 'billing',
        created_at: T0,
        updated_at: T0 + 10,
        deadline_at: T0 + 60_000,
        // One decided before decided_at existed: its decision time is in its history only.
        decided_at: decided && gid !== 'T-cancelling' ? T0 + 5 : null,
        finished_at: finished ? T0 + 10 : null,
        retry_count: finished || !decided ? 0 : 1,
        next_retry_at: finished ? null : T0 + 60_000,
        needs_attention: decided && !finished,
        attention_reason: decided && !finished ? 'stuck' : null,
        paused: false,
      });
      await knex('dtx_branch').insert(
        branches.map(([branchId, branchStatus]) => ({
          gid,
          branch_id: branchId,
          confirm_url: `${BANK}/confirm`,
          cancel_url: `${BANK}/cancel`,
          participant: 'http://bank:4000',
          payload: '{"amount":1}',
          status: branchStatus,
          attempts: decided ? 1 : 0,
          last_error: branchStatus === 'prepared' && decided ? 'HTTP 500' : null,
          created_at: T0,
          updated_at: T0 + 10,
        })),
      );
      await knex('dtx_event').insert(eventsOf(gid, status, branches));
    }
    const before = await dumpAll();
    const columnsBefore = await columns();
    const indexesBefore = await indexes();

    expect(await migrateLatest(knex)).toEqual(migrationsAfter('0003-exact-ids'));

    const log = await openLogStore(db.url, { migrate: false });
    try {
      for (const { gid, model, branches } of LOGGED) {
        const snapshot = (await log.store.load(gid))!;
        expect(snapshot.transaction, gid).toMatchObject({ status: model, caller: 'billing', decidedBy: null });
        expect(
          snapshot.branches.map((b) => [b.branchId, b.status, b.operations, Object.keys(b.operations), b.registeredBy, b.completion]),
          gid,
        ).toEqual(
          branches.map(([branchId, status]) => [
            branchId,
            BRANCH_MODEL[status],
            { confirm: `${BANK}/confirm`, cancel: `${BANK}/cancel` },
            ['confirm', 'cancel'],
            null,
            null,
          ]),
        );
        const events = await log.store.events(gid);
        const logged = before.event.filter((row) => row.gid === gid);
        expect(events.map((e) => e.id)).toEqual(logged.map((row) => Number(row.id)));
        // The statuses of begin and status events take the model's names; nothing else changes.
        const rename = (s: string | null) => (s === null ? null : LOGGED.find((x) => x.status === s)!.model);
        expect(events.map((e) => [e.kind, e.fromStatus, e.toStatus, e.branchId, e.op, e.outcome, e.attempt, e.message, e.actor, e.at])).toEqual(
          logged.map((row) => [
            row.kind,
            rename(row.from_status as string | null),
            rename(row.to_status as string | null),
            row.branch_id,
            row.op,
            row.outcome,
            row.attempt,
            row.message,
            row.actor,
            Number(row.at),
          ]),
        );
        // The history is the rows, each line once: nothing assembled on top.
        expect(assembleHistory(snapshot, events), gid).toEqual(events);
      }
      expect(await log.store.decisionTime('T-confirming')).toBe(T0 + 5);
      expect((await log.store.load('T-cancelling'))?.transaction.decidedAt).toBeNull();
      expect(await log.store.decisionTime('T-cancelling')).toBe(T0 + 5);
    } finally {
      await log.close();
    }

    // down: the 0003 log, row for row, column for column, index for index.
    expect(await rollbackAfter(knex, '0003-exact-ids')).toEqual(migrationsAfter('0003-exact-ids').reverse());
    expect(await dumpAll()).toEqual(before);
    expect(await columns()).toEqual(columnsBefore);
    expect(await indexes()).toEqual(indexesBefore);

    // Up again, and the open transaction of 0003 carries on under 0004: decided and finished without event rows, each line of its history once.
    expect(await migrateLatest(knex)).toEqual(migrationsAfter('0003-exact-ids'));
    const again = await openLogStore(db.url, { migrate: false });
    try {
      const gid = 'T-trying';
      const oldEvents = await again.store.events(gid);
      const decided = await again.store.decide({
        gid,
        to: 'committing',
        guard: { from: 'open', deadlineAfter: T0 + 1_000 },
        reason: 'all tried',
        now: T0 + 1_000,
        owner: 'o',
        leaseUntil: T0 + 2_000,
        actor: 'initiator',
      });
      expect(decided?.transaction).toMatchObject({ status: 'committing', decidedAt: T0 + 1_000, decidedBy: 'initiator' });
      const results = [{ branchId: '01', op: 'confirm' as const, outcome: 'success' as const, httpStatus: 200, error: null, attempt: 1 }];
      expect(
        await again.store.recordRound({
          gid,
          owner: 'o',
          from: 'committing',
          results,
          skipped: [],
          decision: { kind: 'finish', status: 'committed' },
          now: T0 + 1_500,
          leaseUntil: T0 + 16_500,
        }),
      ).toBe(true);
      const events = await again.store.events(gid);
      expect(events).toEqual(oldEvents);
      const history = assembleHistory((await again.store.load(gid))!, events);
      expect(history.map((e) => [e.id === 0 ? 'row' : 'event', e.kind, e.branchId, e.fromStatus, e.toStatus, e.actor, e.at])).toEqual([
        ['event', 'begin', null, null, 'open', 'billing', T0],
        ['event', 'register', '01', null, null, 'billing', T0],
        ['row', 'status', null, 'open', 'committing', 'initiator', T0 + 1_000],
        ['row', 'branch-call', '01', null, null, null, T0 + 1_500],
        ['row', 'status', null, 'committing', 'committed', null, T0 + 1_500],
      ]);
    } finally {
      await again.close();
    }
  });
});
