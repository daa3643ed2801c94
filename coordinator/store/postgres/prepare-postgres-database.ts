/**
 * Making the PostgreSQL log's database ready, at start and from
 * `npm run migrate`: created if it is missing, then migrated.
 */
import { redactUrl } from '../../redact-url.ts';
import { migrateLatest } from './migrator.ts';
import { connectPostgres } from './pg-database.ts';
import { sqlstateOf } from './sqlstate.ts';

const INVALID_CATALOG_NAME = '3D000';
const DUPLICATE_DATABASE = '42P04';
const UNIQUE_VIOLATION = '23505';

/**
 * Creates the database `url` names if it is missing, then applies every
 * pending migration; returns the names applied now. Creating it connects to
 * the same server's `postgres` database, and only when the log's own
 * database refuses the connection for not existing: a role without CREATEDB
 * prepares an existing database. The migrations run on a short-lived pool
 * of their own whose statements are not bounded (a schema change on a large
 * log runs for minutes); connecting and waiting for a connection are
 * bounded by `queryTimeoutMs`.
 */
export async function preparePostgresDatabase(url: string, queryTimeoutMs: number): Promise<string[]> {
  const db = connectPostgres({ url, poolMax: 1, queryTimeoutMs, boundStatements: false });
  try {
    try {
      await db.query('SELECT 1');
    } catch (error) {
      if (sqlstateOf(error) !== INVALID_CATALOG_NAME) throw error;
      await createDatabase(url, queryTimeoutMs);
    }
    return await migrateLatest(db);
  } finally {
    await db.close();
  }
}

/** CREATE DATABASE of the one `url` names, from the server's `postgres` database; one created meanwhile by another instance is fine. */
async function createDatabase(url: string, queryTimeoutMs: number): Promise<void> {
  const name = databaseName(url);
  const server = new URL(url);
  server.pathname = '/postgres';
  const db = connectPostgres({ url: server.toString(), poolMax: 1, queryTimeoutMs });
  try {
    // UTF8 whatever the server's default, from template0 (template1 may have another encoding).
    await db.query(`CREATE DATABASE ${quoteIdentifier(name)} ENCODING 'UTF8' TEMPLATE template0`);
  } catch (error) {
    const state = sqlstateOf(error);
    if (state !== DUPLICATE_DATABASE && state !== UNIQUE_VIOLATION) throw error;
  } finally {
    await db.close();
  }
}

/** The database a `postgres://…/database` URL names. */
function databaseName(url: string): string {
  const name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
  if (!name) throw new Error(`the PostgreSQL log URL names no database: ${redactUrl(url)}`);
  return name;
}

/** A name as a PostgreSQL identifier, whatever it holds. */
function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
