/**
 * FMT's reading of one SQL statement, on both grammars: what runs and how
 * (kind, table, WHERE text and the values bound in it, INSERT rows), and
 * every kind of statement refused before it runs, with its reason.
 */
import { describe, expect, it } from 'vitest';
import { DtxError } from '../../participant-sdk/errors.ts';
import type { FmtDialect } from '../../participant-sdk/fmt/dialect.ts';
import { FmtUnsupportedStatementError, type FmtRefusal } from '../../participant-sdk/fmt/errors.ts';
import { analyseLockingSelect, analyseStatement, checkAgainstTable, insertKeySources, type FmtStatement } from '../../participant-sdk/fmt/statement.ts';
import { expandIdentifiers, scanSql } from '../../participant-sdk/fmt/sql-text.ts';
import type { ColumnMeta, TableMeta } from '../../participant-sdk/fmt/table-meta.ts';
import { column as textColumn } from '../support/fmt-columns.ts';

const DIALECTS: readonly FmtDialect[] = ['mysql', 'postgres'];

/** The reason analyseStatement refuses `sql` for, or null when it does not. */
function refusal(sql: string, dialect: FmtDialect, values: unknown[] = []): FmtRefusal | null {
  try {
    analyseStatement(sql, values, dialect);
    return null;
  } catch (error) {
    if (error instanceof FmtUnsupportedStatementError) return error.reason;
    throw error;
  }
}

/** An integer column unless `extra` says otherwise. */
const column = (name: string, extra: Partial<ColumnMeta> = {}): ColumnMeta => textColumn(name, { dataType: 'int', ...extra });

function table(primaryKey: string[], columns: ColumnMeta[]): TableMeta {
  return { schema: 's', name: 't', qualifiedName: 's.t', primaryKey, columns };
}

function as<K extends FmtStatement['kind']>(statement: FmtStatement, kind: K): Extract<FmtStatement, { kind: K }> {
  expect(statement.kind).toBe(kind);
  return statement as Extract<FmtStatement, { kind: K }>;
}

