/**
 * Global row locks (FMT): one row per locked row of a participant's
 * database, held by a branch of a transaction until the rows are final. The
 * key is kept whole; `lock_hash` (SHA-256 of the canonical key) is the
 * primary key, one fixed size whatever the key's length. A lock is held only
 * while its transaction is open or rolling back (the store checks the
 * holder's status), so a lock row left behind is free, never a stuck row.
 */
import { TABLES } from '../tables.ts';

export const name = '0003-row-locks';

export const statements: readonly string[] = [
  `CREATE TABLE ${TABLES.rowLock} (
    lock_hash text COLLATE "C" PRIMARY KEY,
    resource text COLLATE "C" NOT NULL,
    table_name text COLLATE "C" NOT NULL,
    pk text COLLATE "C" NOT NULL,
    gid text COLLATE "C" NOT NULL,
    branch_id text COLLATE "C" NOT NULL,
    locked_at bigint NOT NULL
  )`,
  `CREATE INDEX idx_row_lock_gid ON ${TABLES.rowLock} (gid)`,
  `CREATE INDEX idx_row_lock_resource ON ${TABLES.rowLock} (resource, table_name, locked_at)`,
];
