/**
 * What FMT needs to know of a table: its primary key (to find rows again),
 * its columns in order, and which of them the database writes by itself.
 * Read from information_schema once per table per process (per knex
 * instance) and cached: the catalog does not change under a running
 * service, and a read per statement would double its round trips. After a
 * migration that changes an imaged table, call clearTableMetaCache (or
 * restart).
 *
 * Columns the database writes by itself are left out of image comparisons
 * and of restoring UPDATEs: generated columns (both databases; they cannot be
 * written) and MySQL's `ON UPDATE CURRENT_TIMESTAMP` columns (the restore's
 * own UPDATE sets them again). A deleted row put back by INSERT gets its
 * `ON UPDATE` columns' imaged values (an INSERT without them would take the
 * column's default instead).
 */
import type { Knex } from 'knex';
import type { FmtDialect, Queryable } from './dialect.ts';
import { runSql } from './dialect.ts';
import { FmtUnsupportedStatementError } from './errors.ts';
import { quoteIdentifier } from './sql-text.ts';
import type { TableRef } from './statement.ts';

export interface ColumnMeta {
  name: string;
  /** information_schema's data_type, lower case (`bigint`, `varbinary`, `timestamp with time zone`…). */
  dataType: string;
  /** Its values are bytes: imaged as {"$b64": …}. */
  binary: boolean;
  /** PostgreSQL `timestamp with time zone`: imaged in UTC, whatever the session's time zone. */
  timestampTz: boolean;
  /** A generated column: never written, never compared. */
  generated: boolean;
  /** MySQL `ON UPDATE CURRENT_TIMESTAMP`: not compared, not set by a restoring UPDATE. */
  autoUpdated: boolean;
  /** MySQL AUTO_INCREMENT. */
  autoIncrement: boolean;
  /** PostgreSQL `GENERATED ALWAYS AS IDENTITY`: writing it needs OVERRIDING SYSTEM VALUE. */
  identityAlways: boolean;
}

export interface TableMeta {
  schema: string;
  name: string;
  /** `schema.name` (MySQL: `database.name`): the name undo records and row keys use. */
  qualifiedName: string;
  /** Every column, in the table's order. */
  columns: ColumnMeta[];
  /** The primary key's columns in key order; empty when the table has none. */
  primaryKey: string[];
}

/** The columns compared between images: all but the ones the database writes by itself. */
export function comparedColumns(meta: TableMeta): ColumnMeta[] {
  return meta.columns.filter((column) => !column.generated && !column.autoUpdated);
}

/** The quoted `schema.table` for SQL text. */
export function quotedTable(meta: TableMeta, dialect: FmtDialect): string {
  return `${quoteIdentifier(meta.schema, dialect)}.${quoteIdentifier(meta.name, dialect)}`;
}

const MYSQL_BINARY = new Set([
  'binary',
  'varbinary',
  'tinyblob',
  'blob',
  'mediumblob',
  'longblob',
  'bit',
  'geometry',
  'point',
  'linestring',
  'polygon',
  'multipoint',
  'multilinestring',
  'multipolygon',
  'geometrycollection',
]);

// Keyed by the knex instance's config (shared by its transactions): two knex instances may reach different databases.
const cache = new WeakMap<object, Map<string, Promise<TableMeta>>>();

/** Forget every table read through `knex` (or one of its transactions), e.g. after a migration. */
export function clearTableMetaCache(knex: Queryable): void {
  cache.delete(cacheOwner(knex));
}

function cacheOwner(q: Queryable): object {
  const config = (q as Knex).client?.config as object | undefined;
  return config ?? q;
}

/**
 * The table's catalog entry, from the cache or from information_schema.
 *
 * @throws FmtUnsupportedStatementError `unknown-table` when the catalog has no such table
 */
export function tableMeta(q: Queryable, dialect: FmtDialect, ref: Pick<TableRef, 'schema' | 'name'>): Promise<TableMeta> {
  const owner = cacheOwner(q);
  let tables = cache.get(owner);
  if (!tables) cache.set(owner, (tables = new Map()));
  const key = JSON.stringify([ref.schema, ref.name]);
  let found = tables.get(key);
  if (!found) {
    found = (dialect === 'mysql' ? readMysql(q, ref) : readPostgres(q, ref)).catch((error: unknown) => {
      tables.delete(key);
      throw error;
    });
    tables.set(key, found);
  }
  return found;
}

/** The table of an undo record or row key (`schema.name`). */
export function tableMetaByQualifiedName(q: Queryable, dialect: FmtDialect, qualifiedName: string): Promise<TableMeta> {
  const dot = qualifiedName.indexOf('.');
  return tableMeta(q, dialect, dot < 0 ? { schema: null, name: qualifiedName } : { schema: qualifiedName.slice(0, dot), name: qualifiedName.slice(dot + 1) });
}

