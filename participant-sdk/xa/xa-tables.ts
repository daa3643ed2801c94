/**
 * The table of the gids behind hashed gtrids (xid.ts): a gid longer than 64
 * characters cannot be an xid's gtrid, so its branch's xid carries a hash,
 * and the gid is recorded here, committed before the branch starts, for the
 * recovery of a branch left prepared to find its transaction again.
 */
import type { Knex } from 'knex';
import { LIMITS } from '@dtx/protocol';
import { assertTableName } from '../barrier/input.ts';

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

export async function recordHashedGid(knex: Knex, table: string, gtrid: string, gid: string, now: number): Promise<void> {
  await knex.raw('insert ignore into ?? (gtrid, gid, created_at) values (?, ?, ?)', [table, gtrid, gid, now]);
}

/** The gid recorded for a hashed gtrid, or null. */
export async function gidOfHashedGtrid(knex: Knex, table: string, gtrid: string): Promise<string | null> {
  const [rows] = (await knex.raw('select gid from ?? where gtrid = ?', [table, gtrid])) as unknown as [{ gid?: unknown }[]];
  return typeof rows[0]?.gid === 'string' ? rows[0].gid : null;
}
