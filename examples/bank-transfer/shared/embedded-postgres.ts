/**
 * PostgreSQL inside the process: PGlite (PostgreSQL compiled to WebAssembly)
 * in a data folder, behind knex's PostgreSQL client. What a bank runs on with
 * `BANK_DB_URL=embedded:<folder>`, and what the demo reads such a folder with
 * once its bank has stopped.
 *
 * knex reaches PGlite through node-postgres (pg), on the connection PGlite
 * ships for it (`@electric-sql/pglite/node-postgres`): statements, results and
 * errors (SQLSTATE codes) are pg's, so the participant SDK's barrier runs here
 * with its PostgreSQL dialect, as on a server. That is why the client below
 * names itself `pg`: the SDK picks its dialect by the driver's name, and the
 * driver is pg; only what carries its messages differs.
 *
 * PGlite is a single-user server: one session, which every connection made
 * here shares. What a server keeps apart per connection is kept apart in time:
 * - One connection at a time (a pool of one), so two transactions never
 *   interleave their statements in the session. The participant SDK holds one
 *   connection per call (the barrier's local transaction, the handler's
 *   statements on it; a message's local transaction, its check-back's) and
 *   never asks for a second while it holds one, so calls take the session in
 *   turn, and none waits for another's lock.
 * - A new connection starts once the previous one has sent all it had queued,
 *   and first rolls back whatever that one left open and resets the session
 *   (DISCARD ALL): what a server does when a connection ends. Without it, a
 *   transaction broken off with its connection would go on under the next one.
 *
 * One thing pg sends differs from what PGlite's connection takes: pg hands a
 * query's `types` option (its own type parsers, an object: the FMT SDK reads
 * row images as the server's text with it) to the Parse message as well,
 * where node-postgres' serializer takes only an array of parameter types and
 * ignores anything else, while PGlite's calls `forEach` on it and throws —
 * leaving the session's one connection stuck. Each connection here passes
 * that option on only when it is such an array.
 *
 * One process per folder: nothing here stops a second one, which would corrupt
 * the folder (the cluster gives each bank its own, read by the demo only once
 * that bank has exited).
 */
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { PGlite } from '@electric-sql/pglite';
import { createPgConfig } from '@electric-sql/pglite/node-postgres';
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';

/** knex's own PostgreSQL client (knex publishes no import of its own for it). */
const KnexPgClient = createRequire(import.meta.url)('knex/lib/dialects/postgres/index.js') as typeof Knex.Client;

/** An open embedded database: knex on it, and how to close both. */
export interface EmbeddedPostgres {
  knex: Knex;
  /** Ends knex's connection, then PGlite (which writes everything to the folder). */
  close(): Promise<void>;
}

/**
 * Opens (or creates: PGlite runs initdb in an empty folder) the embedded
 * database in `dataDir`.
 *
 * @param dataDir - the data folder, created if missing; this process must be its only user
 */
export async function openEmbeddedPostgres(dataDir: string): Promise<EmbeddedPostgres> {
  await mkdir(dataDir, { recursive: true });
  const pglite = await PGlite.create({ dataDir });
  const connection: SessionSettings = { pglite };
  // Min 0: an idle connection may end (after knex's idle timeout); the next one starts clean.
  const knex = knexFactory({ client: OneSessionClient, connection: connection as Knex.StaticConnectionConfig, pool: { min: 0, max: 1 } });
  return {
    knex,
    close: async () => {
      await knex.destroy();
      await pglite.close();
    },
  };
}

/** What knex keeps as the connection settings (knex keeps a class instance as it is). */
interface SessionSettings {
  pglite: PGlite;
}

/**
 * knex's pg client over PGlite's one session: each connection a pg client on
 * a connection of its own to that session, made only after the previous one
 * has ended, and reset before it is used.
 */
class OneSessionClient extends KnexPgClient {
  /** Settles once the connection made last has sent everything it had queued and ended. */
  #lastEnded: Promise<void> = Promise.resolve();
  /** Connections that ended or failed: knex's pool must not hand them out again. */
  readonly #ended = new WeakSet<pg.Client>();

  constructor(config: Knex.Config) {
    super({ ...config, client: 'pg' });
  }

  /** Called by knex's pg client for each new connection (acquireRawConnection checks the version and search path after it). */
  async _acquireOnlyConnection(): Promise<pg.Client> {
    const previous = this.#lastEnded;
    let ended: () => void = () => undefined;
    this.#lastEnded = new Promise((resolve) => (ended = resolve));
    await previous;
    const { pglite } = this.connectionSettings as SessionSettings;
    const config = createPgConfig(pglite);
    const session = config.connection;
    const client = new pg.Client(config as unknown as pg.ClientConfig);
    // See the module comment: parameter types as node-postgres' serializer reads them, an array or nothing.
    const parse = session.parse.bind(session);
    session.parse = (query: Parameters<typeof parse>[0]) => parse(Array.isArray(query.types) ? query : { ...query, types: undefined });
    // PGlite's end() sends nothing more and says 'end' once what was queued is through.
    const end = session.end.bind(session);
    session.end = () => {
      this.#ended.add(client);
      end();
      session.once('end', ended);
    };
    client.on('error', () => this.#ended.add(client));
    try {
      await client.connect();
      await client.query('rollback');
      await client.query('discard all');
      return client;
    } catch (error) {
      this.#ended.add(client);
      ended();
      throw error;
    }
  }

  override async validateConnection(connection: pg.Client): Promise<boolean> {
    return !this.#ended.has(connection);
  }
}
