/**
 * FMT as a property, on real MariaDB and PostgreSQL: random sequences of
 * INSERT / UPDATE / DELETE over random rows of two tables (a composite key,
 * NULLs, unicode, BIGINT and DECIMAL(30,10) beyond 2^53, JSON, bytes, a
 * microsecond timestamp) run through an FMT session and commit with their
 * undo records. Then:
 * - the tables are exactly what the same statements give on a plain
 *   transaction (FMT changes nothing of what the SQL does);
 * - rolled back, every table is byte for byte what it was before; or
 *   committed, the tables keep the changes; either way no undo record is left.
 */
import fc from 'fast-check';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  commitFmtBranch,
  createFmtUndoTable,
  DEFAULT_FMT_UNDO_TABLE,
  rollbackFmtBranch,
  runFmtPhaseOne,
  type GlobalLocks,
} from '../../participant-sdk/fmt/index.ts';
import type { TestDatabase } from '../support/databases.ts';
import { BARRIER_DATABASES, rawRows, type BarrierDatabase } from '../support/barrier-databases.ts';

const locks: GlobalLocks = { acquire: async () => undefined, waitFree: async () => undefined };

const BIGS = ['9007199254740993', '9007199254740992', '-9223372036854775808', '9223372036854775807', '0', '-1'];
const DECIMALS = ['12345678901234567890.0123456789', '-0.0000000001', '0.0000000000', '99999999999999999999.9999999999', '1.5000000000'];

const k1 = fc.integer({ min: 1, max: 4 });
const k2 = fc.constantFrom('a', 'b', 'é');
const text = fc.string({ unit: fc.constantFrom('a', 'Z', ' ', 'é', '😀', '中', "'", '"', '\\', '%', '?'), maxLength: 12 });
const big = fc.option(fc.oneof(fc.constantFrom(...BIGS), fc.integer().map(String)), { nil: null });
const amount = fc.option(
  fc.oneof(
    fc.constantFrom(...DECIMALS),
    fc
      .tuple(fc.bigInt({ min: -(10n ** 19n), max: 10n ** 19n }), fc.integer({ min: 0, max: 9_999_999_999 }))
      .map(([i, f]) => `${i}.${String(f).padStart(10, '0')}`),
  ),
  { nil: null },
);
const doc = fc.option(
  fc.record({ n: fc.integer(), s: text, list: fc.array(fc.boolean(), { maxLength: 3 }) }).map((value) => JSON.stringify(value)),
  { nil: null },
);
const bytes = fc.option(
  fc.uint8Array({ maxLength: 12 }).map((array) => Buffer.from(array)),
  { nil: null },
);
const moment = fc.option(
  fc.tuple(fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2030, 0, 1) }), fc.integer({ min: 0, max: 999 })).map(([ms, micro]) => {
    const iso = new Date(ms).toISOString();
    return `${iso.slice(0, 10)} ${iso.slice(11, 23)}${String(micro).padStart(3, '0')}`;
  }),
  { nil: null },
);

interface Pair {
  k1: number;
  k2: string;
  big: string | null;
  amount: string | null;
  txt: string | null;
  doc: string | null;
  bin: Buffer | null;
  happened: string | null;
}
const pair: fc.Arbitrary<Pair> = fc.record({ k1, k2, big, amount, txt: fc.option(text, { nil: null }), doc, bin: bytes, happened: moment });
const item = fc.record({
  id: fc.constantFrom(...BIGS.slice(0, 4), '1', '2'),
  label: fc.option(text, { nil: null }),
  qty: fc.option(fc.integer({ min: -5, max: 5 }), { nil: null }),
});
type Item = { id: string; label: string | null; qty: number | null };

/** A WHERE condition and its values. */
type Where = [string, unknown[]];
const pairWhere: fc.Arbitrary<Where> = fc.oneof(
  k1.map((v): Where => ['k1 = ?', [v]]),
  fc.tuple(k1, k1).map(([a, b]): Where => ['k1 in (?, ?)', [a, b]]),
  fc.tuple(k2, k1).map(([a, b]): Where => ['k2 = ? and k1 >= ?', [a, b]]),
  fc.constant<Where>(['big is null', []]),
  text.map((v): Where => ['txt = ?', [v]]),
  fc.tuple(k1, k1).map(([a, b]): Where => ['(k1 between ? and ?) or bin is null', [Math.min(a, b), Math.max(a, b)]]),
);
const itemWhere: fc.Arbitrary<Where> = fc.oneof(
  item.map((v): Where => ['id = ?', [v.id]]),
  fc.tuple(item, item).map(([a, b]): Where => ['id in (?, ?)', [a.id, b.id]]),
  fc.integer({ min: -5, max: 5 }).map((v): Where => ['qty > ?', [v]]),
  fc.constant<Where>(['label is null', []]),
);

