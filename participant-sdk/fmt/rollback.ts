/**
 * A branch's phase two rollback: its rows back to what they were before
 * the branch, from its undo records, unless someone changed them since.
 * And the operator's way out of a dirty branch (resolveFmtDirty).
 *
 * Both run in one local transaction, the caller's (the barrier's, for a
 * cancel: so that it is ordered after the branch's phase one, which may
 * still be writing the records on PostgreSQL, where a locking read does not
 * wait for rows being inserted). Reads lock what they read (FOR UPDATE): the
 * undo records first, then the business rows, so two rollbacks of one
 * branch, or a rollback and a commit, run one after the other, and no row
 * changes between the comparison and the restore.
 */
import type { Knex } from 'knex';
import type { FmtDialect } from './dialect.ts';
import { dialectOf, runSql, type Queryable } from './dialect.ts';
import { FmtImageMismatchError } from './errors.ts';
import { keyOfImage, toBinding, type RowImage } from './images.ts';
import { planRollback, pkId, touchedKeys, type DirtyRow, type RestoreStep } from './rollback-plan.ts';
import { keyEquals, pkBindings, readImagesByKeys } from './row-reads.ts';
import { quoteIdentifier } from './sql-text.ts';
import { quotedTable, tableMetaByQualifiedName, type TableMeta } from './table-meta.ts';
import { assertUndoBranch, DEFAULT_FMT_UNDO_TABLE, deleteUndoRecords, readUndoRecords, type UndoRecord } from './undo-log.ts';

/** Which branch, where its records are, on which database. */
export interface FmtBranchOptions {
  gid: string;
  branchId: string;
  /** The undo table (default `dtx_fmt_undo`). */
  undoTable?: string;
  /** Default: the transaction's (mysql2: `mysql`, pg: `postgres`). */
  dialect?: FmtDialect;
}

/**
 * - `restored`: every row the branch wrote is back as before it (`rows`: how many rows), its undo records deleted;
 * - `dirty`: some rows changed since the branch wrote them; nothing was changed, the records stay (an operator decides: resolveFmtDirty);
 * - `nothing`: no undo record: the branch wrote nothing, or was already rolled back or committed.
 */
export type FmtRollbackResult = { kind: 'restored'; rows: number } | { kind: 'dirty'; rows: DirtyRow[] } | { kind: 'nothing' };

/**
 * Roll the branch back from its undo records (see rollback-plan.ts for the decision).
 *
 * Effect, on `trx` (the caller commits): on `restored`, the restoring
 * statements and the records' deletion; otherwise nothing is written.
 *
 * @throws BarrierInputError on an invalid gid, branch id or table name; FmtUndoRecordError on an unreadable record;
 *   FmtUnsupportedStatementError `unknown-table` when a record's table is gone
 */
export async function rollbackFmtBranch(trx: Knex.Transaction, options: FmtBranchOptions): Promise<FmtRollbackResult> {
  const branch = { gid: options.gid, branchId: options.branchId, undoTable: options.undoTable ?? DEFAULT_FMT_UNDO_TABLE };
  assertUndoBranch(branch);
  const dialect = dialectOf(trx, options.dialect);
  const records = await readUndoRecords(trx, dialect, branch);
  if (records.length === 0) return { kind: 'nothing' };
  const { tables, current } = await lockCurrentRows(trx, dialect, records);
  const plan = planRollback(records, tables, current);
  if (plan.kind === 'dirty') return plan;
  await restore(trx, dialect, tables, plan.steps);
  await deleteUndoRecords(trx, dialect, branch);
  return { kind: 'restored', rows: plan.rows };
}

/** What an operator does with a dirty branch. */
export type FmtDirtyAction = 'restore-before' | 'keep-current';

/**
 * An operator's decision on a branch whose rollback found dirty rows:
 * - `restore-before`: every row the branch wrote back to its state before
 *   the branch, whatever it is now (the later changes are lost), and the
 *   records deleted;
 * - `keep-current`: the rows left as they are, the records deleted.
 *
 * @returns `restored` (rows), `kept` (records deleted), or `nothing` (no record)
 */
