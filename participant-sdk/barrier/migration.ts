/**
 * The barrier table, created in the participant's own database, with the
 * statements of its dialect (mysql-dialect.ts, postgres-dialect.ts).
 *
 * Ids are compared byte for byte: ascii columns with a binary collation on
 * MySQL/MariaDB, the "C" collation on PostgreSQL. A case-insensitive
 * collation would make gid "Tx1" collide with "tx1" on the unique key, so one
 * branch would be answered as a duplicate of another's.
 *
 * The columns added after the table's first definition (each dialect's
 * ADDED_COLUMNS), which createBarrierTable adds to a table created by an
 * earlier version; every one is nullable, so the rows already there and the
 * statements of an earlier version still running keep working:
 * - `coordinator`: the base URL of the coordinator an XA branch was prepared
 *   through (its prepare's `dtx-coordinator` header), on the branch's
 *   `prepare` row; the participant's XA recovery asks that coordinator, and
 *   no other, for the branch's outcome. Null on every other row, and on the
 *   rows of a prepare that named no coordinator (always, on PostgreSQL,
 *   which has no XA resources).
 */
import type { Knex } from 'knex';
import { barrierDialectOf } from './dialect-of.ts';
import { DEFAULT_BARRIER_TABLE } from './input.ts';

/**
 * Create the barrier table if it does not exist, and add to an existing one
 * the columns added since it was created (today the nullable `coordinator`,
 * which XA resources need).
 *
 * Precondition: `knex` is on the mysql2 client (MySQL, MariaDB) or the pg
 * client (PostgreSQL). Safe to call on every start and from several
 * processes at once: MySQL's CREATE TABLE IF NOT EXISTS is one statement,
 * and a column another process has just added is not added twice; on
 * PostgreSQL the migrations of one table run one at a time, under an
 * advisory lock.
 * Effect: the table exists with the unique key the barrier algorithm relies
 * on, and with every column. An existing table is otherwise left as it is,
 * even if its definition differs. A column is added only when the catalog
 * says it is missing: on every other start nothing waits for the table's
 * locks. Participant.migrate() calls it with the participant's table; call
 * it yourself when you use runInBarrier without a participant, or create the
 * table from your own migrations (with the same columns).
 *
 * @param knex - the participant's database
 * @param tableName - the barrier table's name (default `dtx_barrier`)
 * @throws BarrierInputError on an invalid table name; ParticipantConfigError
 *   when `knex` is on another client
 *
 * @example
 * ```ts
 * import knex from 'knex';
 * import { createBarrierTable } from '@dtx/participant-sdk';
 *
 * const db = knex({ client: 'mysql2', connection: process.env.BANK_DB_URL });   // or { client: 'pg', … }
 * await createBarrierTable(db);                  // dtx_barrier
 * await createBarrierTable(db, 'orders_barrier'); // or a name of your own
 * ```
 */
export async function createBarrierTable(knex: Knex, tableName: string = DEFAULT_BARRIER_TABLE): Promise<void> {
  await barrierDialectOf(knex).createTable(knex, tableName);
}
