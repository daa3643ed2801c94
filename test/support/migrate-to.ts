/**
 * A log at an older schema, for tests of a migration on existing rows:
 * applies the coordinator's migrations up to and including one, as knex
 * would have when that one was the latest (same migrations table, so
 * migrateLatest carries on from there).
 */
import type { Knex } from 'knex';
import { MIGRATIONS, type Migration } from '../../coordinator/store/mysql/migrator.ts';
import { TABLES } from '../../coordinator/store/mysql/tables.ts';

function sourceThrough(last: string): Knex.MigrationSource<Migration> {
  const index = MIGRATIONS.findIndex((m) => m.name === last);
  if (index < 0) throw new Error(`no migration ${last}`);
  return {
    getMigrations: async () => MIGRATIONS.slice(0, index + 1),
    getMigrationName: (migration) => migration.name,
    getMigration: async (migration) => migration,
  };
}

/** Applies every migration up to and including `last`; returns the names applied now. */
export async function migrateThrough(knex: Knex, last: string): Promise<string[]> {
  const [, applied] = (await knex.migrate.latest({ migrationSource: sourceThrough(last), tableName: TABLES.migrations })) as [number, string[]];
  return applied;
}

/** Undoes the last migration applied, which must be `last` (knex checks the source knows every applied one). */
export async function rollbackLast(knex: Knex, last: string): Promise<string[]> {
  const [, undone] = (await knex.migrate.down({ migrationSource: sourceThrough(last), tableName: TABLES.migrations })) as [number, string[]];
  return undone;
}

/** The names of the migrations after `name`, in order: what migrateLatest applies to a log at `name`. */
export function migrationsAfter(name: string): string[] {
  const index = MIGRATIONS.findIndex((m) => m.name === name);
  if (index < 0) throw new Error(`no migration ${name}`);
  return MIGRATIONS.slice(index + 1).map((m) => m.name);
}

/** Undoes every migration after `name`, last first; returns the names undone. */
export async function rollbackAfter(knex: Knex, name: string): Promise<string[]> {
  const undone: string[] = [];
  for (const later of migrationsAfter(name).reverse()) undone.push(...(await rollbackLast(knex, later)));
  return undone;
}

/** The log's tables a migration test compares. */
const LOG_TABLES = ['dtx_global', 'dtx_branch', 'dtx_event', 'dtx_audit'];

export interface ColumnShape {
  type: string;
  nullable: string;
  def: string | null;
  collation: string | null;
}

/** Every column of the log's tables in database `schema` (type, nullability, default, collation), by `table.column`; positions aside. */
export async function logColumns(knex: Knex, schema: string): Promise<Record<string, ColumnShape>> {
  const rows = (await knex('information_schema.COLUMNS')
    .select('TABLE_NAME as t', 'COLUMN_NAME as c', 'COLUMN_TYPE as type', 'IS_NULLABLE as nullable', 'COLUMN_DEFAULT as def', 'COLLATION_NAME as collation')
    .where('TABLE_SCHEMA', schema)
    .whereIn('TABLE_NAME', LOG_TABLES)) as ({ t: string; c: string } & ColumnShape)[];
  return Object.fromEntries(rows.map(({ t, c, ...shape }) => [`${t}.${c}`, shape]));
}

/** Every row of one of the log's tables, in key order. */
export function dumpLogTable(knex: Knex, table: string): Promise<Record<string, unknown>[]> {
  return knex(table)
    .select('*')
    .orderBy(table === 'dtx_branch' ? ['gid', 'branch_id'] : table === 'dtx_global' ? ['gid'] : ['id']);
}
