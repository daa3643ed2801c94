/**
 * Reading rows as images (images.ts): by a statement's own WHERE (before
 * images, locked) or by primary key (after images, current rows at
 * rollback). Every image read selects each column by name, with the
 * drivers' conversions off (imageReadOptions).
 */
import type { FmtDialect, Queryable } from './dialect.ts';
import { runSql } from './dialect.ts';
import { imageOf, imageReadOptions, toBinding, type ImageValue, type RowImage } from './images.ts';
import { quoteIdentifier } from './sql-text.ts';
import type { WhereClause } from './statement.ts';
import { quotedTable, type TableMeta } from './table-meta.ts';

/** Keys per statement of a read by key: bounds the statement's size. */
const KEYS_PER_READ = 500;

/** The select list of an image read: every column, by name. */
function columnList(meta: TableMeta, dialect: FmtDialect): string {
  return meta.columns.map((column) => quoteIdentifier(column.name, dialect)).join(', ');
}

/** `from <table> [as <alias>]`. */
function fromClause(meta: TableMeta, dialect: FmtDialect, alias: string | null): string {
  return `from ${quotedTable(meta, dialect)}${alias === null ? '' : ` as ${quoteIdentifier(alias, dialect)}`}`;
}

/**
 * The rows a statement's WHERE selects, locked FOR UPDATE, as images.
 * The WHERE text goes between parentheses on lines of its own: a trailing
 * `--` comment in it ends at the line, and an OR in it stays inside.
 *
 * @param limit - read at most this many rows (the session reads one more than it allows, to refuse)
 * @param keysOnly - read only the primary key (a global-lock session needs no image)
 */
export async function readImagesWhere(
  q: Queryable,
  dialect: FmtDialect,
  meta: TableMeta,
  alias: string | null,
  where: WhereClause | null,
  options: { limit?: number; keysOnly?: boolean } = {},
): Promise<RowImage[]> {
  const columns = options.keysOnly ? meta.primaryKey.map((name) => quoteIdentifier(name, dialect)).join(', ') : columnList(meta, dialect);
  const sql =
    `select ${columns} ${fromClause(meta, dialect, alias)}` +
    (where === null ? '' : ` where (\n${where.text}\n)`) +
    (options.limit === undefined ? '' : ` limit ${Number(options.limit)}`) +
    ' for update';
  const { rows } = await runSql<Record<string, unknown>>(q, dialect, sql, where?.values ?? [], imageReadOptions(dialect, meta));
  const shape = options.keysOnly ? { ...meta, columns: meta.columns.filter((column) => meta.primaryKey.includes(column.name)) } : meta;
  return rows.map((row) => imageOf(row, shape));
}

/**
 * The rows with these primary keys (each a list of values in key order, as
 * bound: image values or a statement's own), as images; rows not found are
 * missing from the result. Several statements when there are many keys.
 *
 * @param forUpdate - lock them (the rollback's read of the current rows)
 */
export async function readImagesByKeys(
  q: Queryable,
  dialect: FmtDialect,
  meta: TableMeta,
  keys: ReadonlyArray<readonly unknown[]>,
  options: { forUpdate?: boolean } = {},
): Promise<RowImage[]> {
  const images: RowImage[] = [];
  for (let start = 0; start < keys.length; start += KEYS_PER_READ) {
    const batch = keys.slice(start, start + KEYS_PER_READ);
    const { sql: predicate, values } = keyPredicate(meta, dialect, batch);
    const { rows } = await runSql<Record<string, unknown>>(
      q,
      dialect,
      `select ${columnList(meta, dialect)} ${fromClause(meta, dialect, null)} where ${predicate}${options.forUpdate ? ' for update' : ''}`,
      values,
      imageReadOptions(dialect, meta),
    );
    images.push(...rows.map((row) => imageOf(row, meta)));
  }
  return images;
}

/** `pk in (?, …)` or `(a, b) in ((?, ?), …)` for these keys, and their values. */
export function keyPredicate(meta: TableMeta, dialect: FmtDialect, keys: ReadonlyArray<readonly unknown[]>): { sql: string; values: unknown[] } {
  const columns = meta.primaryKey.map((name) => quoteIdentifier(name, dialect));
  const tuple = `(${columns.map(() => '?').join(', ')})`;
  return {
    sql: columns.length === 1 ? `${columns[0]} in (${keys.map(() => '?').join(', ')})` : `(${columns.join(', ')}) in (${keys.map(() => tuple).join(', ')})`,
    values: keys.flat(),
  };
}

/** `a = ? and b = ?` for one row's key, and its values (image values, bound as they are written). */
export function keyEquals(meta: TableMeta, dialect: FmtDialect, row: RowImage): { sql: string; values: unknown[] } {
  return {
    sql: meta.primaryKey.map((name) => `${quoteIdentifier(name, dialect)} = ?`).join(' and '),
    values: meta.primaryKey.map((name) => toBinding(row[name] ?? null)),
  };
}

/** A row image's primary key as bound values. */
export function keyBindings(meta: TableMeta, row: RowImage): unknown[] {
  return meta.primaryKey.map((name) => toBinding((row[name] ?? null) as ImageValue));
}

/** A key in row-key form (keyOfImage: bytes as `b64:…`) as bound values. */
export function pkBindings(meta: TableMeta, pk: ReadonlyArray<string | null>): unknown[] {
  return meta.primaryKey.map((name, i) => {
    const value = pk[i] ?? null;
    const binary = meta.columns.find((column) => column.name === name)?.binary;
    return binary && value !== null && value.startsWith('b64:') ? Buffer.from(value.slice(4), 'base64') : value;
  });
}
