/**
 * Who may act on a transaction.
 *
 * `joinable_by`: who else may register branches into it, a JSON array of
 * caller names given by the begin (a participant's try that joins the
 * transaction to add branches of its own). NULL: the caller that began it
 * alone, as for every transaction logged before the column existed.
 *
 * `caller` moves to the binary collation: only the caller that began a
 * transaction decides it, and callers are compared byte for byte, so a
 * token named `Orders` is not the caller `orders`.
 */
import type { Knex } from 'knex';
import { TABLES } from '../tables.ts';

export const name = '0006-joiners';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE ?? ADD COLUMN joinable_by TEXT NULL, MODIFY caller VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL`, [TABLES.global]);
}

/** Going back drops who may join (open transactions then take branches from their own caller only) and the exact comparison of callers. */
export async function down(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE ?? DROP COLUMN joinable_by, MODIFY caller VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NULL`, [TABLES.global]);
}
