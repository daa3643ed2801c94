/**
 * The table of the gids behind hashed gtrids (xid.ts): a gid longer than 64
 * characters cannot be an xid's gtrid, so its branch's xid carries a hash,
 * and the gid is recorded here, committed before the branch starts, for the
 * recovery of a branch left prepared to find its transaction again.
 *
 * A row is needed for as long as a branch of its gid may be prepared here,
 * and goes with the barrier rows of the gid's branches (cleanupXaGids): once
 * none is left, none of the gid's branches is prepared (XA RECOVER), and no
 * prepare of the gid has started within the retention.
 */
import type { Knex } from 'knex';
import { LIMITS } from '@dtx/protocol';
import { assertTableName } from '../barrier/input.ts';
import { preparedXids } from './prepared-xids.ts';

/** The table's name when none is given (createParticipant's `xaGidTable`). */
export const DEFAULT_XA_GID_TABLE = 'dtx_xa_gid';

/** Create the table if it does not exist (safe on every start, from several processes at once). */
export async function createXaGidTable(knex: Knex, table: string = DEFAULT_XA_GID_TABLE): Promise<void> {
  assertTableName(table);
  await knex.raw(
    `create table if not exists ?? (
      gtrid varchar(64) character set ascii collate ascii_bin not null,
      gid varchar(${LIMITS.gidMaxLength}) character set ascii collate ascii_bin not null,
      created_at bigint not null,
      primary key (gtrid)
    ) engine = InnoDB`,
    [table],
  );
}

/**
 * Record the gid of a hashed gtrid before a prepare of one of its branches
 * starts (committed: the branch may outlive the prepare's session).
 *
 * Effect: the row exists, its `created_at` the start of the gid's latest
 * prepare here; a row already there is moved forward, so that the cleanup,
 * which deletes a row only once it is older than the retention, never
 * deletes it under a prepare starting now.
 */
export async function recordHashedGid(knex: Knex, table: string, gtrid: string, gid: string, now: number): Promise<void> {
  await knex.raw('insert into ?? (gtrid, gid, created_at) values (?, ?, ?) on duplicate key update created_at = greatest(created_at, ?)', [
    table,
    gtrid,
    gid,
    now,
    now,
  ]);
}

/** The gid recorded for a hashed gtrid, or null. */
export async function gidOfHashedGtrid(knex: Knex, table: string, gtrid: string): Promise<string | null> {
  const [rows] = (await knex.raw('select gid from ?? where gtrid = ?', [table, gtrid])) as unknown as [{ gid?: unknown }[]];
  return typeof rows[0]?.gid === 'string' ? rows[0].gid : null;
}

/** What {@link cleanupXaGids} deletes. */
export interface XaGidCleanup {
  /** The gid table. */
  gidTable: string;
  /** The barrier table of the same participant. */
  barrierTable: string;
  /** Rows recorded (or moved forward) before this epoch millisecond may go. */
  cutoff: number;
  /** Rows looked at per statement. */
  batchSize: number;
}

/**
 * Delete the gid rows no branch can need any more: recorded before the
 * cutoff, no barrier row of the gid left (its branches' rows were deleted,
 * or it never got one: a prepare that failed), and no xid of its gtrid
 * prepared on the server. A branch still prepared keeps its row whatever its
 * age: it is what lets the recovery find its transaction.
 *
 * Precondition: both tables exist; the database user may run XA RECOVER.
 * Effect: deletes by batches of short autocommit statements. The delete
 * checks `created_at` again, so a prepare that started meanwhile (and moved
 * its row forward) keeps it.
 *
 * @returns the number of rows deleted
 */
export async function cleanupXaGids(knex: Knex, options: XaGidCleanup): Promise<number> {
  // Read before the candidates: a branch prepared after this read started its prepare after it too, moving its row past the cutoff.
  const prepared = new Set((await preparedXids(knex)).map((xid) => xid.gtrid));
  let deleted = 0;
  let after = '';
  for (;;) {
    const [rows] = (await knex.raw(
      'select g.gtrid from ?? g where g.gtrid > ? and g.created_at < ? and not exists (select 1 from ?? b where b.gid = g.gid) order by g.gtrid limit ?',
      [options.gidTable, after, options.cutoff, options.barrierTable, options.batchSize],
    )) as unknown as [Array<{ gtrid: string }>];
    if (rows.length === 0) break;
    after = rows[rows.length - 1]!.gtrid;
    const due = rows.map((row) => row.gtrid).filter((gtrid) => !prepared.has(gtrid));
    if (due.length > 0) deleted += await knex(options.gidTable).whereIn('gtrid', due).andWhere('created_at', '<', options.cutoff).del();
    if (rows.length < options.batchSize) break;
  }
  return deleted;
}