const PAIR_COLUMNS = ['big', 'amount', 'txt', 'doc', 'bin', 'happened'] as const;

type Op =
  | { kind: 'insert-pairs'; rows: Pair[] }
  | { kind: 'insert-items'; rows: Item[] }
  | { kind: 'update-pairs'; set: Partial<Pair>; where: Where }
  | { kind: 'update-items'; set: { label?: string | null; qty?: number | null }; where: Where }
  | { kind: 'delete-pairs'; where: Where }
  | { kind: 'delete-items'; where: Where };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.array(pair, { minLength: 1, maxLength: 3 }).map((rows): Op => ({ kind: 'insert-pairs', rows })),
  fc.array(item, { minLength: 1, maxLength: 2 }).map((rows): Op => ({ kind: 'insert-items', rows })),
  fc
    .tuple(pair, fc.subarray([...PAIR_COLUMNS], { minLength: 1 }), pairWhere)
    .map(([values, columns, where]): Op => ({ kind: 'update-pairs', set: Object.fromEntries(columns.map((c) => [c, values[c]])), where })),
  fc.tuple(item, fc.boolean(), itemWhere).map(([values, both, where]): Op => ({
    kind: 'update-items',
    set: both ? { label: values.label, qty: values.qty } : { qty: values.qty },
    where,
  })),
  pairWhere.map((where): Op => ({ kind: 'delete-pairs', where })),
  itemWhere.map((where): Op => ({ kind: 'delete-items', where })),
);

/** One statement on the transaction at hand: a plain one, or an FMT session's. */
type Run = (sql: string, values: unknown[]) => Promise<Array<Record<string, unknown>>>;

