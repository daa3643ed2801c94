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
