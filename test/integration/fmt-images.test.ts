/**
 * FMT's image capture on real MariaDB and PostgreSQL: what each kind of
 * statement writes to its undo record (INSERT of one and of several rows,
 * UPDATE, DELETE; composite keys with a binary part; AUTO_INCREMENT and
 * identity keys), and that every value comes back exact: BIGINT and
 * DECIMAL beyond 2^53, microsecond timestamps, JSON, bytes, unicode, NULL.
 */
import type { Knex } from 'knex';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFmtUndoTable, DEFAULT_FMT_UNDO_TABLE, runFmtPhaseOne, type GlobalLocks, type RowKey } from '../../participant-sdk/fmt/index.ts';
import type { FmtSession } from '../../participant-sdk/fmt/fmt-session.ts';
import { rollbackFmtBranch } from '../../participant-sdk/fmt/rollback.ts';
import type { TestDatabase } from '../support/databases.ts';
import { BARRIER_DATABASES, rawRows, type BarrierDatabase } from '../support/barrier-databases.ts';

let database: BarrierDatabase;
let db: TestDatabase;
let knex: Knex;
let acquired: RowKey[][] = [];

/** Global locks that always grant, remembering what was asked. */
const locks: GlobalLocks = {
  acquire: async (keys) => void acquired.push(keys),
  waitFree: async () => undefined,
};

const BIG = '9007199254740993';
const DECIMAL = '12345678901234567890.0123456789';
const AT = '2024-02-29 23:59:59.123456';
const TEXT = 'ünïcödé 😀 中文 \'quote\' "dq" \\ back';
const BYTES = Buffer.from([0, 1, 2, 0xfe, 0xff, 0x5c, 0x27]);
const CODE = Buffer.from([0xca, 0xfe]);

async function createTables(): Promise<void> {
  if (database.dialect === 'mysql') {
    await knex.raw(`create table kinds (
      id bigint not null, code varbinary(8) not null,
      big bigint null, dec_value decimal(30,10) null, happened datetime(6) null, doc json null, bin blob null,
      txt varchar(100) character set utf8mb4 collate utf8mb4_bin null,
      total bigint as (big + 1) stored,
      primary key (id, code))`);
    await knex.raw('create table serial_items (id bigint not null auto_increment primary key, name varchar(20) not null)');
  } else {
    await knex.raw(`create table kinds (
      id bigint not null, code bytea not null,
      big bigint, dec_value numeric(30,10), happened timestamp(6), doc jsonb, bin bytea, txt text,
      total bigint generated always as (big + 1) stored,
      primary key (id, code))`);
    await knex.raw('create table serial_items (id bigint generated always as identity primary key, name varchar(20) not null)');
  }
}

let branchCount = 0;

/** One committed phase one of a new branch; returns its ids and what runFmtPhaseOne returned. */
async function phaseOne<T>(work: (session: FmtSession) => Promise<T>): Promise<{ gid: string; branchId: string; value: T; keys: RowKey[] }> {
  const gid = `gid-images-${++branchCount}`;
  const result = await knex.transaction((trx) => runFmtPhaseOne(trx, { gid, branchId: 'b1', resource: 'shop', locks, dialect: database.dialect }, work));
  return { gid, branchId: 'b1', ...result };
}

interface UndoRow {
  seq: number;
  table_name: string;
  before: unknown[];
  after: unknown[];
}

async function undoRecords(gid: string): Promise<UndoRow[]> {
  const rows: Array<{ seq: number; table_name: string; before_image: string; after_image: string }> = await knex(DEFAULT_FMT_UNDO_TABLE)
    .where({ gid })
    .orderBy('seq');
  return rows.map((row) => ({ seq: Number(row.seq), table_name: row.table_name, before: JSON.parse(row.before_image), after: JSON.parse(row.after_image) }));
}

const b64 = (bytes: Buffer) => ({ $b64: bytes.toString('base64') });