describe.each(DIALECTS)('statements on %s', (dialect) => {
  it('lets a SELECT through as it is, unparsed', () => {
    const statement = analyseStatement('select a, b from t where id = ? and name like ?', [1, 'x%'], dialect);
    expect(statement).toEqual({ kind: 'select', text: 'select a, b from t where id = ? and name like ?', values: [1, 'x%'] });
    // A trailing semicolon is cut; the statement stays one.
    expect(analyseStatement('select 1;  ', [], dialect).text).toBe('select 1');
  });

  it('reads an INSERT of one row and of several rows, with its columns and where each value comes from', () => {
    const one = as(analyseStatement('insert into accounts (id, name) values (?, ?)', [7, 'ann'], dialect), 'insert');
    expect(one.table).toEqual({ schema: null, name: 'accounts', alias: null });
    expect(one.columns).toEqual(['id', 'name']);
    expect(one.rows).toEqual([
      [
        { kind: 'binding', index: 0 },
        { kind: 'binding', index: 1 },
      ],
    ]);
    const many = as(
      analyseStatement("insert into accounts (id, name, note) values (?, 'x', null), (5, ?, DEFAULT), (?, upper(?), ?)", [1, 'b', 3, 'c', 'd'], dialect),
      'insert',
    );
    expect(many.rows).toEqual([
      [
        { kind: 'binding', index: 0 },
        { kind: 'literal', value: 'x' },
        { kind: 'literal', value: null },
      ],
      [{ kind: 'literal', value: '5' }, { kind: 'binding', index: 1 }, { kind: 'default' }],
      [{ kind: 'binding', index: 2 }, { kind: 'expression' }, { kind: 'binding', index: 4 }],
    ]);
    expect(as(analyseStatement('insert into accounts values (?, ?)', [1, 2], dialect), 'insert').columns).toBeNull();
  });

  it("slices an UPDATE's WHERE out of its text, with only the values bound inside it (the SET ones come first)", () => {
    const update = as(
      analyseStatement(
        'update accounts set balance = balance + ?, note = (select max(x) from y where z = ?) where id in (?, ?) and kind = ?',
        [10, 'z', 1, 2, 'k'],
        dialect,
      ),
      'update',
    );
    expect(update.setColumns).toEqual(['balance', 'note']);
    expect(update.where).toEqual({ text: 'id in (?, ?) and kind = ?', values: [1, 2, 'k'] });
    expect(update.values).toEqual([10, 'z', 1, 2, 'k']);
  });

  it("slices a DELETE's WHERE, keeping a `where` inside a string or comment out of the way", () => {
    const text =
      dialect === 'mysql'
        ? "delete from t where note = 'a where b' /* where */ and id = ? # where\n"
        : "delete from t where note = 'a where b' /* where */ and id = ? -- where\n";
    const statement = as(analyseStatement(text, [4], dialect), 'delete');
    expect(statement.where.values).toEqual([4]);
    expect(statement.where.text.startsWith("note = 'a where b'")).toBe(true);
  });

  it('keeps the table alias, and the schema', () => {
    const statement = as(analyseStatement('update s1.accounts as a set a.x = ? where a.id = ?', [1, 2], dialect), 'update');
    expect(statement.table).toEqual({ schema: 's1', name: 'accounts', alias: 'a' });
    expect(statement.where).toEqual({ text: 'a.id = ?', values: [2] });
  });

  it('writes ?? identifiers into the text and keeps only the values', () => {
    const statement = as(analyseStatement('update ?? set ?? = ? where ?? = ?', ['accounts', 'balance', 5, 'id', 9], dialect), 'update');
    const q = dialect === 'mysql' ? '`' : '"';
    expect(statement.text).toBe(`update ${q}accounts${q} set ${q}balance${q} = ? where ${q}id${q} = ?`);
    expect(statement.values).toEqual([5, 9]);
    expect(statement.where).toEqual({ text: `${q}id${q} = ?`, values: [9] });
  });

  it('refuses placeholders and values that differ in number, before anything', () => {
    expect(() => analyseStatement('update t set a = ? where id = ?', [1], dialect)).toThrow(DtxError);
    expect(() => analyseStatement('update t set a = ? where id = ?', [1], dialect)).toThrow(/2 placeholders for 1 values/);
  });

  const refused: Array<[FmtRefusal, string]> = [
    ['multi-table', 'update a join b on a.id = b.id set a.x = 1 where b.y = 2'],
    ['multi-table', 'update a, b set a.x = 1 where a.id = b.id'],
    ['multi-table', 'delete from a using b where a.id = b.id'],
    ['multi-table', 'delete a from a join b on a.id = b.id where b.y = 1'],
    ['no-where', 'update accounts set balance = 0'],
    ['no-where', 'delete from accounts'],
    ['upsert', 'insert into t (a) values (1) on duplicate key update a = 2'],
    ['upsert', 'insert into t (a) values (1) on conflict (a) do update set a = 2'],
    ['upsert', 'insert into t (a) values (1) on conflict do nothing'],
    ['replace', 'replace into t (a) values (1)'],
    ['insert-select', 'insert into t (a) select b from u'],
    ['insert-ignore', 'insert ignore into t (a) values (1)'],
    ['ddl', 'create table x (a int)'],
    ['ddl', 'alter table t add column c int'],
    ['ddl', 'drop table t'],
    ['ddl', 'truncate table t'],
    ['multiple-statements', 'update t set a = 1 where id = 1; delete from t where id = 2'],
    ['multiple-statements', 'select 1; select 2'],
    ['unparsable', 'update t set a = where'],
    ['unparsable', 'insert into t (a) values ('],
    ['other-statement', 'call p()'],
    ['other-statement', 'lock tables t write'],
    ['statement-modifier', 'update ignore t set a = 1 where id = 1'],
    ['statement-modifier', 'update low_priority t set a = 1 where id = 1'],
    ['order-limit', 'update t set a = 1 where b = 2 order by id limit 3'],
    ['order-limit', 'delete from t where b = 2 limit 1'],
    ['with-clause', 'with x as (select 1 as id) update t set a = 1 where id in (select id from x)'],
    ['locking-read', 'select * from t where id = 1 for update'],
    ['locking-read', 'select * from t where id = 1 for share'],
  ];
  it.each(refused)('refuses %s: %s', (reason, sql) => {
    expect(refusal(sql, dialect)).toBe(reason);
  });

  it('refuses a WITH that hides a write, lets a WITH … SELECT through', () => {
    expect(refusal('with x as (select 1 as id) select * from x', dialect)).toBeNull();
  });

  it('names the refused statement and the reason on the error', () => {
    const error = (() => {
      try {
        analyseStatement('delete from accounts', [], dialect);
      } catch (caught) {
        return caught;
      }
    })() as FmtUnsupportedStatementError;
    expect(error).toBeInstanceOf(FmtUnsupportedStatementError);
    expect(error).toBeInstanceOf(DtxError);
    expect(error.code).toBe('FMT_UNSUPPORTED_SQL');
    expect(error.reason).toBe('no-where');
    expect(error.sql).toBe('delete from accounts');
    expect(error.message).toMatch(/whole table/);
  });

  it('refuses, with the catalog, a table without primary key and an UPDATE of a key column', () => {
    const update = analyseStatement('update t set code = ?, b = ? where a = ?', [1, 2, 3], dialect);
    expect(() => checkAgainstTable(update, table([], [column('a')]), dialect)).toThrow(expect.objectContaining({ reason: 'no-primary-key' }));
    expect(() => checkAgainstTable(update, table(['a', 'code'], [column('a'), column('code'), column('b')]), dialect)).toThrow(
      expect.objectContaining({ reason: 'primary-key-update' }),
    );
    expect(() => checkAgainstTable(update, table(['a'], [column('a'), column('code'), column('b')]), dialect)).not.toThrow();
    expect(() => checkAgainstTable(analyseStatement('delete from t where a = 1', [], dialect), table([], [column('a')]), dialect)).toThrow(
      expect.objectContaining({ reason: 'no-primary-key' }),
    );
  });

  it('reads a plain single-table SELECT for selectForUpdate, and refuses anything else', () => {
    expect(analyseLockingSelect('select * from accounts a where a.id in (?, ?) order by id', [1, 2], dialect)).toMatchObject({
      table: { schema: null, name: 'accounts', alias: 'a' },
      where: { text: 'a.id in (?, ?)', values: [1, 2] },
    });
    expect(analyseLockingSelect('select * from accounts', [], dialect).where).toBeNull();
    for (const sql of [
      'select * from a join b on a.id = b.id',
      'update t set a = 1 where id = 1',
      'select * from t where id = 1 for update',
      'select 1 union select 2',
    ]) {
      expect(() => analyseLockingSelect(sql, [], dialect)).toThrow(expect.objectContaining({ reason: 'not-a-select' }));
    }
  });
});

