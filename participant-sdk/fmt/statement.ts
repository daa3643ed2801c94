/**
 * What one SQL statement is, for FMT, decided before it runs: a SELECT that
 * passes through, or an INSERT, UPDATE or DELETE of one table whose rows
 * can be imaged; anything else is refused with FmtUnsupportedStatementError
 * and never sent.
 *
 * The statement is read with node-sql-parser (the MariaDB grammar for
 * MySQL/MariaDB, the PostgreSQL one for PostgreSQL) for its shape, and with
 * sql-text.ts for positions: the parser's tree does not say where the WHERE
 * clause is, and the image read must use the statement's own WHERE text with
 * exactly the values bound inside it. Placeholders are knex.raw's (`?`
 * value, `??` identifier, `\?` a literal question mark).
 *
 * Refused on the text alone (the parser misreads or cannot read them, or
 * one grammar cannot read the other's): multiple statements, a locking
 * SELECT, statement modifiers (IGNORE, LOW_PRIORITY, ONLY, QUICK…), ON
 * DUPLICATE KEY / ON CONFLICT, DELETE … USING and multi-table DELETE, ORDER
 * BY / LIMIT on UPDATE/DELETE.
 * Refused on the tree: see FmtRefusal. Refused later, with the table's
 * catalog (checkAgainstTable): a table without primary key, an UPDATE of a
 * key column, an INSERT whose new keys cannot be known.
 *
 * A statement whose first word is SELECT passes through without being
 * parsed: a SELECT changes no row FMT could image (a function it calls with
 * side effects is out of FMT's reach either way), and the PostgreSQL grammar
 * misses some valid SELECTs. A WITH statement is parsed: it may hide a write.
 *
 * Pure: no I/O.
 */
import mariadb from 'node-sql-parser/build/mariadb.js';
import postgresql from 'node-sql-parser/build/postgresql.js';
import type { FmtDialect } from './dialect.ts';
import { FmtUnsupportedStatementError, type FmtRefusal } from './errors.ts';
import { expandIdentifiers, parameterIndex, parserText, placeholders, scanSql, type SqlScan, type Word } from './sql-text.ts';
import type { TableMeta } from './table-meta.ts';

/** A table as the statement names it. On PostgreSQL the parser does not say whether a name was quoted: table-meta.ts resolves it. */
export interface TableRef {
  schema: string | null;
  name: string;
  alias: string | null;
}

/** Where an INSERT's value comes from: a bound value, a literal, DEFAULT, or anything else (unknown before it runs). */
export type InsertValue = { kind: 'binding'; index: number } | { kind: 'literal'; value: string | null } | { kind: 'default' } | { kind: 'expression' };

/** An UPDATE's or DELETE's WHERE condition: its text, and the values of the placeholders inside it, in order. */
export interface WhereClause {
  text: string;
  values: unknown[];
}

/** The statement, its `??` written out: `text` and `values` are what runs. */
interface Statement {
  text: string;
  values: unknown[];
}

/** A statement FMT can run. Column names are the database's (PostgreSQL: unquoted names folded to lower case). */
export type FmtStatement =
  | (Statement & { kind: 'select' })
  | (Statement & {
      kind: 'insert';
      table: TableRef;
      /** Null: no column list (the table's columns in order). */
      columns: string[] | null;
      rows: InsertValue[][];
      returning: boolean;
    })
  | (Statement & { kind: 'update'; table: TableRef; setColumns: string[]; where: WhereClause; returning: boolean })
  | (Statement & { kind: 'delete'; table: TableRef; where: WhereClause; returning: boolean });

/** A plain single-table SELECT, for selectForUpdate: its table and WHERE (null: none). */
export interface LockingSelect extends Statement {
  table: TableRef;
  where: WhereClause | null;
}

const DDL = new Set(['CREATE', 'ALTER', 'DROP', 'TRUNCATE', 'RENAME', 'GRANT', 'REVOKE', 'COMMENT']);
const MODIFIERS = new Set(['IGNORE', 'LOW_PRIORITY', 'ONLY', 'QUICK', 'DELAYED', 'HIGH_PRIORITY']);
/** Top-level words that end a WHERE condition. */
const AFTER_WHERE = new Set(['RETURNING', 'ORDER', 'LIMIT', 'GROUP', 'HAVING', 'WINDOW', 'UNION', 'INTERSECT', 'EXCEPT', 'OFFSET', 'FETCH']);

