/**
 * What sagas and transactional messages need.
 *
 * On the transaction row (NULL for the other modes): a message's
 * `check_url`, where the coordinator asks the sender whether it committed,
 * and `not_before`, the time before which phase two does not start (a
 * message's delivery time).
 *
 * On the branch rows, what a saga's steps need (NULL for a TCC branch):
 *
 * - `seq`: the branch's place in the list it was registered with. Branches
 *   registered in one commit share `created_at`; they are read back in the
 *   order given (a saga's steps as submitted), not sorted by id.
 * - `depends_on`: JSON array of the branch ids whose first operation must be
 *   done before this one's is called (the step graph).
 * - `op_payloads`: JSON object, operation → payload text, for operations
 *   whose body differs from `payload` (a compensation's own payload).
 * - `max_attempts`, `call_timeout_ms`: a step's retry limit (+1) and the
 *   timeout of one call to it.
 */
import type { Knex } from 'knex';
import { TABLES } from '../tables.ts';

export const name = '0005-sagas-and-messages';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE ?? ADD COLUMN check_url VARCHAR(2048) NULL, ADD COLUMN not_before BIGINT NULL`, [TABLES.global]);
  await knex.raw(
    `ALTER TABLE ?? ADD COLUMN seq SMALLINT UNSIGNED NOT NULL DEFAULT 0, ADD COLUMN depends_on TEXT NULL, ADD COLUMN op_payloads MEDIUMTEXT NULL,
       ADD COLUMN max_attempts INT UNSIGNED NULL, ADD COLUMN call_timeout_ms INT UNSIGNED NULL`,
    [TABLES.branch],
  );
}

/** Only TCC transactions can go back: a saga's steps would lose their graph and payloads, a message its check-back. */
export async function down(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE ?? DROP COLUMN check_url, DROP COLUMN not_before`, [TABLES.global]);
  await knex.raw(`ALTER TABLE ?? DROP COLUMN seq, DROP COLUMN depends_on, DROP COLUMN op_payloads, DROP COLUMN max_attempts, DROP COLUMN call_timeout_ms`, [
    TABLES.branch,
  ]);
}
