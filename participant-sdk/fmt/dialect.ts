/**
 * The two databases FMT runs on, and running one statement on a knex
 * transaction (or knex) with the result read as the barrier reads it
 * (barrier/dialect.ts): `rows`, `affectedRows`, `insertId`.
 */
import type { Knex } from 'knex';
import type { BarrierDialect, SqlResult } from '../barrier/dialect.ts';
import { barrierDialectOf } from '../barrier/dialect-of.ts';
import { mysqlDialect } from '../barrier/mysql-dialect.ts';
import { postgresDialect } from '../barrier/postgres-dialect.ts';
import { quoteIdentifier } from './sql-text.ts';

/** MySQL / MariaDB (knex client mysql2) or PostgreSQL (knex client pg). */
export type FmtDialect = 'mysql' | 'postgres';

/** Where a statement runs: the local transaction, or (for commits, migrations) the knex itself. */
export type Queryable = Knex | Knex.Transaction;

/** Driver options for one query (knex's `.options()`): mysql2 `typeCast`, pg `types`. */
export type DriverOptions = Readonly<Record<string, unknown>>;

const BARRIER_DIALECTS: Record<FmtDialect, BarrierDialect> = { mysql: mysqlDialect, postgres: postgresDialect };

/**
 * Run one statement (`?` value placeholders, as knex.raw takes them) and read its result.
 *
 * @param options - driver options for this query only (typeCast, types)
 * @throws DtxError `BARRIER_DRIVER` when the result is not the dialect's driver's
 */
export async function runSql<Row>(
  q: Queryable,
  dialect: FmtDialect,
  sql: string,
  values: readonly unknown[],
  options?: DriverOptions,
): Promise<SqlResult<Row>> {
  const raw = q.raw(sql, values as Knex.RawBinding[]);
  const result: unknown = await (options ? raw.options(options) : raw);
  const barrier = BARRIER_DIALECTS[dialect];
  return barrier.result<Row>(barrier.fromKnexRaw(result));
}

/**
 * The dialect given, or the one of the knex (or transaction) otherwise.
 * @throws ParticipantConfigError when the knex is on another client than mysql2 or pg
 */
export function dialectOf(q: Queryable, given?: FmtDialect): FmtDialect {
  return given ?? barrierDialectOf(q as Knex).name;
}

/** A name, optionally schema-qualified (`schema.table`: split at the first dot), quoted part by part. */
export function quoteQualified(name: string, dialect: FmtDialect): string {
  const dot = name.indexOf('.');
  if (dot < 0) return quoteIdentifier(name, dialect);
  return `${quoteIdentifier(name.slice(0, dot), dialect)}.${quoteIdentifier(name.slice(dot + 1), dialect)}`;
}
