/**
 * The databases the participant SDK's barrier runs on, for the suites that
 * run once per database (`describe.each(BARRIER_DATABASES)('… on $name', …)`):
 * how to make a test database and a knex on it, and what each says
 * differently that the tests look at (sessions waiting on a lock, the
 * transaction's isolation level, killing a session, error shapes).
 */
import knexFactory from 'knex';
import type { Knex } from 'knex';
import { inject } from 'vitest';
import { createTestDatabase, createTestPostgresDatabase, type TestDatabase } from './databases.ts';

export interface BarrierDatabase {
  /** For titles: `MySQL` (MariaDB here) or `PostgreSQL`. */
  name: 'MySQL' | 'PostgreSQL';
  /** The barrier dialect's name (BarrierDialect.name). */
  dialect: 'mysql' | 'postgres';
  /** knex's client for it. */
  client: 'mysql2' | 'pg';
  /** A fresh database of its own on the run's server. */
  create(label: string): Promise<TestDatabase>;
  /** A knex on `db`. */
  connect(db: TestDatabase, poolMax?: number): Knex;
  /**
   * How many sessions of `db` wait on a lock (a row, a key, an advisory lock, a table). MySQL's
   * processlist shows statements rather than waits: there, the statements of `db` still executing
   * that start with one of `mysqlStatements` (while another transaction holds what they need, they
   * cannot finish).
   */
  lockWaits(knex: Knex, db: TestDatabase, mysqlStatements: readonly string[]): Promise<number>;
  /** A SELECT of the running transaction's isolation level, as `level` in upper case (`READ COMMITTED`). */
  isolationLevelSql: string;
  /** A SELECT of the session's id, as `id`. */
  sessionIdSql: string;
  /** Ends session `id` from another session, once its server process has gone. */
  killSession(knex: Knex, id: number): Promise<void>;
  /** What the error of a deadlock victim's statement carries. */
  deadlockError: Record<string, unknown>;
  /** What the error of a duplicate key carries. */
  duplicateKeyError: Record<string, unknown>;
}

const mysql: BarrierDatabase = {
  name: 'MySQL',
  dialect: 'mysql',
  client: 'mysql2',
  create: (label) => createTestDatabase(inject('mysqlUrl'), label),
  connect: (db, poolMax = 8) => knexFactory({ client: 'mysql2', connection: db.url, pool: { min: 0, max: poolMax } }),
  async lockWaits(knex, db, statements) {
    let waiting = 0;
    for (const prefix of statements) {
      const [rows] = (await knex.raw(
        `select count(*) as n from information_schema.processlist
          where db = ? and command = 'Query' and info like concat(?, '%')`,
        [db.name, prefix],
      )) as unknown as [Array<{ n: number }>];
      waiting += Number(rows[0]?.n ?? 0);
    }
    return waiting;
  },
  isolationLevelSql: 'select trx_isolation_level as level from information_schema.innodb_trx where trx_mysql_thread_id = connection_id()',
  sessionIdSql: 'select connection_id() as id',
  killSession: async (knex, id) => void (await knex.raw(`kill connection ${Number(id)}`)),
  deadlockError: { errno: 1213 },
  duplicateKeyError: { errno: 1062 },
};

const postgres: BarrierDatabase = {
  name: 'PostgreSQL',
  dialect: 'postgres',
  client: 'pg',
  create: (label) => createTestPostgresDatabase(inject('postgresUrl'), label),
  connect: (db, poolMax = 8) => knexFactory({ client: 'pg', connection: db.url, pool: { min: 0, max: poolMax } }),
  async lockWaits(knex, db) {
    const result = (await knex.raw(`select count(*)::int as n from pg_stat_activity where datname = ? and wait_event_type = 'Lock'`, [db.name])) as {
      rows: Array<{ n: number }>;
    };
    return Number(result.rows[0]?.n ?? 0);
  },
  isolationLevelSql: `select upper(current_setting('transaction_isolation')) as level`,
  sessionIdSql: 'select pg_backend_pid() as id',
  // The second argument waits (up to 10 s) until the server process has exited.
  killSession: async (knex, id) => void (await knex.raw('select pg_terminate_backend(?::int, 10000)', [id])),
  deadlockError: { code: '40P01' },
  duplicateKeyError: { code: '23505' },
};

export const BARRIER_DATABASES: readonly BarrierDatabase[] = [mysql, postgres];

/** The rows of a knex.raw SELECT, on either database (mysql2 answers [rows, fields], pg a result). */
export function rawRows<Row>(result: unknown): Row[] {
  return (Array.isArray(result) ? result[0] : (result as { rows: Row[] }).rows) as Row[];
}
