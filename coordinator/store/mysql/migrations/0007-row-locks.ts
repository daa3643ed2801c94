/**
 * Global row locks (FMT): one row per locked row of a participant's
 * database, held by a branch of a transaction until the rows are final.
 *
 * `lock_hash`: SHA-256 of the canonical key (resource, table, primary key),
 * a fixed-size primary key whatever the key's length; the key itself is kept
 * beside it for operators. A lock is held only while its transaction is
 * open or rolling back (the store checks the holder's status), so a lock
 * row left behind by any path is free, never a stuck row.
 */
import type { Knex } from 'knex';
import { TABLES } from '../tables.ts';

export const name = '0007-row-locks';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(
    `CREATE TABLE ?? (
      lock_hash CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
      resource VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
      table_name VARCHAR(256) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
      pk VARCHAR(1024) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
      gid VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
      branch_id VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
      locked_at BIGINT NOT NULL,
      INDEX idx_row_lock_gid (gid),
      INDEX idx_row_lock_resource (resource, table_name, locked_at)
    ) ENGINE=InnoDB`,
    [TABLES.rowLock],
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists(TABLES.rowLock);
}
