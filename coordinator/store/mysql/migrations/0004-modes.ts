/**
 * The log becomes the same for every mode, and the happy path stops writing
 * history rows.
 *
 * - Statuses take the model's mode-neutral names (`trying` → `open`,
 *   `confirming` → `committing`, `cancelled` → `rolled-back`, a branch's
 *   `prepared` → `pending`, …); each mode names them for its users.
 * - A branch keeps its operations' URLs in `operations` (JSON text, in
 *   registration order: TCC `{"confirm": …, "cancel": …}`) instead of the
 *   confirm_url/cancel_url pair. Text, not MySQL's JSON type, which would
 *   reorder the keys.
 * - The rows carry the happy path's steps, which were event rows:
 *   `decided_by` (the decision's actor), a branch's `registered_by` and the
 *   call that completed it (`done_at`, `done_op`, `done_attempt`,
 *   `done_http`). Rows logged before keep their events, and the history is
 *   assembled from both (domain/history.ts).
 * - `idx_global_finished`: "finished in the last hour" now counts rows, not
 *   status events; it and `idx_global_status_mode` count by mode and status
 *   from the index alone.
 */
import type { Knex } from 'knex';
import { TABLES } from '../tables.ts';

export const name = '0004-modes';

const GLOBAL = [
  ['trying', 'open'],
  ['confirming', 'committing'],
  ['cancelling', 'rolling-back'],
  ['confirmed', 'committed'],
  ['cancelled', 'rolled-back'],
] as const;
const BRANCH = [
  ['prepared', 'pending'],
  ['confirmed', 'committed'],
  ['cancelled', 'rolled-back'],
] as const;

/** `CASE col WHEN a THEN b … ELSE col END` for one direction of a renaming. */
function renamed(column: string, pairs: readonly (readonly [string, string])[], reverse: boolean): { sql: string; values: string[] } {
  const values = pairs.flatMap(([older, newer]) => (reverse ? [newer, older] : [older, newer]));
  return { sql: `CASE \`${column}\` ${pairs.map(() => 'WHEN ? THEN ?').join(' ')} ELSE \`${column}\` END`, values };
}

async function renameStatuses(knex: Knex, reverse: boolean): Promise<void> {
  const global = renamed('status', GLOBAL, reverse);
  await knex.raw(`UPDATE ?? SET status = ${global.sql}`, [TABLES.global, ...global.values]);
  const branch = renamed('status', BRANCH, reverse);
  await knex.raw(`UPDATE ?? SET status = ${branch.sql}`, [TABLES.branch, ...branch.values]);
  const from = renamed('from_status', GLOBAL, reverse);
  const to = renamed('to_status', GLOBAL, reverse);
  await knex.raw(`UPDATE ?? SET from_status = ${from.sql}, to_status = ${to.sql} WHERE kind IN ('begin', 'status')`, [
    TABLES.event,
    ...from.values,
    ...to.values,
  ]);
}

export async function up(knex: Knex): Promise<void> {
  await knex.raw(
    `ALTER TABLE ?? ADD COLUMN decided_by VARCHAR(128) NULL, ADD INDEX idx_global_status_mode (status, mode), ADD INDEX idx_global_finished (status, finished_at, mode)`,
    [TABLES.global],
  );
  await knex.raw(
    `ALTER TABLE ?? ADD COLUMN operations TEXT NULL, ADD COLUMN registered_by VARCHAR(64) NULL,
       ADD COLUMN done_at BIGINT NULL, ADD COLUMN done_op VARCHAR(16) NULL, ADD COLUMN done_attempt INT UNSIGNED NULL, ADD COLUMN done_http SMALLINT UNSIGNED NULL`,
    [TABLES.branch],
  );
  await knex.raw(`UPDATE ?? SET operations = CONCAT('{"confirm":', JSON_QUOTE(confirm_url), ',"cancel":', JSON_QUOTE(cancel_url), '}')`, [TABLES.branch]);
  await knex.raw(`ALTER TABLE ?? MODIFY operations TEXT NOT NULL, DROP COLUMN confirm_url, DROP COLUMN cancel_url`, [TABLES.branch]);
  await renameStatuses(knex, false);
}

/** Back to TCC's columns and names; only TCC branches (confirm and cancel URLs) can go back. */
export async function down(knex: Knex): Promise<void> {
  await renameStatuses(knex, true);
  await knex.raw(`ALTER TABLE ?? ADD COLUMN confirm_url VARCHAR(2048) NULL, ADD COLUMN cancel_url VARCHAR(2048) NULL`, [TABLES.branch]);
  await knex.raw(
    `UPDATE ?? SET confirm_url = JSON_UNQUOTE(JSON_EXTRACT(operations, '$.confirm')), cancel_url = JSON_UNQUOTE(JSON_EXTRACT(operations, '$.cancel'))`,
    [TABLES.branch],
  );
  await knex.raw(
    `ALTER TABLE ?? MODIFY confirm_url VARCHAR(2048) NOT NULL, MODIFY cancel_url VARCHAR(2048) NOT NULL,
       DROP COLUMN operations, DROP COLUMN registered_by, DROP COLUMN done_at, DROP COLUMN done_op, DROP COLUMN done_attempt, DROP COLUMN done_http`,
    [TABLES.branch],
  );
  await knex.raw(`ALTER TABLE ?? DROP INDEX idx_global_finished, DROP INDEX idx_global_status_mode, DROP COLUMN decided_by`, [TABLES.global]);
}
