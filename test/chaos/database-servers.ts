/**
 * What the harness does to the database server a scenario's system runs on,
 * one implementation per kind of server behind one shape: its own login (so
 * that killing the system's sessions never kills the harness's), pools on
 * the system's databases as that login, killing the system's sessions, and
 * reading transactions left prepared. The server itself (kill, start) is the
 * ManagedServer of tools/.
 *
 * The system's parts log in as `dtx`; the harness as `chaos`, a second
 * administrator created here. That user name is how a session is told apart:
 * the harness never ends a session of its own.
 */
import knexFactory, { type Knex } from 'knex';
import { createConnection } from 'mysql2/promise';
import pg from 'pg';
import { DTX_XA_FORMAT_ID } from '@dtx/participant-sdk';
import type { MariadbServer, PostgresServer } from '../../tools/servers.ts';

export type DatabaseServerKind = 'mysql' | 'postgres';

/** Whether banks on `kind` take XA branches: the participant SDK's XA is MySQL/MariaDB's. */
export const banksTakeXa = (kind: DatabaseServerKind): boolean => kind === 'mysql';

/** The login of the system's parts (the servers' own user, see tools/). */
const SYSTEM_USER = 'dtx';
const HARNESS_USER = 'chaos';

export interface ChaosDatabaseServer {
  readonly kind: DatabaseServerKind;
  /** How reports and fault windows name it: `mariadb`, `postgres`. */
  readonly name: string;
  readonly server: MariadbServer | PostgresServer;
  /** Creates the harness's login (idempotent). Precondition: the server is running. */
  ensureHarnessLogin(): Promise<void>;
  /** A small pool on one of the system's databases (its URL as the system's parts get it), logged in as the harness. */
  harnessPool(databaseUrl: string): Knex;
  /**
   * Ends every session the system has open on `databases` (by name), from a
   * session of the harness's own. Returns how many were ended; one that closed
   * meanwhile is not counted.
   */
  killSystemSessions(databases: readonly string[]): Promise<number>;
  /** Global ids of the transactions left prepared in a bank's database (each holds its rows locked until resolved). */
  preparedTransactions(bankDb: Knex): Promise<string[]>;
}

function asHarness(url: string, database?: string): string {
  const parsed = new URL(url);
  parsed.username = HARNESS_USER;
  parsed.password = HARNESS_USER;
  if (database !== undefined) parsed.pathname = `/${database}`;
  return parsed.toString();
}

// Quiet: the harness's connections die with the server too, and every read is retried or noted.
const quiet = { warn: () => undefined, error: () => undefined, deprecate: () => undefined, debug: () => undefined };

function pool(client: 'mysql2' | 'pg', url: string): Knex {
  return knexFactory({ client, connection: url, pool: { min: 0, max: 4 }, acquireConnectionTimeout: 10_000, log: quiet });
}

/** MySQL/MariaDB: KILL CONNECTION of the system's connections found in the processlist; XA RECOVER. */
export function mysqlDatabaseServer(mariadb: MariadbServer): ChaosDatabaseServer {
  return {
    kind: 'mysql',
    name: 'mariadb',
    server: mariadb,
    async ensureHarnessLogin() {
      const connection = await createConnection({ socketPath: mariadb.socketPath, user: 'root', password: '' });
      try {
        for (const host of ['%', '127.0.0.1', 'localhost']) {
          await connection.query(`CREATE USER IF NOT EXISTS '${HARNESS_USER}'@'${host}' IDENTIFIED BY '${HARNESS_USER}'`);
          await connection.query(`GRANT ALL PRIVILEGES ON *.* TO '${HARNESS_USER}'@'${host}'`);
        }
      } finally {
        await connection.end();
      }
    },
    harnessPool: (databaseUrl) => pool('mysql2', asHarness(databaseUrl)),
    async killSystemSessions(databases) {
      const admin = await createConnection({ uri: asHarness(mariadb.url), connectTimeout: 5_000 });
      try {
        const [rows] = await admin.query(`SELECT id FROM information_schema.processlist WHERE user = ? AND db IN (?) AND id <> CONNECTION_ID()`, [
          SYSTEM_USER,
          databases,
        ]);
        let killed = 0;
        for (const row of rows as { id: number }[]) {
          // Gone meanwhile (closed by its pool): nothing to kill.
          await admin.query('KILL CONNECTION ?', [row.id]).then(
            () => killed++,
            () => undefined,
          );
        }
        return killed;
      } finally {
        await admin.end();
      }
    },
    async preparedTransactions(bankDb) {
      const [rows] = (await bankDb.raw('XA RECOVER')) as unknown as [{ formatID: number; gtrid_length: number; data: Buffer | string }[]];
      return rows
        .filter((row) => Number(row.formatID) === DTX_XA_FORMAT_ID)
        .map((row) => Buffer.from(row.data).subarray(0, Number(row.gtrid_length)).toString('ascii'));
    },
  };
}

/**
 * PostgreSQL: pg_terminate_backend of the system's sessions found in
 * pg_stat_activity (the session's backend process exits, its open
 * transaction rolls back, its client sees the connection end);
 * pg_prepared_xacts. The system never prepares a transaction on PostgreSQL,
 * so any prepared one would be a leak.
 */
export function postgresDatabaseServer(postgres: PostgresServer): ChaosDatabaseServer {
  /** One session on the maintenance database, as `user`. */
  async function session<T>(user: 'system' | 'harness', work: (client: pg.Client) => Promise<T>): Promise<T> {
    const url = user === 'harness' ? asHarness(postgres.url, 'postgres') : postgres.url;
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
    client.on('error', () => undefined);
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  return {
    kind: 'postgres',
    name: 'postgres',
    server: postgres,
    ensureHarnessLogin: () =>
      session('system', async (client) => {
        const { rowCount } = await client.query('select 1 from pg_roles where rolname = $1', [HARNESS_USER]);
        // A role name cannot be a bind parameter; HARNESS_USER is a constant of this file.
        if (rowCount === 0) await client.query(`create role ${HARNESS_USER} login superuser password '${HARNESS_USER}'`);
      }),
    harnessPool: (databaseUrl) => pool('pg', asHarness(databaseUrl)),
    killSystemSessions: (databases) =>
      session('harness', async (client) => {
        const { rows } = await client.query<{ ended: boolean }>(
          'select pg_terminate_backend(pid) as ended from pg_stat_activity where usename = $1 and datname = any($2::text[]) and pid <> pg_backend_pid()',
          [SYSTEM_USER, [...databases]],
        );
        return rows.filter((row) => row.ended).length;
      }),
    async preparedTransactions(bankDb) {
      const rows = (await bankDb('pg_prepared_xacts').where('database', bankDb.raw('current_database()')).pluck('gid')) as string[];
      return rows.map(String);
    },
  };
}