const parsers = { mysql: new mariadb.Parser(), postgres: new postgresql.Parser() };
const GRAMMAR: Record<FmtDialect, string> = { mysql: 'MariaDB', postgres: 'Postgresql' };

/**
 * What the statement is, or why FMT refuses it.
 *
 * @param text - one statement, with knex.raw placeholders
 * @param values - its values (`??` ones included)
 * @throws FmtUnsupportedStatementError for a statement FMT cannot undo;
 *   DtxError `SQL_VALUES` when placeholders and values differ in number
 */
export function analyseStatement(text: string, values: readonly unknown[], dialect: FmtDialect): FmtStatement {
  const statement = prepare(text, values, dialect);
  const { scan } = statement;
  const first = scan.words[0];
  const refuse = (reason: FmtRefusal, detail: string, cause?: unknown) =>
    new FmtUnsupportedStatementError(reason, statement.text, detail, cause === undefined ? undefined : { cause });
  if (!first) throw refuse('unparsable', 'no statement');
  if (first.upper === 'SELECT') {
    if (lockingClause(scan)) throw refuse('locking-read', 'a locking SELECT through sql() would not wait for global locks: use selectForUpdate');
    return { kind: 'select', text: statement.text, values: statement.values };
  }
  if (DDL.has(first.upper)) throw refuse('ddl', `${first.upper} cannot be undone from row images`);
  if (first.upper === 'REPLACE') throw refuse('replace', 'REPLACE deletes rows it does not name');
  if (!['INSERT', 'UPDATE', 'DELETE', 'WITH'].includes(first.upper))
    throw refuse('other-statement', `${first.upper} is neither SELECT, INSERT, UPDATE nor DELETE`);
  const modifier = scan.words[1];
  if (first.upper !== 'WITH' && modifier && modifier.depth === 0 && MODIFIERS.has(modifier.upper)) {
    throw refuse(first.upper === 'INSERT' && modifier.upper === 'IGNORE' ? 'insert-ignore' : 'statement-modifier', `${first.upper} ${modifier.upper}`);
  }
  if (
    first.upper === 'INSERT' &&
    scan.words.some((word, i) => word.depth === 0 && word.upper === 'ON' && ['DUPLICATE', 'CONFLICT'].includes(scan.words[i + 1]?.upper ?? ''))
  ) {
    throw refuse('upsert', 'INSERT … ON DUPLICATE KEY UPDATE / ON CONFLICT: which rows it inserts or updates is unknown');
  }
  const whereWord = topLevelWord(scan, 'WHERE');
  // The parser cannot read DELETE … USING, nor MySQL's DELETE a, b FROM …: refused by their words.
  if (first.upper === 'DELETE' && (modifier?.upper !== 'FROM' || topLevelWord(scan, 'USING'))) {
    throw refuse('multi-table', 'a DELETE of one table only (no USING, no multi-table DELETE)');
  }
  if ((first.upper === 'UPDATE' || first.upper === 'DELETE') && (topLevelWord(scan, 'ORDER') || topLevelWord(scan, 'LIMIT'))) {
    throw refuse('order-limit', 'ORDER BY / LIMIT on an UPDATE or DELETE: which rows it changes depends on the order');
  }

  const ast = parse(statement.text, dialect, (cause) => refuse('unparsable', 'the SQL parser cannot read it', cause));
  const type = ast['type'];
  if (type === 'select') {
    if (lockingClause(scan)) throw refuse('locking-read', 'a locking SELECT through sql() would not wait for global locks: use selectForUpdate');
    return { kind: 'select', text: statement.text, values: statement.values };
  }
  if (ast['with']) throw refuse('with-clause', 'a WITH before an INSERT, UPDATE or DELETE');
  if (type === 'replace') throw refuse('replace', 'REPLACE deletes rows it does not name');
  if (type === 'insert') return insertOf(ast, statement, dialect, refuse);
  if (type === 'update' || type === 'delete') {
    const tables = list(type === 'update' ? ast['table'] : ast['from']);
    if (
      tables.length !== 1 ||
      tables[0]!['join'] ||
      list(ast['from']).length > (type === 'update' ? 0 : 1) ||
      (type === 'delete' && !deleteTargetsItself(ast))
    ) {
      throw refuse('multi-table', `an ${type.toUpperCase()} of one table only (no join, USING or FROM list)`);
    }
    if (!ast['where'] || !whereWord) throw refuse('no-where', `an ${type.toUpperCase()} without WHERE would image and lock the whole table`);
    const table = tableRef(tables[0]!);
    const where = whereClause(statement, whereWord);
    const returning = Boolean(ast['returning']);
    if (type === 'delete') return { kind: 'delete', text: statement.text, values: statement.values, table, where, returning };
    const setColumns = list(ast['set']).map((item) => columnName(item['column'], dialect));
    return { kind: 'update', text: statement.text, values: statement.values, table, setColumns, where, returning };
  }
  throw refuse(
    ['create', 'alter', 'drop', 'truncate', 'rename', 'grant'].includes(String(type)) ? 'ddl' : 'other-statement',
    `a ${String(type).toUpperCase()} statement`,
  );
}