/** Run the ops as SQL; an INSERT leaves out the rows whose key is taken (read first, on the same transaction). */
async function runOps(ops: readonly Op[], run: Run): Promise<void> {
  for (const step of ops) {
    if (step.kind === 'insert-pairs') {
      const taken = new Set((await run('select k1, k2 from p_pairs', [])).map((r) => `${Number(r['k1'])}/${String(r['k2'])}`));
      const rows = step.rows.filter((r) => !taken.has(`${r.k1}/${r.k2}`) && (taken.add(`${r.k1}/${r.k2}`), true));
      if (rows.length === 0) continue;
      await run(
        `insert into p_pairs (k1, k2, big, amount, txt, doc, bin, happened) values ${rows.map(() => '(?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
        rows.flatMap((r) => [r.k1, r.k2, r.big, r.amount, r.txt, r.doc, r.bin, r.happened]),
      );
    } else if (step.kind === 'insert-items') {
      // As text: mysql2 reads a BIGINT beyond 2^53 as an inexact number.
      const taken = new Set((await run("select concat(id, '') as id from p_items", [])).map((r) => String(r['id'])));
      const rows = step.rows.filter((r) => !taken.has(r.id) && (taken.add(r.id), true));
      if (rows.length === 0) continue;
      await run(
        `insert into p_items (id, label, qty) values ${rows.map(() => '(?, ?, ?)').join(', ')}`,
        rows.flatMap((r) => [r.id, r.label, r.qty]),
      );
    } else if (step.kind === 'update-pairs' || step.kind === 'update-items') {
      const table = step.kind === 'update-pairs' ? 'p_pairs' : 'p_items';
      const set = Object.entries(step.set);
      await run(`update ${table} set ${set.map(([column]) => `${column} = ?`).join(', ')} where ${step.where[0]}`, [
        ...set.map(([, v]) => v),
        ...step.where[1],
      ]);
    } else {
      await run(`delete from ${step.kind === 'delete-pairs' ? 'p_pairs' : 'p_items'} where ${step.where[0]}`, step.where[1]);
    }
  }
}

let database: BarrierDatabase;
let db: TestDatabase;
let knex: Knex;

async function createTables(): Promise<void> {
  if (database.dialect === 'mysql') {
    await knex.raw(`create table p_pairs (
      k1 int not null, k2 varchar(8) character set utf8mb4 collate utf8mb4_bin not null,
      big bigint null, amount decimal(30,10) null, txt varchar(100) character set utf8mb4 collate utf8mb4_bin null,
      doc json null, bin blob null, happened datetime(6) null,
      primary key (k1, k2))`);
    await knex.raw('create table p_items (id bigint not null primary key, label varchar(100) character set utf8mb4 collate utf8mb4_bin null, qty int null)');
  } else {
    await knex.raw(`create table p_pairs (
      k1 int not null, k2 varchar(8) collate "C" not null,
      big bigint, amount numeric(30,10), txt text, doc jsonb, bin bytea, happened timestamp(6),
      primary key (k1, k2))`);
    await knex.raw('create table p_items (id bigint primary key, label text, qty int)');
  }
}

/** Both tables, each value as the server's exact bytes (MySQL, hex) or text (PostgreSQL). */
async function dump(): Promise<string> {
  const out: Record<string, unknown[]> = {};
  for (const [table, order] of [
    ['p_pairs', 'k1, k2'],
    ['p_items', 'id'],
  ] as const) {
    const query = knex.raw(`select * from ${table} order by ${order}`);
    const raw: unknown =
      database.dialect === 'mysql'
        ? await query.options({ typeCast: (field: { buffer(): Buffer | null }) => field.buffer()?.toString('hex') ?? null })
        : await query.options({ types: { getTypeParser: () => (value: string) => value } });
    out[table] = rawRows(raw);
  }
  return JSON.stringify(out);
}

async function reset(seedPairs: readonly Pair[], seedItems: readonly Item[]): Promise<void> {
  await knex('p_pairs').del();
  await knex('p_items').del();
  await knex(DEFAULT_FMT_UNDO_TABLE).del();
  await runOps(
    [
      { kind: 'insert-pairs', rows: [...seedPairs] },
      { kind: 'insert-items', rows: [...seedItems] },
    ],
    async (sql, values) => rawRows(await knex.raw(sql, values as Knex.RawBinding[])),
  );
}

async function undoCount(): Promise<number> {
  const [row] = await knex(DEFAULT_FMT_UNDO_TABLE).count({ n: '*' });
  return Number(row?.['n']);
}

let runs = 0;

describe.each(BARRIER_DATABASES)('FMT property on $name', (suiteDatabase) => {
  beforeAll(async () => {
    database = suiteDatabase;
    db = await database.create('fmt property');
    knex = database.connect(db);
    await createFmtUndoTable(knex);
    await createTables();
  });

  afterAll(async () => {
    await knex?.destroy();
    await db?.drop();
  });

  it('rolls any sequence of statements back to byte-identical tables, or commits it as plain SQL would, leaving no undo record', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(pair, { maxLength: 5 }),
        fc.array(item, { maxLength: 3 }),
        fc.array(op, { minLength: 1, maxLength: 7 }),
        fc.boolean(),
        async (seedPairs, seedItems, ops, rollBack) => {
          // What the statements do on a plain transaction.
          await reset(seedPairs, seedItems);
          const seed = await dump();
          await knex.transaction((trx) => runOps(ops, async (sql, values) => rawRows(await trx.raw(sql, values as Knex.RawBinding[]))));
          const expected = await dump();

          // The same through FMT.
          await reset(seedPairs, seedItems);
          const gid = `gid-prop-${++runs}`;
          await knex.transaction((trx) =>
            runFmtPhaseOne(trx, { gid, branchId: 'b1', resource: 'p', locks, dialect: database.dialect }, (session) =>
              runOps(ops, async (sql, values) => (await session.sql(sql, values)).rows),
            ),
          );
          expect(await dump()).toBe(expected);

          if (rollBack) {
            const result = await knex.transaction((trx) => rollbackFmtBranch(trx, { gid, branchId: 'b1', dialect: database.dialect }));
            expect(['restored', 'nothing']).toContain(result.kind);
            expect(await dump()).toBe(seed);
          } else {
            await commitFmtBranch(knex, { gid, branchId: 'b1', dialect: database.dialect });
            expect(await dump()).toBe(expected);
          }
          expect(await undoCount()).toBe(0);
        },
      ),
      { numRuns: 25 },
    );
  });
});
