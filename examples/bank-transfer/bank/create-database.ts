/**
 * The bank's database: which knex client its URL names, and creating it if
 * it does not exist yet, so a fresh server needs no manual step. The bank's
 * own copy: a participant depends on the SDK only, not on the coordinator
 * package.
 */
import knexFactory from 'knex';

/** knex's client for the bank's database: mysql2 (MySQL, MariaDB) or pg (PostgreSQL). */
export type BankDatabaseClient = 'mysql2' | 'pg';

/** The client a BANK_DB_URL names by its scheme: `mysql://…`, or `postgres://…` / `postgresql://…`. */
export function bankDatabaseClient(url: string): BankDatabaseClient {
  const scheme = new URL(url).protocol;
  if (scheme === 'mysql:') return 'mysql2';
  if (scheme === 'postgres:' || scheme === 'postgresql:') return 'pg';
  throw new Error(`BANK_DB_URL must be a mysql:// or postgres:// URL, got ${JSON.stringify(scheme)}`);
}

/** PostgreSQL's answers to a CREATE DATABASE of a name another process has just created. */
const ALREADY_CREATED = new Set(['42P04', '23505']);

export async function ensureDatabase(url: string): Promise<void> {
  const client = bankDatabaseClient(url);
  const parsed = new URL(url);
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (!/^[A-Za-z0-9_$]{1,64}$/.test(database)) throw new Error(`BANK_DB_URL must name a database of 1-64 [A-Za-z0-9_$], got ${JSON.stringify(database)}`);
  // A server-wide connection: no database on MySQL, the maintenance database on PostgreSQL.
  parsed.pathname = client === 'pg' ? '/postgres' : '/';
  const server = knexFactory({ client, connection: parsed.toString(), pool: { min: 0, max: 1 } });
  try {
    if (client === 'mysql2') {
      await server.raw('CREATE DATABASE IF NOT EXISTS ?? CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci', [database]);
      return;
    }
    // PostgreSQL has no CREATE DATABASE IF NOT EXISTS.
    const found = (await server.raw('select 1 from pg_database where datname = ?', [database])) as { rows: unknown[] };
    if (found.rows.length > 0) return;
    await server.raw('create database ??', [database]).catch((error: unknown) => {
      if (!ALREADY_CREATED.has(String((error as { code?: unknown }).code))) throw error;
    });
  } finally {
    await server.destroy();
  }
}