/**
 * A plain SELECT of one table, without locking clause, for selectForUpdate
 * (which adds FOR UPDATE itself and reads the rows' keys with the same WHERE).
 *
 * @throws FmtUnsupportedStatementError `not-a-select` for anything else
 */
export function analyseLockingSelect(text: string, values: readonly unknown[], dialect: FmtDialect): LockingSelect {
  const statement = prepare(text, values, dialect);
  const refuse = (detail: string, cause?: unknown) =>
    new FmtUnsupportedStatementError('not-a-select', statement.text, detail, cause === undefined ? undefined : { cause });
  const first = statement.scan.words[0];
  if (first?.upper !== 'SELECT' || first.depth !== 0) throw refuse('selectForUpdate takes a SELECT');
  if (lockingClause(statement.scan)) throw refuse('selectForUpdate adds FOR UPDATE itself: leave the locking clause out');
  const ast = parse(statement.text, dialect, (cause) => refuse('the SQL parser cannot read it', cause));
  const from = list(ast['from']);
  if (ast['type'] !== 'select' || ast['_next'] || ast['with'] || from.length !== 1 || from[0]!['join'] || typeof from[0]!['table'] !== 'string') {
    throw refuse('selectForUpdate takes a SELECT of one table (no join, union, WITH or subquery in FROM)');
  }
  const whereWord = topLevelWord(statement.scan, 'WHERE');
  return {
    text: statement.text,
    values: statement.values,
    table: tableRef(from[0]!),
    where: ast['where'] && whereWord ? whereClause(statement, whereWord) : null,
  };
}

/**
 * Refusals that need the table's catalog: no primary key, an UPDATE of a key
 * column, an INSERT whose new keys cannot be known (MySQL; PostgreSQL reads
 * them back with RETURNING).
 *
 * @throws FmtUnsupportedStatementError `no-primary-key`, `primary-key-update`, `insert-key-unknown`
 */
export function checkAgainstTable(statement: FmtStatement, meta: TableMeta, dialect: FmtDialect): void {
  if (statement.kind === 'select') return;
  const refuse = (reason: FmtRefusal, detail: string) => new FmtUnsupportedStatementError(reason, statement.text, detail);
  if (meta.primaryKey.length === 0) throw refuse('no-primary-key', `table ${meta.qualifiedName} has no primary key: its rows could not be found again`);
  if (statement.kind === 'update') {
    const key = statement.setColumns.find((column) => meta.primaryKey.some((pk) => sameColumn(pk, column, dialect)));
    if (key !== undefined) throw refuse('primary-key-update', `column ${key} is part of the primary key of ${meta.qualifiedName}`);
  }
  if (statement.kind === 'insert' && dialect === 'mysql') insertKeySources(statement, meta, dialect);
}

/**
 * Where each primary-key column of each new row comes from, on MySQL:
 * `values` (given for every row: literals or bound values) or `generated`
 * (the AUTO_INCREMENT column, given for no row: the statement's insert id
 * onwards). A multi-row insert's generated ids are consecutive on InnoDB for
 * a statement whose row count is known in advance ("simple inserts").
 *
 * @throws FmtUnsupportedStatementError `insert-key-unknown`
 */