describe('statements, dialect by dialect', () => {
  it('folds unquoted PostgreSQL column names to lower case, keeps quoted ones', () => {
    const statement = as(analyseStatement('update T set Balance = ?, "Note" = ? where id = ?', [1, 2, 3], 'postgres'), 'update');
    expect(statement.setColumns).toEqual(['balance', 'Note']);
  });

  it("parses PostgreSQL casts on placeholders and its jsonb ? operator (written \\?), and keeps MySQL's backquotes", () => {
    const update = as(analyseStatement("update t set a = ?::int, j = j || ?::jsonb where id = ?::bigint and j \\? 'k'", [1, '{}', 2], 'postgres'), 'update');
    expect(update.where).toEqual({ text: "id = ?::bigint and j \\? 'k'", values: [2] });
    const mysql = as(analyseStatement('update `t` set `a` = ? where `id` = ?', [1, 2], 'mysql'), 'update');
    expect(mysql.where.text).toBe('`id` = ?');
  });

  it("ends a WHERE at PostgreSQL's RETURNING and leaves the values bound after it out", () => {
    const update = as(analyseStatement('update t set a = ? where id = ? returning a, ? as tag', [1, 2, 'x'], 'postgres'), 'update');
    expect(update.where).toEqual({ text: 'id = ?', values: [2] });
    expect(update.returning).toBe(true);
  });

  it("reads MySQL's INSERT … SET as one row", () => {
    const insert = as(analyseStatement('insert into t set id = ?, name = ?', [1, 'a'], 'mysql'), 'insert');
    expect(insert.columns).toEqual(['id', 'name']);
    expect(insert.rows).toEqual([
      [
        { kind: 'binding', index: 0 },
        { kind: 'binding', index: 1 },
      ],
    ]);
  });

  it("knows a MySQL INSERT's new keys: given for every row, or AUTO_INCREMENT for none; refuses anything between", () => {
    const meta = table(['id'], [column('id', { autoIncrement: true }), column('name')]);
    const sources = (sql: string, values: unknown[]) => insertKeySources(as(analyseStatement(sql, values, 'mysql'), 'insert'), meta, 'mysql');
    expect(sources('insert into t (id, name) values (?, ?), (7, ?)', [1, 'a', 'b'])).toEqual(['values']);
    expect(sources('insert into t (name) values (?), (?)', ['a', 'b'])).toEqual(['generated']);
    expect(sources('insert into t (id, name) values (null, ?), (DEFAULT, ?)', ['a', 'b'])).toEqual(['generated']);
    expect(() => sources('insert into t (id, name) values (?, ?), (null, ?)', [1, 'a', 'b'])).toThrow(
      expect.objectContaining({ reason: 'insert-key-unknown' }),
    );
    expect(() => sources('insert into t (id, name) values (1 + 1, ?)', ['a'])).toThrow(expect.objectContaining({ reason: 'insert-key-unknown' }));
    const composite = table(['a', 'b'], [column('a'), column('b'), column('c')]);
    const statement = as(analyseStatement('insert into t (a, c) values (?, ?)', [1, 2], 'mysql'), 'insert');
    expect(() => checkAgainstTable(statement, composite, 'mysql')).toThrow(expect.objectContaining({ reason: 'insert-key-unknown' }));
    // Without a column list, the values are the table's columns in order.
    expect(sources('insert into t values (?, ?)', [3, 'c'])).toEqual(['values']);
  });
});

