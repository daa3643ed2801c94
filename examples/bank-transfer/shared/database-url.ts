/**
 * The example's databases, named by one URL whose scheme picks where the
 * database is: `mysql://…` (MySQL, MariaDB), `postgres://…` or
 * `postgresql://…` (a PostgreSQL server), `embedded:<folder>` (PostgreSQL
 * inside the process that opens it, in that folder: embedded-postgres.ts). The
 * coordinator's DTX_LOG_URL uses the same schemes, so the demo's audit reads
 * the log and the banks alike.
 */
import knexFactory, { type Knex } from 'knex';

/** Where a database is: a MySQL/MariaDB server, a PostgreSQL server, or in the process (a folder). */
export type DatabaseKind = 'mysql' | 'postgres' | 'embedded';

const EMBEDDED = 'embedded:';

/** The kind of database a URL names, by its scheme (never echoing the URL: it may hold a password). */
export function databaseKind(url: string): DatabaseKind {
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0].toLowerCase();
  if (scheme === 'mysql:') return 'mysql';
  if (scheme === 'postgres:' || scheme === 'postgresql:') return 'postgres';
  if (scheme === EMBEDDED && url.length > EMBEDDED.length) return 'embedded';
  throw new Error(`a database URL must be mysql://…, postgres://… or embedded:<folder>, got one starting ${JSON.stringify(scheme ?? url.slice(0, 12))}`);
}

/** The URL of an embedded database in `folder`. */
export const embeddedUrl = (folder: string): string => `${EMBEDDED}${folder}`;

/** The folder an `embedded:<folder>` URL names. */
export function embeddedFolder(url: string): string {
  if (databaseKind(url) !== 'embedded') throw new Error('not an embedded: URL');
  return url.slice(EMBEDDED.length);
}

/** knex on one database, and how to close it. */
export interface OpenDatabase {
  kind: DatabaseKind;
  knex: Knex;
  close(): Promise<void>;
}

/**
 * Opens the database `url` names (it must exist; an embedded one is created if missing).
 *
 * @param options.poolMax - connections to a server at most; an embedded database has one session, used by one connection at a time
 */
export async function openDatabase(url: string, options: { poolMax: number }): Promise<OpenDatabase> {
  const kind = databaseKind(url);
  if (kind === 'embedded') {
    // Loaded only where a database is embedded: PGlite is large.
    const { openEmbeddedPostgres } = await import('./embedded-postgres.ts');
    const { knex, close } = await openEmbeddedPostgres(embeddedFolder(url));
    return { kind, knex, close };
  }
  const knex = knexFactory({ client: kind === 'mysql' ? 'mysql2' : 'pg', connection: url, pool: { min: 0, max: options.poolMax } });
  return { kind, knex, close: () => knex.destroy() };
}