export function insertKeySources(statement: Extract<FmtStatement, { kind: 'insert' }>, meta: TableMeta, dialect: FmtDialect): Array<'values' | 'generated'> {
  const columns = statement.columns ?? meta.columns.map((column) => column.name);
  return meta.primaryKey.map((pk) => {
    const position = columns.findIndex((column) => sameColumn(column, pk, dialect));
    const column = meta.columns.find((candidate) => candidate.name === pk);
    const sources = statement.rows.map((row) => (position < 0 ? undefined : row[position]));
    const given = sources.map((value) => {
      if (value === undefined || value.kind === 'default') return false;
      if (value.kind === 'literal') return value.value !== null;
      if (value.kind === 'binding') return statement.values[value.index] !== null && statement.values[value.index] !== undefined;
      return null;
    });
    if (given.every((g) => g === true)) return 'values';
    if (column?.autoIncrement && given.every((g) => g === false)) return 'generated';
    throw new FmtUnsupportedStatementError(
      'insert-key-unknown',
      statement.text,
      `the new rows' ${pk} cannot be known before they are read back: give it as a value for every row${column?.autoIncrement ? ', or for none' : ''}`,
    );
  });
}

/** Whether two column names are the same column (MySQL: case-insensitive; PostgreSQL: names are already folded). */
export function sameColumn(a: string, b: string, dialect: FmtDialect): boolean {
  return dialect === 'mysql' ? a.toLowerCase() === b.toLowerCase() : a === b;
}

/** The statement with `??` written out, its trailing `;` cut, and scanned. */
function prepare(text: string, values: readonly unknown[], dialect: FmtDialect): Statement & { scan: SqlScan } {
  const expanded = expandIdentifiers(text, values, dialect);
  let scan = scanSql(expanded.text, dialect);
  let body = expanded.text;
  const semicolon = scan.semicolons[0];
  if (semicolon !== undefined) {
    if (scan.contentEnd > semicolon + 1) {
      throw new FmtUnsupportedStatementError('multiple-statements', expanded.text, 'one statement per call');
    }
    body = expanded.text.slice(0, semicolon);
    scan = scanSql(body, dialect);
  }
  return { text: body, values: expanded.values, scan };
}

type Node = Record<string, unknown>;

function parse(text: string, dialect: FmtDialect, refuse: (cause: unknown) => Error): Node {
  let ast: unknown;
  try {
    ast = parsers[dialect].astify(parserText(text), { database: GRAMMAR[dialect] });
  } catch (error) {
    throw refuse(error);
  }
  const statements = Array.isArray(ast) ? ast : [ast];
  if (statements.length !== 1 || typeof statements[0] !== 'object' || statements[0] === null) throw refuse(new Error('not one statement'));
  return statements[0] as Node;
}

function list(value: unknown): Node[] {
  return Array.isArray(value) ? (value as Node[]) : [];
}

/** MySQL's `DELETE FROM t` names its table in both `table` (flagged `addition`) and `from`; `DELETE a FROM t a …` is the multi-table form. */
function deleteTargetsItself(ast: Node): boolean {
  return list(ast['table']).every((target) => target['addition'] === true);
}

function tableRef(node: Node): TableRef {
  return {
    schema: typeof node['db'] === 'string' && node['db'] !== '' ? node['db'] : null,
    name: String(node['table']),
    alias: typeof node['as'] === 'string' && node['as'] !== '' ? node['as'] : null,
  };
}

/**
 * A column's name as the database knows it. MySQL's tree has a plain
 * string; PostgreSQL's says whether it was quoted (kept) or not (folded to
 * lower case, as PostgreSQL does).
 */
function columnName(node: unknown, dialect: FmtDialect): string {
  if (typeof node === 'string') return node;
  // PostgreSQL: a SET target is { expr: { type, value } }, an INSERT column { type, value }.
  const expr = ((node as Node | null)?.['expr'] ?? node) as Node | null;
  const value = String(expr?.['value'] ?? '');
  return dialect === 'postgres' && expr?.['type'] !== 'double_quote_string' ? value.toLowerCase() : value;
}

