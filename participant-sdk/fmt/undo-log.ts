/**
 * The undo table: one record per imaged statement of a branch's phase one,
 * written in the same local transaction as the statement (so a committed
 * change always has its undo record, and a rolled-back one none), read by
 * the rollback, deleted by the commit.
 *
 *   gid, branch_id  the branch (ids as the barrier stores them: ASCII, byte for byte)
 *   seq             the statement's order in the branch (1, 2, …)
 *   table_name      `schema.table` as the catalog spells it
 *   before_image    JSON list of the rows before the statement (images.ts); [] for an INSERT
 *   after_image     JSON list of the rows after it; [] for a DELETE
 *   created_at      epoch milliseconds
 *   primary key (gid, branch_id, seq)
 */
import type { Knex } from 'knex';
import { isValidBranchId, isValidGid, LIMITS } from '@dtx/protocol';
import { barrierDialectOf } from '../barrier/dialect-of.ts';
import { assertTableName } from '../barrier/input.ts';
import { BarrierInputError } from '../errors.ts';
import { runSql, quoteQualified, type FmtDialect, type Queryable } from './dialect.ts';
import { FmtUndoRecordError } from './errors.ts';
import { decodeImages, encodeImages, type RowImage } from './images.ts';

/** The undo table's name when none is given. */
export const DEFAULT_FMT_UNDO_TABLE = 'dtx_fmt_undo';

/** Width of table_name: a schema and a table name of 64 characters, and their dot. */
const TABLE_NAME_MAX_LENGTH = 200;

/** One statement's undo record. */
export interface UndoRecord {
  gid: string;
  branchId: string;
  seq: number;
  /** `schema.table`. */
  table: string;
  before: RowImage[];
  after: RowImage[];
  /** Epoch milliseconds. */
  createdAt: number;
}

/** The branch whose records a statement reads or deletes, and where they are. */
export interface UndoBranch {
  gid: string;
  branchId: string;
  undoTable: string;
}

/**
 * Throws unless the undo table's name, the gid and the branch id are
 * storable as they are (checked before any SQL, as the barrier does: a
 * truncated id would be another branch's).
 * @throws BarrierInputError naming the field
 */
export function assertUndoBranch(branch: UndoBranch): void {
  assertTableName(branch.undoTable);
  if (typeof branch.gid !== 'string' || !isValidGid(branch.gid)) {
    throw new BarrierInputError('gid', branch.gid, `expected 1..${LIMITS.gidMaxLength} characters of [A-Za-z0-9_.-]`);
  }
  if (typeof branch.branchId !== 'string' || !isValidBranchId(branch.branchId)) {
    throw new BarrierInputError('branchId', branch.branchId, `expected 1..${LIMITS.branchIdMaxLength} characters of [A-Za-z0-9_.-]`);
  }
}

/**
 * Create the undo table if it is missing (idempotent; an existing table is
 * left as it is). MySQL: CREATE TABLE IF NOT EXISTS. PostgreSQL: under an
 * advisory lock, since two concurrent CREATE TABLE IF NOT EXISTS can both
 * fail there on the type they both create.
 *
 * @param knex - the participant's database
 * @param table - the table's name (default `dtx_fmt_undo`), optionally schema-qualified
 * @throws BarrierInputError on an invalid table name; ParticipantConfigError when `knex` is on another client than mysql2 or pg
 */
export async function createFmtUndoTable(knex: Knex, table: string = DEFAULT_FMT_UNDO_TABLE): Promise<void> {
  assertTableName(table);
  const dialect = barrierDialectOf(knex).name;
  const name = quoteQualified(table, dialect);
  if (dialect === 'mysql') {
    const id = (width: number) => `varchar(${width}) character set ascii collate ascii_bin not null`;
    await knex.raw(
      `create table if not exists ${name} (
        gid ${id(LIMITS.gidMaxLength)},
        branch_id ${id(LIMITS.branchIdMaxLength)},
        seq int unsigned not null,
        table_name varchar(${TABLE_NAME_MAX_LENGTH}) character set utf8mb4 collate utf8mb4_bin not null,
        before_image longtext character set utf8mb4 collate utf8mb4_bin not null,
        after_image longtext character set utf8mb4 collate utf8mb4_bin not null,
        created_at bigint not null,
        primary key (gid, branch_id, seq),
        key idx_dtx_fmt_undo_created_at (created_at)
      ) engine = InnoDB`,
    );
    return;
  }
  const bare = table.split('.').pop()!;
  await knex.transaction(async (trx) => {
    await trx.raw('select pg_advisory_xact_lock(hashtextextended(?, 0))', [`dtx-fmt-undo-migration:${table}`]);
    const id = (width: number) => `varchar(${width}) collate "C" not null`;
    await trx.raw(
      `create table if not exists ${name} (
        gid ${id(LIMITS.gidMaxLength)},
        branch_id ${id(LIMITS.branchIdMaxLength)},
        seq integer not null,
        table_name varchar(${TABLE_NAME_MAX_LENGTH}) not null,
        before_image text not null,
        after_image text not null,
        created_at bigint not null,
        primary key (gid, branch_id, seq)
      )`,
    );
    await trx.raw(`create index if not exists "${bare}_created_at_idx" on ${name} (created_at)`);
  });
}

/** Write records in one INSERT (nothing when there are none). */
export async function writeUndoRecords(q: Queryable, dialect: FmtDialect, undoTable: string, records: readonly UndoRecord[]): Promise<void> {
  if (records.length === 0) return;
  await runSql(
    q,
    dialect,
    `insert into ${quoteQualified(undoTable, dialect)} (gid, branch_id, seq, table_name, before_image, after_image, created_at) values ${records
      .map(() => '(?, ?, ?, ?, ?, ?, ?)')
      .join(', ')}`,
    records.flatMap((r) => [r.gid, r.branchId, r.seq, r.table, encodeImages(r.before), encodeImages(r.after), r.createdAt]),
  );
}

/**
 * The branch's records in statement order, locked (FOR UPDATE) until the
 * transaction ends: a rollback and a commit of the same branch, or two
 * rollbacks, run one after the other.
 * @throws FmtUndoRecordError on a record that cannot be read
 */
export async function readUndoRecords(q: Queryable, dialect: FmtDialect, branch: UndoBranch): Promise<UndoRecord[]> {
  const { rows } = await runSql<{ seq: unknown; table_name: string; before_image: string; after_image: string; created_at: unknown }>(
    q,
    dialect,
    `select seq, table_name, before_image, after_image, created_at from ${quoteQualified(branch.undoTable, dialect)}
      where gid = ? and branch_id = ? order by seq for update`,
    [branch.gid, branch.branchId],
  );
  return rows.map((row) => {
    const seq = Number(row.seq);
    try {
      return {
        gid: branch.gid,
        branchId: branch.branchId,
        seq,
        table: row.table_name,
        before: decodeImages(row.before_image),
        after: decodeImages(row.after_image),
        createdAt: Number(row.created_at),
      };
    } catch (error) {
      throw new FmtUndoRecordError(branch.gid, branch.branchId, seq, error instanceof Error ? error.message : String(error));
    }
  });
}

/** Delete the branch's records (one statement; none there is no error); returns how many. */
export async function deleteUndoRecords(q: Queryable, dialect: FmtDialect, branch: UndoBranch): Promise<number> {
  const { affectedRows } = await runSql(q, dialect, `delete from ${quoteQualified(branch.undoTable, dialect)} where gid = ? and branch_id = ?`, [
    branch.gid,
    branch.branchId,
  ]);
  return affectedRows;
}
