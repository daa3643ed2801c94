/**
 * Making the log database ready before the coordinator uses it, at start
 * and from `npm run migrate`.
 */
import { connectMysql, ensureDatabase } from './connect.ts';
import { migrateLatest } from './migrator.ts';

/**
 * Creates the database named in `url` if it is missing, then applies every
 * pending migration; returns the names applied now. The migrations run on a
 * short-lived pool of their own whose statements are not bounded: a schema
 * change on a large log runs for minutes, and one cut short would leave
 * knex's migration lock taken (the ALTERs commit the lock row). Creating the
 * database, connecting and waiting for a connection are bounded by
 * `queryTimeoutMs`.
 */
export async function prepareLogDatabase(url: string, queryTimeoutMs: number): Promise<string[]> {
  await ensureDatabase(url, queryTimeoutMs);
  const knex = connectMysql({ url, poolMax: 2, queryTimeoutMs, boundStatements: false });
  try {
    return await migrateLatest(knex);
  } finally {
    await knex.destroy();
  }
}