describe.each(BARRIER_DATABASES)('FMT images on $name', (suiteDatabase) => {
  let schema: string;

  beforeEach(async (context) => {
    database = suiteDatabase;
    db = await database.create(`fmt images ${context.task.name}`);
    knex = database.connect(db);
    await createFmtUndoTable(knex);
    await createTables();
    schema = database.dialect === 'mysql' ? db.name : 'public';
    acquired = [];
  });

  afterEach(async () => {
    await knex?.destroy();
    await db?.drop();
  });

  it('images an INSERT of one row: no before image, the row as stored after (every type exact), and takes its key', async () => {
    const { gid, keys } = await phaseOne((s) =>
      s.sql('insert into kinds (id, code, big, dec_value, happened, doc, bin, txt) values (?, ?, ?, ?, ?, ?, ?, ?)', [
        BIG,
        CODE,
        BIG,
        DECIMAL,
        AT,
        '{"a": [1, "é"]}',
        BYTES,
        TEXT,
      ]),
    );
    const [record] = await undoRecords(gid);
    expect(record).toMatchObject({ seq: 1, table_name: `${schema}.kinds`, before: [] });
    const after = record!.after[0] as Record<string, unknown>;
    expect(after).toMatchObject({
      id: BIG,
      code: b64(CODE),
      big: BIG,
      dec_value: DECIMAL,
      happened: AT,
      bin: b64(BYTES),
      txt: TEXT,
      total: '9007199254740994',
    });
    expect(JSON.parse(after['doc'] as string)).toEqual({ a: [1, 'é'] });
    const key = { resource: 'shop', table: `${schema}.kinds`, pk: [BIG, `b64:${CODE.toString('base64')}`] };
    expect(keys).toEqual([key]);
    expect(acquired).toEqual([[key]]);
  });

  it('images an INSERT of several rows, NULLs included, with the keys given', async () => {
    const { gid, value } = await phaseOne((s) =>
      s.sql('insert into kinds (id, code, txt) values (?, ?, ?), (?, ?, null), (3, ?, ?)', [1, CODE, 'one', 2, CODE, Buffer.from('x'), '']),
    );
    expect(value.affectedRows).toBe(3);
    const [record] = await undoRecords(gid);
    expect(record!.after).toEqual([
      { id: '1', code: b64(CODE), big: null, dec_value: null, happened: null, doc: null, bin: null, txt: 'one', total: null },
      { id: '2', code: b64(CODE), big: null, dec_value: null, happened: null, doc: null, bin: null, txt: null, total: null },
      { id: '3', code: b64(Buffer.from('x')), big: null, dec_value: null, happened: null, doc: null, bin: null, txt: '', total: null },
    ]);
  });

  it('images an INSERT whose keys the database makes (AUTO_INCREMENT, identity), one row and several', async () => {
    const { gid, keys } = await phaseOne(async (s) => {
      await s.sql('insert into serial_items (name) values (?)', ['first']);
      const many = await s.sql('insert into serial_items (name) values (?), (?), (?)', ['a', 'b', 'c']);
      return many.insertId;
    });
    const records = await undoRecords(gid);
    const ids = (await knex('serial_items').select('id', 'name').orderBy('id')).map((row: { id: unknown; name: string }) => [String(row.id), row.name]);
    expect(ids.map(([, name]) => name)).toEqual(['first', 'a', 'b', 'c']);
    expect(records.map((record) => record.after)).toEqual([[{ id: ids[0]![0], name: 'first' }], ids.slice(1).map(([id, name]) => ({ id, name }))]);
    expect(keys.map((key) => key.pk)).toEqual(ids.map(([id]) => [id]));
  });

  it('images an UPDATE: the rows its WHERE selects before, the same rows re-read by key after', async () => {
    await knex('kinds').insert([
      { id: 1, code: CODE, big: 10, txt: 'a' },
      { id: 2, code: CODE, big: 20, txt: 'b' },
      { id: 3, code: CODE, big: 30, txt: 'c' },
    ]);
    const { gid, value, keys } = await phaseOne((s) => s.sql('update kinds set big = ?, txt = ? where big >= ? and txt <> ?', [BIG, TEXT, 20, 'zzz']));
    expect(value.affectedRows).toBe(2);
    const [record] = await undoRecords(gid);
    expect(record!.before.map((row) => (row as { big: string }).big)).toEqual(['20', '30']);
    expect(record!.after).toEqual([
      expect.objectContaining({ id: '2', big: BIG, txt: TEXT, total: '9007199254740994' }),
      expect.objectContaining({ id: '3', big: BIG, txt: TEXT, total: '9007199254740994' }),
    ]);
    expect(keys.map((key) => key.pk[0])).toEqual(['2', '3']);
  });

  it('images a DELETE: the rows before, nothing after; and a statement that changes no row writes no record', async () => {
    await knex('kinds').insert([
      { id: 1, code: CODE, bin: BYTES },
      { id: 2, code: Buffer.from([0]), bin: null },
    ]);
    const { gid } = await phaseOne(async (s) => {
      await s.sql('update kinds set txt = ? where id = ?', ['none', 404]);
      return s.sql('delete from kinds where id in (?, ?)', [1, 2]);
    });
    const records = await undoRecords(gid);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ seq: 1, after: [] });
    expect(records[0]!.before).toEqual([
      expect.objectContaining({ id: '1', code: b64(CODE), bin: b64(BYTES) }),
      expect.objectContaining({ id: '2', code: b64(Buffer.from([0])), bin: null }),
    ]);
  });

  it('runs a knex query builder the same way, and lets SELECTs through unimaged', async () => {
    await knex('kinds').insert({ id: 5, code: CODE, txt: 'x' });
    const { gid, value } = await phaseOne(async (s) => {
      const trxless = knex('kinds').where({ id: 5 }).update({ txt: 'through builder' });
      await s.query(trxless);
      return s.sql<{ txt: string }>('select txt from kinds where id = ?', [5]);
    });
    expect(value.rows).toEqual([{ txt: 'through builder' }]);
    const records = await undoRecords(gid);
    expect(records).toHaveLength(1);
    expect(records[0]!.after).toEqual([expect.objectContaining({ txt: 'through builder' })]);
  });

  if (suiteDatabase.dialect === 'postgres') {
    it("keeps an INSERT's own RETURNING rows as they were asked, and answers none when none were asked", async () => {
      const { value } = await phaseOne(async (s) => {
        const asked = await s.sql('insert into serial_items (name) values (?), (?) returning name', ['r1', 'r2']);
        const plain = await s.sql('insert into serial_items (name) values (?)', ['r3']);
        return { asked: asked.rows, plain: plain.rows };
      });
      expect(value).toEqual({ asked: [{ name: 'r1' }, { name: 'r2' }], plain: [] });
    });

    it('compares timestamptz as instants: a rollback from a session in another time zone is not dirty', async () => {
      await knex.raw('create table stamps (id int primary key, stamp timestamptz(6) not null)');
      await knex('stamps').insert({ id: 1, stamp: '2024-05-01 10:00:00.123456+00' });
      const gid = `gid-tz-${++branchCount}`;
      await knex.transaction(async (trx) => {
        await trx.raw(`set local timezone = 'Asia/Kolkata'`);
        await runFmtPhaseOne(trx, { gid, branchId: 'b1', resource: 'shop', locks, dialect: 'postgres' }, (s) =>
          s.sql('update stamps set stamp = stamp + ?::interval where id = ?', ['1 microsecond', 1]),
        );
      });
      const [record] = await undoRecords(gid);
      expect(record!.before).toEqual([{ id: '1', stamp: '2024-05-01 10:00:00.123456+00' }]);
      expect(record!.after).toEqual([{ id: '1', stamp: '2024-05-01 10:00:00.123457+00' }]);
      const result = await knex.transaction(async (trx) => {
        await trx.raw(`set local timezone = 'America/New_York'`);
        return rollbackFmtBranch(trx, { gid, branchId: 'b1', dialect: 'postgres' });
      });
      expect(result).toEqual({ kind: 'restored', rows: 1 });
      const rows = rawRows<{ stamp: string }>(await knex.raw(`select to_char(stamp at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') as stamp from stamps`));
      expect(rows).toEqual([{ stamp: '2024-05-01 10:00:00.123456' }]);
    });
  }
});
