/**
 * Choosing the barrier's dialect from a knex instance's client, once (at
 * createParticipant, or per call of the barrier's standalone functions).
 */
import type { Knex } from 'knex';
import { ParticipantConfigError } from '../errors.ts';
import type { BarrierDialect, SqlResult } from './dialect.ts';
import { mysqlDialect } from './mysql-dialect.ts';
import { postgresDialect } from './postgres-dialect.ts';

/** The knex client names of each dialect (knex's own aliases for pg included). */
const DIALECTS: Readonly<Record<string, BarrierDialect>> = {
  mysql2: mysqlDialect,
  pg: postgresDialect,
  postgres: postgresDialect,
  postgresql: postgresDialect,
};

/**
 * The dialect of a knex instance (or transaction), from the client it was
 * made with: `mysql2` (MySQL, MariaDB) or `pg` (PostgreSQL).
 *
 * @throws ParticipantConfigError for any other client (the barrier has no statements for it)
 */
export function barrierDialectOf(knex: Knex): BarrierDialect {
  const client: unknown = knex.client?.config?.client;
  const dialect = typeof client === 'string' && Object.hasOwn(DIALECTS, client) ? DIALECTS[client] : undefined;
  if (!dialect) {
    throw new ParticipantConfigError(
      'knex',
      `the barrier runs on knex's mysql2 client (MySQL, MariaDB) or pg client (PostgreSQL), got ${typeof client === 'string' ? JSON.stringify(client) : 'a client class'}`,
    );
  }
  return dialect;
}

/**
 * Throws ParticipantConfigError unless `knex` is on the mysql2 client: XA
 * branches (xa/) use MySQL's XA statements and mysql2's connection.
 */
export function assertMysql2Client(knex: Knex): void {
  const client: unknown = knex.client?.config?.client;
  if (client !== 'mysql2') {
    throw new ParticipantConfigError('knex', `XA resources need MySQL or MariaDB on the mysql2 knex client, got ${JSON.stringify(client)}`);
  }
}

/**
 * Run one statement on `knex` (outside the barrier) and read its result as
 * the dialect does: what cleanup and migration need.
 */
export async function rawSql<Row>(dialect: BarrierDialect, knex: Knex, sql: string, values: readonly unknown[]): Promise<SqlResult<Row>> {
  return dialect.result<Row>(dialect.fromKnexRaw(await knex.raw(sql, values as Knex.RawBinding[])));
}
