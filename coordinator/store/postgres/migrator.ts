/**
 * Applies the PostgreSQL log's migrations. Each is a list of statements;
 * the list of migrations is explicit (no directory scan), so it works the
 * same under tsx, in tests and from a bundle.
 *
 * Every pending migration is applied in one transaction, holding a
 * transaction-scoped advisory lock: several instances starting at once
 * queue on the lock, and each after the first finds nothing left to do.
 * PostgreSQL's DDL is transactional, so a migration that fails leaves the
 * schema as it was, with nothing half-applied.
 */
import * as transactionLog from './migrations/0001-transaction-log.ts';
import * as hotPathFunctions from './migrations/0002-hot-path-functions.ts';
import * as rowLocks from './migrations/0003-row-locks.ts';
import type { SqlDatabase } from './sql-database.ts';
import { TABLES } from './tables.ts';

export interface PostgresMigration {
  name: string;
  statements: readonly string[];
}

/** Every migration, in the order they apply. */
export const MIGRATIONS: readonly PostgresMigration[] = [transactionLog, hotPathFunctions, rowLocks];

/** The advisory lock key of the migrations ("dtx" in ASCII), held for the transaction that applies them. */
export const MIGRATION_LOCK_KEY = 0x647478;

/**
 * Precondition: none; safe from several instances at once. Effect: applies
 * every migration not yet recorded in dtx_migrations, and records it, in
 * one transaction. Returns the names applied now.
 */
export async function migrateLatest(db: SqlDatabase, migrations: readonly PostgresMigration[] = MIGRATIONS): Promise<string[]> {
  return db.transaction(async (session) => {
    await session.query('SELECT pg_advisory_xact_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
    // Created only if missing (not CREATE … IF NOT EXISTS, which needs CREATE on the schema even then):
    // a role with only the rows' privileges starts on a log an owner migrated.
    const { rows: found } = await session.query<{ present: boolean }>('SELECT to_regclass($1::text) IS NOT NULL AS present', [TABLES.migrations]);
    if (!found[0]?.present) {
      await session.query(`CREATE TABLE ${TABLES.migrations} (name text COLLATE "C" PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
    }
    const { rows } = await session.query<{ name: string }>(`SELECT name FROM ${TABLES.migrations}`);
    const done = new Set(rows.map((row) => row.name));
    const applied: string[] = [];
    for (const migration of migrations) {
      if (done.has(migration.name)) continue;
      for (const statement of migration.statements) await session.query(statement);
      await session.query(`INSERT INTO ${TABLES.migrations} (name) VALUES ($1)`, [migration.name]);
      applied.push(migration.name);
    }
    return applied;
  });
}
