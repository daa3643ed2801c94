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
import { assertTableName, COORDINATOR_URL_MAX_LENGTH, DEFAULT_BARRIER_TABLE, OP_MAX_LENGTH } from './input.ts';

/**
 * The columns added to the table after its first definition, in the order
 * they were added. A table created by an earlier version gets them from
 * createBarrierTable; every one is nullable, so the rows already there and
 * the statements of an earlier version still running keep working.
 * - `coordinator`: the base URL of the coordinator an XA branch was prepared
 *   through (its prepare's `dtx-coordinator` header), on the branch's
 *   `prepare` row; the participant's XA recovery asks that coordinator, and
 *   no other, for the branch's outcome. Null on every other row, and on the
 *   rows of a prepare that named no coordinator.
 */
const ADDED_COLUMNS: ReadonlyArray<{ name: string; definition: string }> = [
  { name: 'coordinator', definition: `varchar(${COORDINATOR_URL_MAX_LENGTH}) character set ascii collate ascii_bin null` },
];

/** ER_DUP_FIELDNAME: another process added the column between this one's look and its ALTER. */
const ER_DUP_FIELDNAME = 1060;

/**
 * Create the barrier table if it does not exist, and add to an existing one
 * the columns added since it was created (see ADDED_COLUMNS: today the
 * nullable `coordinator`, which XA resources need).
 *
 * Precondition: none; safe to call on every start and from several processes
 * at once (CREATE TABLE IF NOT EXISTS is one statement, no check-then-create
 * race; a column another process has just added is not added twice).
 * Effect: the table exists with the unique key the barrier algorithm relies
 * on, and with every column. An existing table is otherwise left as it is,
 * even if its definition differs. A column is added by one ALTER TABLE, run
 * only when information_schema says the column is missing: on every other
 * start nothing waits for the table's metadata lock.
 * Participant.migrate() calls it with the participant's table; call it
 * yourself when you use runInBarrier without a participant, or create the
 * table from your own migrations (with the same columns).
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
      ${ADDED_COLUMNS.map((column) => `${column.name} ${column.definition},`).join('\n      ')}
      primary key (id),
      unique key uq_dtx_barrier_branch_op (gid, branch_id, op, seq),
      key idx_dtx_barrier_created_at (created_at)
    ) engine = InnoDB`,
    [tableName],
  );
  await addMissingColumns(knex, tableName);
}

/**
 * Add the ADDED_COLUMNS an existing table lacks (a table created by an
 * earlier version). Precondition: the table exists. Effect: one ALTER TABLE
 * per missing column; a column found already there by the ALTER (another
 * process added it meanwhile) is no error.
 */
async function addMissingColumns(knex: Knex, tableName: string): Promise<void> {
  const [schema, table] = tableName.includes('.') ? (tableName.split('.') as [string, string]) : [null, tableName];
  const [rows] = (await knex.raw('select column_name as name from information_schema.columns where table_schema = coalesce(?, database()) and table_name = ?', [
    schema,
    table,
  ])) as unknown as [Array<{ name: string }>];
  const present = new Set(rows.map((row) => row.name.toLowerCase()));
  for (const column of ADDED_COLUMNS) {
    if (present.has(column.name)) continue;
    try {
      await knex.raw(`alter table ?? add column ?? ${column.definition}`, [tableName, column.name]);
    } catch (error) {
      if (typeof error !== 'object' || error === null || (error as { errno?: unknown }).errno !== ER_DUP_FIELDNAME) throw error;
    }
  }
}
