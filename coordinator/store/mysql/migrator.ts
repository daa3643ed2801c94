/**
 * Applies the coordinator's migrations. The list is explicit (no directory
 * scan), so it works the same under tsx, in tests and from a bundle.
 */
import type { Knex } from 'knex';
import * as transactionLog from './migrations/0001-transaction-log.ts';
import * as operations from './migrations/0002-operations.ts';
import * as exactIds from './migrations/0003-exact-ids.ts';
import * as modes from './migrations/0004-modes.ts';
import * as sagasAndMessages from './migrations/0005-sagas-and-messages.ts';
import * as joiners from './migrations/0006-joiners.ts';
import * as rowLocks from './migrations/0007-row-locks.ts';
import { TABLES } from './tables.ts';

export interface Migration {
  name: string;
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

/** Every migration, in the order they apply. */
export const MIGRATIONS: readonly Migration[] = [transactionLog, operations, exactIds, modes, sagasAndMessages, joiners, rowLocks];

const source: Knex.MigrationSource<Migration> = {
  getMigrations: async () => [...MIGRATIONS],
  getMigrationName: (migration) => migration.name,
  getMigration: async (migration) => migration,
};

/** Applies every pending migration; returns the names applied now. Safe to run concurrently from several instances (knex takes a lock). */
export async function migrateLatest(knex: Knex): Promise<string[]> {
  const [, applied] = (await knex.migrate.latest({
    migrationSource: source,
    tableName: TABLES.migrations,
  })) as [number, string[]];
  return applied;
}