function insertOf(
  ast: Node,
  statement: Statement,
  dialect: FmtDialect,
  refuse: (reason: FmtRefusal, detail: string) => Error,
): Extract<FmtStatement, { kind: 'insert' }> {
  if (/ignore/i.test(String(ast['prefix'] ?? ''))) throw refuse('insert-ignore', 'INSERT IGNORE skips rows it would be imaged as inserting');
  if (ast['on_duplicate_update'] || ast['conflict'])
    throw refuse('upsert', 'INSERT … ON DUPLICATE KEY UPDATE / ON CONFLICT: which rows it inserts or updates is unknown');
  const tables = list(ast['table']);
  if (tables.length !== 1) throw refuse('multi-table', 'an INSERT into one table');
  const table = tableRef(tables[0]!);
  const returning = Boolean(ast['returning']);
  const set = list(ast['set']);
  if (set.length > 0) {
    // MySQL's INSERT … SET a = ?, b = ?: one row.
    return {
      kind: 'insert',
      text: statement.text,
      values: statement.values,
      table,
      columns: set.map((item) => columnName(item['column'], dialect)),
      rows: [set.map((item) => insertValue(item['value']))],
      returning,
    };
  }
  const source = ast['values'] as Node | undefined;
  if (!source || source['type'] !== 'values') throw refuse('insert-select', 'INSERT … SELECT: its rows are unknown before it runs');
  const columns = Array.isArray(ast['columns']) ? (ast['columns'] as unknown[]).map((column) => columnName(column, dialect)) : null;
  const rows = list(source['values']).map((row) => list(row['value']).map(insertValue));
  return { kind: 'insert', text: statement.text, values: statement.values, table, columns, rows, returning };
}

function insertValue(node: unknown): InsertValue {
  const value = node as Node | null;
  const type = value?.['type'];
  if (type === 'param') {
    const index = parameterIndex(value!['value']);
    return index === null ? { kind: 'expression' } : { kind: 'binding', index };
  }
  if (type === 'null') return { kind: 'literal', value: null };
  if (type === 'number' || type === 'single_quote_string' || type === 'string' || type === 'bool') return { kind: 'literal', value: String(value!['value']) };
  if (type === 'default') return { kind: 'default' };
  if (type === 'column_ref') {
    const column = value!['column'];
    const name = typeof column === 'string' ? column : String(((column as Node | null)?.['expr'] as Node | undefined)?.['value'] ?? '');
    if (name.toUpperCase() === 'DEFAULT') return { kind: 'default' };
  }
  return { kind: 'expression' };
}

/** The first word `upper` at the top level (outside parentheses). */
function topLevelWord(scan: SqlScan, upper: string): Word | undefined {
  return scan.words.find((word) => word.depth === 0 && word.upper === upper);
}

/**
 * The WHERE condition's text, from after the top-level WHERE to the next
 * top-level RETURNING (or the end), and the values of the placeholders in it.
 * An UPDATE's SET placeholders come before it and are left out.
 */
function whereClause(statement: Statement & { scan: SqlScan }, whereWord: Word): WhereClause {
  const end =
    statement.scan.words.find((word) => word.depth === 0 && word.start > whereWord.end && AFTER_WHERE.has(word.upper))?.start ?? statement.text.length;
  const inside = placeholders(statement.text).filter((p) => p.offset >= whereWord.end && p.offset < end);
  return { text: statement.text.slice(whereWord.end, end).trim(), values: inside.map((p) => statement.values[p.index]) };
}

/** Whether a SELECT has a top-level locking clause (FOR UPDATE / FOR SHARE / FOR NO KEY UPDATE / FOR KEY SHARE / LOCK IN SHARE MODE). */
function lockingClause(scan: SqlScan): boolean {
  return scan.words.some((word, i) => {
    if (word.depth !== 0) return false;
    const next = scan.words[i + 1]?.upper;
    if (word.upper === 'FOR') return next === 'UPDATE' || next === 'SHARE' || next === 'NO' || next === 'KEY';
    return word.upper === 'LOCK' && next === 'IN';
  });
}
