/**
 * Creating the bank's database if it does not exist yet, so a fresh server
 * needs no manual step (an embedded database is created when it is opened).
 * The bank's own copy: a participant depends on the SDK only, not on the
 * coordinator package.
 */
import knexFactory from 'knex';
import { databaseKind } from '../shared/database-url.ts';

/** PostgreSQL's answers to a CREATE DATABASE of a name another process has just created. */
const ALREADY_CREATED = new Set(['42P04', '23505']);

export async function ensureDatabase(url: string): Promise<void> {
  const kind = databaseKind(url);
  if (kind === 'embedded') return;
  const parsed = new URL(url);
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (!/^[A-Za-z0-9_$]{1,64}$/.test(database)) throw new Error(`BANK_DB_URL must name a database of 1-64 [A-Za-z0-9_$], got ${JSON.stringify(database)}`);
  // A server-wide connection: no database on MySQL, the maintenance database on PostgreSQL.
  parsed.pathname = kind === 'postgres' ? '/postgres' : '/';
  const server = knexFactory({ client: kind === 'postgres' ? 'pg' : 'mysql2', connection: parsed.toString(), pool: { min: 0, max: 1 } });
  try {
    if (kind === 'mysql') {
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
