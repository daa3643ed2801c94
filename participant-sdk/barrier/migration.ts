/**
 * The barrier table, created in the participant's own database.
 *
 * Ids use the ascii charset with a binary collation: they are [A-Za-z0-9_.-]
 * only, and a case-insensitive collation would make gid "Tx1" collide with
 * "tx1" on the unique key, so one branch would be answered as a duplicate of
 * another's.
 */
import type { Knex } from 'knex';
import { LIMITS } from '@dtx/protocol';
import { assertTableName, DEFAULT_BARRIER_TABLE, OP_MAX_LENGTH } from './input.ts';

/**
 * Create the barrier table if it does not exist.
 *
 * Precondition: none; safe to call on every start and from several processes
 * at once (CREATE TABLE IF NOT EXISTS is one statement, no check-then-create race).
 * Effect: the table exists with the unique key the barrier algorithm relies on.
 * An existing table is left as it is, even if its definition differs.
 * Participant.migrate() calls it with the participant's table; call it
 * yourself when you use runInBarrier without a participant, or create the
 * table from your own migrations.
 *
 * @param knex - the participant's database
 * @param tableName - the barrier table's name (default `dtx_barrier`)
 * @throws BarrierInputError on an invalid table name
 *
 * @example
 * ```ts
 * import knex from 'knex';
 * import { createBarrierTable } from '@dtx/participant-sdk';
 *
 * const db = knex({ client: 'mysql2', connection: process.env.BANK_DB_URL });
 * await createBarrierTable(db);                  // dtx_barrier
 * await createBarrierTable(db, 'orders_barrier'); // or a name of your own
 * ```
 */
export async function createBarrierTable(knex: Knex, tableName: string = DEFAULT_BARRIER_TABLE): Promise<void> {
  assertTableName(tableName);
  const id = (width: number) => `varchar(${width}) character set ascii collate ascii_bin not null`;
  await knex.raw(
    `create table if not exists ?? (
      id bigint unsigned not null auto_increment,
      gid ${id(LIMITS.gidMaxLength)},
      branch_id ${id(LIMITS.branchIdMaxLength)},
      op ${id(OP_MAX_LENGTH)},
      seq smallint unsigned not null default 1,
      origin_op ${id(OP_MAX_LENGTH)},
      created_at bigint not null,
      primary key (id),
      unique key uq_dtx_barrier_branch_op (gid, branch_id, op, seq),
      key idx_dtx_barrier_created_at (created_at)
    ) engine = InnoDB`,
    [tableName],
  );
}