export async function resolveFmtDirty(
  trx: Knex.Transaction,
  options: FmtBranchOptions & { action: FmtDirtyAction },
): Promise<{ kind: 'restored'; rows: number } | { kind: 'kept'; records: number } | { kind: 'nothing' }> {
  const branch = { gid: options.gid, branchId: options.branchId, undoTable: options.undoTable ?? DEFAULT_FMT_UNDO_TABLE };
  assertUndoBranch(branch);
  const dialect = dialectOf(trx, options.dialect);
  const records = await readUndoRecords(trx, dialect, branch);
  if (records.length === 0) return { kind: 'nothing' };
  if (options.action === 'keep-current') return { kind: 'kept', records: await deleteUndoRecords(trx, dialect, branch) };
  const { tables, current } = await lockCurrentRows(trx, dialect, records);
  const plan = planRollback(records, tables, current, 'force');
  if (plan.kind === 'dirty') throw new Error('a forced plan is never dirty');
  await restore(trx, dialect, tables, plan.steps);
  await deleteUndoRecords(trx, dialect, branch);
  return { kind: 'restored', rows: plan.rows };
}

/** The catalog of every table the records name, and their touched rows as they are now, locked. */
async function lockCurrentRows(
  q: Queryable,
  dialect: FmtDialect,
  records: readonly UndoRecord[],
): Promise<{ tables: Map<string, TableMeta>; current: Map<string, Map<string, RowImage>> }> {
  const tables = new Map<string, TableMeta>();
  for (const record of records) if (!tables.has(record.table)) tables.set(record.table, await tableMetaByQualifiedName(q, dialect, record.table));
  const current = new Map<string, Map<string, RowImage>>();
  for (const [table, pks] of touchedKeys(records, tables)) {
    const meta = tables.get(table)!;
    const rows = await readImagesByKeys(
      q,
      dialect,
      meta,
      pks.map((pk) => pkBindings(meta, pk)),
      { forUpdate: true },
    );
    current.set(table, new Map(rows.map((row) => [pkId(keyOfImage(row, meta.primaryKey)), row])));
  }
  return { tables, current };
}

/** Run the steps in order, one statement each. */
async function restore(q: Queryable, dialect: FmtDialect, tables: ReadonlyMap<string, TableMeta>, steps: readonly RestoreStep[]): Promise<void> {
  for (const step of steps) {
    const meta = tables.get(step.table)!;
    const table = quotedTable(meta, dialect);
    const key = keyEquals(meta, dialect, step.row);
    if (step.action === 'delete') {
      const { affectedRows } = await runSql(q, dialect, `delete from ${table} where ${key.sql}`, key.values);
      if (affectedRows !== 1) throw new FmtImageMismatchError(meta.qualifiedName, 1, affectedRows, 'a row to delete at rollback was not there');
    } else if (step.action === 'insert') {
      const columns = meta.columns.filter((column) => !column.generated && column.name in step.row);
      const overriding = dialect === 'postgres' && columns.some((column) => column.identityAlways) ? ' overriding system value' : '';
      await runSql(
        q,
        dialect,
        `insert into ${table} (${columns.map((column) => quoteIdentifier(column.name, dialect)).join(', ')})${overriding} values (${columns.map(() => '?').join(', ')})`,
        columns.map((column) => toBinding(step.row[column.name]!)),
      );
    } else {
      // Generated and ON UPDATE columns are the database's; the key does not change (an UPDATE of it is refused in phase one).
      const columns = meta.columns.filter(
        (column) => !column.generated && !column.autoUpdated && !meta.primaryKey.includes(column.name) && column.name in step.row,
      );
      if (columns.length === 0) continue;
      await runSql(q, dialect, `update ${table} set ${columns.map((column) => `${quoteIdentifier(column.name, dialect)} = ?`).join(', ')} where ${key.sql}`, [
        ...columns.map((column) => toBinding(step.row[column.name]!)),
        ...key.values,
      ]);
    }
  }
}
