/**
 * The transaction log inside the coordinator's process: the PostgreSQL
 * store (store/postgres/) on PGlite, in a data folder or in memory. No
 * server to run, for development, tests and single-instance deployments:
 * one coordinator process per folder (PGlite is a single-user database).
 */
import path from 'node:path';
import type { TransactionLog } from '../ports/transaction-log.ts';
import { migrateLatest } from '../postgres/migrator.ts';
import { logOn } from '../postgres/open-postgres-log.ts';
import type { SqlDatabase } from '../postgres/sql-database.ts';
import { TABLES } from '../postgres/tables.ts';
import { openPglite } from './pglite-database.ts';

/** What `embedded:memory` names: a log kept in memory only, gone when the process ends. */
export const IN_MEMORY = 'memory';

/** The default bound on waiting for the embedded database (the statement bound of the other logs). */
const DEFAULT_WAIT_BOUND_MS = 10_000;

export interface EmbeddedLogOptions {
  /** The data folder (created if missing; relative to the working directory), or `memory`. */
  location: string;
  /** Longest an operation waits for the database, busy with others, before it fails (503 LOG_UNAVAILABLE). */
  queryTimeoutMs?: number;
}

/**
 * The folder's lock (folder-lock.ts) makes this process the log's only user, so a lease found
 * live in it was left by a process that is gone: it ends now, and that process's work is due at
 * once instead of when the lease would have run out.
 */
async function releaseDeadLeases(db: SqlDatabase, now: number): Promise<void> {
  await db.query(
    `UPDATE ${TABLES.global} SET lease_until = $1, next_retry_at = CASE WHEN next_retry_at IS NULL THEN NULL ELSE LEAST(next_retry_at, $1) END
      WHERE lease_until > $1`,
    [now],
  );
}

/** Opens the embedded log (lazily: PGlite starts on the first statement, or on `prepare()`). */
export function openEmbeddedLog(options: EmbeddedLogOptions): TransactionLog {
  const inMemory = options.location === IN_MEMORY;
  const dataDir = inMemory ? null : path.resolve(options.location);
  const db = openPglite({ dataDir, waitBoundMs: options.queryTimeoutMs ?? DEFAULT_WAIT_BOUND_MS });
  return logOn(db, {
    kind: 'embedded',
    description: inMemory ? 'embedded:memory' : `embedded:${dataDir}`,
    // The database is the folder: there is nothing to create but the schema. PGlite runs no
    // autovacuum (a single-user server has no background workers): each start vacuums the log.
    prepare: async () => {
      const applied = await migrateLatest(db);
      await db.query('VACUUM');
      await releaseDeadLeases(db, Date.now());
      return applied;
    },
  });
}
