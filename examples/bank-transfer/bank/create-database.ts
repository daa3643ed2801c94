/**
 * Creates the bank's database if it does not exist yet, so a fresh server
 * needs no manual step. The bank's own copy: a participant depends on the
 * SDK only, not on the coordinator package.
 */
import knexFactory from 'knex';

export async function ensureDatabase(url: string): Promise<void> {
  const parsed = new URL(url);
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (!/^[A-Za-z0-9_$]{1,64}$/.test(database)) throw new Error(`BANK_DB_URL must name a database of 1-64 [A-Za-z0-9_$], got ${JSON.stringify(database)}`);
  parsed.pathname = '/';
  const server = knexFactory({ client: 'mysql2', connection: parsed.toString(), pool: { min: 0, max: 1 } });
  try {
    await server.raw('CREATE DATABASE IF NOT EXISTS ?? CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci', [database]);
  } finally {
    await server.destroy();
  }
}