describe('SQL text', () => {
  it('finds words outside strings, quoted names, comments and dollar quotes, with their depth', () => {
    const words = (sql: string, dialect: FmtDialect) => scanSql(sql, dialect).words.map((word) => `${word.upper}@${word.depth}`);
    expect(words("select 'where' as x, `where` from t where (a = (select 1))", 'mysql')).toEqual(
      ['SELECT', 'AS', 'X', 'FROM', 'T', 'WHERE', 'A@1', 'SELECT@2'].map((w) => (w.includes('@') ? w : `${w}@0`)),
    );
    expect(words("select $q$ where $q$, E'it\\'s where', \"where\" /* where /* nested */ where */ from t", 'postgres')).toEqual(['SELECT@0', 'FROM@0', 'T@0']);
    expect(scanSql("select 'a;b'; ", 'mysql').semicolons).toEqual([12]);
  });

  it('expands ?? lists and schema-qualified names the way knex quotes them', () => {
    expect(expandIdentifiers('select ?? from ?? where a = ?', [['a', 'b'], 's.t', 1], 'postgres')).toEqual({
      text: 'select "a", "b" from "s"."t" where a = ?',
      values: [1],
    });
    expect(() => expandIdentifiers('select ?? from t', ['a?b'], 'mysql')).toThrow(DtxError);
  });
});
