/**
 * The example's embedded database (examples/bank-transfer/shared/embedded-postgres.ts):
 * knex's pg client on PGlite's one session, which a bank runs on with
 * BANK_DB_URL=embedded:<folder>. The participant SDK's barrier runs on it with
 * its PostgreSQL dialect and both handler kinds; calls made all at once take
 * the session in turn; a connection that ends inside a transaction leaves
 * nothing of it to the next one, as a server rolls back a closed session's
 * transaction; what was committed is there when the folder is opened again.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { barrierDialectOf } from '../../participant-sdk/barrier/dialect-of.ts';
import { createBarrierTable, runInBarrier, runInSqlBarrier } from '../../participant-sdk/index.ts';
import { databaseKind, embeddedUrl, openDatabase, type OpenDatabase } from '../../examples/bank-transfer/shared/database-url.ts';

describe('the example banks’ embedded database', () => {
  let folder: string;
  let database: OpenDatabase;
  let knex: Knex;

  beforeAll(async () => {
    folder = join(await mkdtemp(join(tmpdir(), 'dtx-embedded-bank-')), 'bank');
    database = await openDatabase(embeddedUrl(folder), { poolMax: 8 });
    knex = database.knex;
    await createBarrierTable(knex);
  });

  afterAll(async () => {
    await database?.close();
    await rm(join(folder, '..'), { recursive: true, force: true });
  });

  it('is named by its URL and runs the barrier with the PostgreSQL dialect', () => {
    expect(databaseKind(embeddedUrl(folder))).toBe('embedded');
    expect(database.kind).toBe('embedded');
    expect(barrierDialectOf(knex).name).toBe('postgres');
  });

  it('runs both handler kinds behind the barrier: once, duplicates, a null compensation, a late try suspended', async () => {
    const call = (gid: string, op: 'try' | 'confirm' | 'cancel') => ({ gid, branchId: 'b1', op, now: Date.now });
    expect(await runInBarrier(knex, call('knex-1', 'try'), async (trx) => (await trx.raw('select 1 as one')).rows)).toEqual({
      kind: 'ran',
      value: [{ one: 1 }],
    });
    expect(await runInSqlBarrier(knex, call('knex-1', 'confirm'), async (sql) => (await sql<{ two: number }>('select ?::int as two', [2])).rows)).toEqual({
      kind: 'ran',
      value: [{ two: 2 }],
    });
    expect(await runInSqlBarrier(knex, call('knex-1', 'confirm'), async () => 'again')).toEqual({ kind: 'duplicate' });
    expect(await runInBarrier(knex, call('knex-2', 'cancel'), async () => 'cancelled')).toEqual({ kind: 'null-compensation' });
    expect(await runInSqlBarrier(knex, call('knex-2', 'try'), async () => 'late')).toEqual({ kind: 'suspended' });
  });

  it('takes calls made all at once in turn, each in its own transaction', async () => {
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        (i % 2 === 0 ? runInBarrier : runInSqlBarrier)(knex, { gid: `turn-${i}`, branchId: 'b1', op: 'try', now: Date.now }, async () => i),
      ),
    );
    expect(results).toEqual(Array.from({ length: 12 }, (_, i) => ({ kind: 'ran', value: i })));
    expect(Number((await knex('dtx_barrier').where('gid', 'like', 'turn-%').count({ n: '*' }))[0]!.n)).toBe(12);
  });

  it('rolls back what a connection that ended left open before the next connection runs', async () => {
    const connection = (await knex.client.acquireConnection()) as { query(sql: string): Promise<unknown>; end(): Promise<void> };
    await connection.query('begin');
    await connection.query("insert into dtx_barrier (gid, branch_id, op, seq, origin_op, created_at) values ('ended-1', 'b1', 'try', 1, 'try', 1)");
    await connection.end();
    await knex.client.releaseConnection(connection);
    expect(Number((await knex('dtx_barrier').where({ gid: 'ended-1' }).count({ n: '*' }))[0]!.n)).toBe(0);
  });

  it('keeps what was committed in its folder', async () => {
    await database.close();
    database = await openDatabase(embeddedUrl(folder), { poolMax: 8 });
    knex = database.knex;
    expect(Number((await knex('dtx_barrier').where('gid', 'like', 'turn-%').count({ n: '*' }))[0]!.n)).toBe(12);
  });
});