function unknownTable(ref: Pick<TableRef, 'schema' | 'name'>): FmtUnsupportedStatementError {
  const name = ref.schema ? `${ref.schema}.${ref.name}` : ref.name;
  return new FmtUnsupportedStatementError('unknown-table', name, `no table ${name} in the catalog`);
}

async function readMysql(q: Queryable, ref: Pick<TableRef, 'schema' | 'name'>): Promise<TableMeta> {
  const { rows } = await runSql<{ schema_name: string; name: string; data_type: string; extra: string | null; generation_expression: string | null }>(
    q,
    'mysql',
    `select table_schema as schema_name, column_name as name, lower(data_type) as data_type, extra, generation_expression
       from information_schema.columns
      where table_schema = coalesce(?, database()) and table_name = ?
      order by ordinal_position`,
    [ref.schema, ref.name],
  );
  const schema = rows[0]?.schema_name;
  if (schema === undefined) throw unknownTable(ref);
  const keys = await runSql<{ name: string }>(
    q,
    'mysql',
    `select column_name as name from information_schema.key_column_usage
      where table_schema = ? and table_name = ? and constraint_name = 'PRIMARY'
      order by ordinal_position`,
    [schema, ref.name],
  );
  return {
    schema,
    name: ref.name,
    qualifiedName: `${schema}.${ref.name}`,
    primaryKey: keys.rows.map((row) => row.name),
    columns: rows.map((row) => {
      const extra = row.extra ?? '';
      return {
        name: row.name,
        dataType: row.data_type,
        binary: MYSQL_BINARY.has(row.data_type),
        timestampTz: false,
        // MySQL 8 marks expression defaults DEFAULT_GENERATED: those are written like any column.
        generated: /\b(VIRTUAL|STORED|PERSISTENT) GENERATED\b/i.test(extra) || (row.generation_expression ?? '') !== '',
        autoUpdated: /on update/i.test(extra),
        autoIncrement: /auto_increment/i.test(extra),
        identityAlways: false,
      };
    }),
  };
}

/**
 * PostgreSQL folds unquoted names to lower case, and the parser does not
 * say whether a name was quoted: the name as written is tried first, then
 * folded. The schema is the one the session's search_path finds.
 */
async function readPostgres(q: Queryable, ref: Pick<TableRef, 'schema' | 'name'>): Promise<TableMeta> {
  const candidates = [ref, { schema: ref.schema?.toLowerCase() ?? null, name: ref.name.toLowerCase() }];
  let found: { schema_name: string; name: string } | undefined;
  for (const candidate of candidates) {
    const qualified = (candidate.schema === null ? '' : `${quoteIdentifier(candidate.schema, 'postgres')}.`) + quoteIdentifier(candidate.name, 'postgres');
    const { rows } = await runSql<{ schema_name: string; name: string }>(
      q,
      'postgres',
      `select n.nspname as schema_name, c.relname as name
         from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        where c.oid = to_regclass(?::text)`,
      [qualified],
    );
    found = rows[0];
    if (found) break;
  }
  if (!found) throw unknownTable(ref);
  const { rows } = await runSql<{
    name: string;
    data_type: string;
    is_generated: string | null;
    is_identity: string | null;
    identity_generation: string | null;
  }>(
    q,
    'postgres',
    `select column_name as name, lower(data_type) as data_type, is_generated, is_identity, identity_generation
       from information_schema.columns
      where table_schema = ? and table_name = ?
      order by ordinal_position`,
    [found.schema_name, found.name],
  );
  const keys = await runSql<{ name: string }>(
    q,
    'postgres',
    `select k.column_name as name
       from information_schema.table_constraints c
       join information_schema.key_column_usage k
         on k.constraint_schema = c.constraint_schema and k.constraint_name = c.constraint_name
        and k.table_schema = c.table_schema and k.table_name = c.table_name
      where c.constraint_type = 'PRIMARY KEY' and c.table_schema = ? and c.table_name = ?
      order by k.ordinal_position`,
    [found.schema_name, found.name],
  );
  return {
    schema: found.schema_name,
    name: found.name,
    qualifiedName: `${found.schema_name}.${found.name}`,
    primaryKey: keys.rows.map((row) => row.name),
    columns: rows.map((row) => ({
      name: row.name,
      dataType: row.data_type,
      binary: row.data_type === 'bytea',
      timestampTz: row.data_type === 'timestamp with time zone',
      generated: row.is_generated === 'ALWAYS',
      autoUpdated: false,
      autoIncrement: false,
      identityAlways: row.is_identity === 'YES' && row.identity_generation === 'ALWAYS',
    })),
  };
}
