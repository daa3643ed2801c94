/**
 * The barrier table's upgrade, against real MariaDB: a table created by the
 * previous definition (without the `coordinator` column) keeps its rows and
 * keeps working, and createBarrierTable adds the column, once, however many
 * processes run it at the same time.
 */
import knexFactory from 'knex';
import type { Knex } from 'knex';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { runInBarrier } from '../../participant-sdk/barrier/barrier.ts';
import { createBarrierTable } from '../../participant-sdk/barrier/migration.ts';
import { commitXa, prepareXa, type XaBranchOptions } from '../../participant-sdk/xa/xa-branch.ts';
import { createXaGidTable } from '../../participant-sdk/xa/xa-tables.ts';
import { waitFor } from '../../tools/wait.ts';
import { createTestDatabase, type TestDatabase } from '../support/databases.ts';

const TABLE = 'dtx_barrier';
const NOW = 1_700_000_000_000;

/** The barrier table as the previous version created it. */
const PREVIOUS_DEFINITION = `create table ?? (
  id bigint unsigned not null auto_increment,
  gid varchar(128) character set ascii collate ascii_bin not null,
  branch_id varchar(64) character set ascii collate ascii_bin not null,
  op varchar(16) character set ascii collate ascii_bin not null,
  seq smallint unsigned not null default 1,
  origin_op varchar(16) character set ascii collate ascii_bin not null,
  created_at bigint not null,
  primary key (id),
  unique key uq_dtx_barrier_branch_op (gid, branch_id, op, seq),
  key idx_dtx_barrier_created_at (created_at)
) engine = InnoDB`;

let db: TestDatabase;
let knex: Knex;
const others: Knex[] = [];

beforeEach(async (context) => {
  db = await createTestDatabase(inject('mysqlUrl'), `barrier migration ${context.task.name}`);
  knex = connect();
  await knex.raw(PREVIOUS_DEFINITION, [TABLE]);
  await createXaGidTable(knex);
  await knex.raw('create table effects (id int auto_increment primary key, gid varchar(128) not null)');
});

afterEach(async () => {
  for (const other of others.splice(0)) await other.destroy();
  await knex?.destroy();
  await db?.drop();
});

function connect(): Knex {
  return knexFactory({ client: 'mysql2', connection: db.url, pool: { min: 0, max: 4 } });
}

async function columns(): Promise<Array<{ name: string; type: string; nullable: string }>> {
  const [rows] = (await knex.raw(
    'select column_name as name, column_type as type, is_nullable as nullable from information_schema.columns where table_schema = database() and table_name = ? order by ordinal_position',
    [TABLE],
  )) as unknown as [Array<{ name: string; type: string; nullable: string }>];
  return rows;
}

const branch = (gid: string, coordinator?: string): XaBranchOptions => ({
  gid,
  branchId: 'b1',
  gidTable: 'dtx_xa_gid',
  now: () => NOW,
  lockWaitSeconds: 1,
  ...(coordinator === undefined ? {} : { coordinator }),
});

async function xaCommitted(gid: string, coordinator?: string): Promise<void> {
  const prepared = await prepareXa(knex, branch(gid, coordinator), async (sql) => sql('insert into effects (gid) values (?)', [gid]));
  expect(prepared.kind).toBe('prepared');
  expect(await commitXa(knex, branch(gid))).toEqual({ kind: 'committed' });
}

describe('the barrier table created by the previous version', () => {
  it('keeps working, keeps its rows, and gets the nullable coordinator column from createBarrierTable (again and again)', async () => {
    // Before the upgrade: every call that records no coordinator works on it as it is.
    const tried = await runInBarrier(knex, { table: TABLE, gid: 'tcc-1', branchId: 'b1', op: 'try', now: () => NOW }, async () => 'reserved');
    expect(tried).toEqual({ kind: 'ran', value: 'reserved' });
    await xaCommitted('xa-before');
    expect((await columns()).map((column) => column.name)).not.toContain('coordinator');

    await createBarrierTable(knex);
    await createBarrierTable(knex);
    expect((await columns()).slice(-1)).toEqual([{ name: 'coordinator', type: 'varchar(512)', nullable: 'YES' }]);
    expect(await knex(TABLE).orderBy('id').select('gid', 'op', 'origin_op', 'coordinator')).toEqual([
      { gid: 'tcc-1', op: 'try', origin_op: 'try', coordinator: null },
      { gid: 'xa-before', op: 'prepare', origin_op: 'prepare', coordinator: null },
    ]);

    // After it: the old rows answer as before, and a prepare records its coordinator.
    expect(await runInBarrier(knex, { table: TABLE, gid: 'tcc-1', branchId: 'b1', op: 'try', now: () => NOW }, async () => 'again')).toEqual({
      kind: 'duplicate',
    });
    expect(await commitXa(knex, branch('xa-before'))).toEqual({ kind: 'duplicate' });
    await xaCommitted('xa-after', 'http://coord-a.test');
    expect(await knex(TABLE).where({ gid: 'xa-after' }).first('coordinator')).toEqual({ coordinator: 'http://coord-a.test' });
  });

  it('is upgraded once, without an error, when several processes run createBarrierTable at the same time', async () => {
    // An open transaction that read the table holds its metadata lock: the first upgrade's ALTER queues behind it,
    // and so does every other process, at its own ALTER (it too found the column missing) or behind that first one.
    let finish: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const holder = connect();
    others.push(holder);
    let read: () => void = () => undefined;
    const hasRead = new Promise<void>((resolve) => (read = resolve));
    const holding = holder.transaction(async (trx) => {
      await trx(TABLE).first();
      read();
      await finished;
    });
    await hasRead;
    const processes = [connect(), connect(), connect()];
    others.push(...processes);
    const upgrades = processes.map((process) =>
      createBarrierTable(process).then(
        () => 'ok',
        (error: unknown) => error,
      ),
    );
    try {
      await waitFor(
        async () => {
          const [rows] = (await knex.raw(
            `select count(*) as n from information_schema.processlist where db = ? and command = 'Query' and state = 'Waiting for table metadata lock'`,
            [db.name],
          )) as unknown as [Array<{ n: number }>];
          return Number(rows[0]?.n) === processes.length || undefined;
        },
        { what: 'every process waiting on the table to upgrade it' },
      );
    } finally {
      finish();
      await holding;
    }
    expect(await Promise.all(upgrades)).toEqual(['ok', 'ok', 'ok']);
    expect((await columns()).filter((column) => column.name === 'coordinator')).toHaveLength(1);
  });
});
