/**
 * Ids compared byte for byte, and two facts on the global row.
 *
 * Every id column moves from the database's default collation (case- and
 * accent-insensitive) to the binary `utf8mb4_bin`: under the old collation
 * `ORDER-1` and `order-1` were one key, so a begin of one was taken for a
 * re-send of the other, and two branch ids differing in case collided. The
 * old collation kept case variants from ever being two rows, so no key
 * becomes a duplicate. Nullability is kept as it was.
 *
 * Why not `ascii_bin`, though ids are [A-Za-z0-9_.-]: comparing an ascii
 * column with a value the connection sends in utf8mb4 fails ("Illegal mix
 * of collations") as soon as the value holds a character outside ASCII, so
 * a lookup of an id that cannot exist would be an error instead of "not
 * found". The character set stays utf8mb4; ASCII ids take one byte a
 * character either way.
 *
 * `decided_at`: when the confirm/cancel decision was logged (the decision
 * statements set it), so the age of a decision is one column away.
 * `caller`: the authenticated service that began the transaction.
 */
import type { Knex } from 'knex';
import { TABLES } from '../tables.ts';

export const name = '0003-exact-ids';

interface IdColumn {
  table: string;
  column: string;
  length: number;
  nullable: boolean;
}

const ID_COLUMNS: readonly IdColumn[] = [
  { table: TABLES.global, column: 'gid', length: 128, nullable: false },
  { table: TABLES.branch, column: 'gid', length: 128, nullable: false },
  { table: TABLES.branch, column: 'branch_id', length: 64, nullable: false },
  { table: TABLES.event, column: 'gid', length: 128, nullable: false },
  { table: TABLES.event, column: 'branch_id', length: 64, nullable: true },
  { table: TABLES.audit, column: 'gid', length: 128, nullable: true },
  { table: TABLES.audit, column: 'branch_id', length: 64, nullable: true },
];

function modify(columns: readonly IdColumn[], table: string, charset: string): string {
  return columns
    .filter((c) => c.table === table)
    .map((c) => `MODIFY \`${c.column}\` VARCHAR(${c.length}) ${charset} ${c.nullable ? 'NULL' : 'NOT NULL'}`)
    .join(', ');
}

/** One ALTER per table: each table is rebuilt once. */
async function alterIds(knex: Knex, charset: string, extra: Partial<Record<string, string>> = {}): Promise<void> {
  for (const table of [...new Set(ID_COLUMNS.map((c) => c.table))]) {
    const clauses = [modify(ID_COLUMNS, table, charset), extra[table]].filter(Boolean).join(', ');
    await knex.raw(`ALTER TABLE \`${table}\` ${clauses}`);
  }
}

export async function up(knex: Knex): Promise<void> {
  await alterIds(knex, 'CHARACTER SET utf8mb4 COLLATE utf8mb4_bin', {
    [TABLES.global]: 'ADD COLUMN `decided_at` BIGINT NULL, ADD COLUMN `caller` VARCHAR(64) NULL',
  });
}

/** Back to the default collation: fails if two ids now differ only in case (they would be one key again). */
export async function down(knex: Knex): Promise<void> {
  await alterIds(knex, 'CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci', {
    [TABLES.global]: 'DROP COLUMN `decided_at`, DROP COLUMN `caller`',
  });
}
