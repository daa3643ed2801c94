/**
 * Deciding a branch's rollback from its undo records and the rows as they
 * are now. Pure: rollback.ts reads and writes.
 *
 * A row several statements of the branch touched is judged by the last one
 * (its current state must equal the LAST after image touching it) and ends
 * at the first one (its state before the branch: the FIRST before image).
 * If every row is as the branch left it, the restore undoes the statements
 * one by one, newest first, each row back to that statement's before image:
 * the rows pass through states that all existed, so unique keys and foreign
 * keys that held during phase one hold during the restore. If any row
 * changed since (a dirty write: someone wrote it without the global lock),
 * nothing is restored and the rows are reported.
 *
 * `force` (an operator's restore-before of a dirty branch) undoes the
 * statements the same way, whatever the rows are now: each ends at its first
 * before image (a row someone deleted since is inserted again, one someone
 * inserted is deleted).
 */
import { keyOfImage, sameImage, type RowImage } from './images.ts';
import { comparedColumns, type TableMeta } from './table-meta.ts';
import type { UndoRecord } from './undo-log.ts';

/** A primary key in row-key form (images.ts keyOfImage). */
export type Pk = Array<string | null>;

/** One restoring statement: put a row back, take an inserted one out, or set one back to an image. */
export type RestoreStep =
  | { action: 'insert'; table: string; pk: Pk; row: RowImage }
  | { action: 'update'; table: string; pk: Pk; row: RowImage }
  | { action: 'delete'; table: string; pk: Pk; row: RowImage };

/** A row changed since the branch wrote it. `null`: absent (inserted by the branch and since deleted, or the reverse). */
export interface DirtyRow {
  table: string;
  pk: Pk;
  /** Before the branch (first before image). */
  before: RowImage | null;
  /** As the branch left it (last after image). */
  after: RowImage | null;
  /** Now. */
  current: RowImage | null;
}

export type RollbackPlan = { kind: 'restore'; steps: RestoreStep[]; rows: number } | { kind: 'dirty'; rows: DirtyRow[] };

/** The rows as they are now: table → key id (pkId) → image; a missing key is a missing row. */
export type CurrentRows = ReadonlyMap<string, ReadonlyMap<string, RowImage>>;

/** A key's lookup string. */
export function pkId(pk: Pk): string {
  return JSON.stringify(pk);
}

/** One row's history through the branch. */
interface Touched {
  table: string;
  pk: Pk;
  first: RowImage | null;
  last: RowImage | null;
}

/**
 * Every row the records touch, per table, as keys: what rollback.ts reads
 * (and locks) as the current rows.
 * @throws Error when a record names a table `tables` lacks (a caller bug)
 */
export function touchedKeys(records: readonly UndoRecord[], tables: ReadonlyMap<string, TableMeta>): Map<string, Pk[]> {
  const keys = new Map<string, Map<string, Pk>>();
  for (const touched of history(records, tables).values()) {
    let table = keys.get(touched.table);
    if (!table) keys.set(touched.table, (table = new Map()));
    table.set(pkId(touched.pk), touched.pk);
  }
  return new Map([...keys].map(([table, pks]) => [table, [...pks.values()]]));
}

/**
 * The rollback of a branch: restore steps in the order to run them, or the
 * dirty rows (and nothing to run).
 *
 * @param records - the branch's undo records (any order)
 * @param tables - the catalog of every table they name (by qualified name)
 * @param current - the touched rows as they are now (touchedKeys)
 * @param mode - `check`: refuse on any dirty row; `force`: restore whatever the rows are now
 */
export function planRollback(
  records: readonly UndoRecord[],
  tables: ReadonlyMap<string, TableMeta>,
  current: CurrentRows,
  mode: 'check' | 'force' = 'check',
): RollbackPlan {
  const rows = history(records, tables);
  const now = (table: string, pk: Pk) => current.get(table)?.get(pkId(pk)) ?? null;
  if (mode === 'check') {
    const dirty: DirtyRow[] = [];
    for (const touched of rows.values()) {
      const state = now(touched.table, touched.pk);
      const columns = comparedColumns(tables.get(touched.table)!);
      const same = state === null || touched.last === null ? state === touched.last : sameImage(state, touched.last, columns);
      if (!same) dirty.push({ table: touched.table, pk: touched.pk, before: touched.first, after: touched.last, current: state });
    }
    if (dirty.length > 0) return { kind: 'dirty', rows: dirty };
  }

  // Undo the statements newest first. Whether a row is there is followed as
  // the steps go (from the rows as they are now), so that a forced restore
  // inserts a row someone deleted and deletes one someone put back.
  const present = new Map<string, boolean>();
  const steps: RestoreStep[] = [];
  for (const record of [...records].sort((a, b) => b.seq - a.seq)) {
    const meta = tables.get(record.table)!;
    for (const { pk, before, after } of rowsOf(record, meta).reverse()) {
      const id = JSON.stringify([record.table, pk]);
      const there = present.get(id) ?? now(record.table, pk) !== null;
      if (before === null) {
        if (there) steps.push({ action: 'delete', table: record.table, pk, row: after! });
      } else {
        steps.push({ action: there ? 'update' : 'insert', table: record.table, pk, row: before });
      }
      present.set(id, before !== null);
    }
  }
  return { kind: 'restore', steps, rows: rows.size };
}

/** Every touched row's first and last image, keyed by table and key, from the records in statement order. */
function history(records: readonly UndoRecord[], tables: ReadonlyMap<string, TableMeta>): Map<string, Touched> {
  const rows = new Map<string, Touched>();
  for (const record of [...records].sort((a, b) => a.seq - b.seq)) {
    const meta = tables.get(record.table);
    if (!meta) throw new Error(`no catalog entry for table ${record.table}`);
    for (const { pk, before, after } of rowsOf(record, meta)) {
      const id = JSON.stringify([record.table, pk]);
      const seen = rows.get(id);
      if (seen) seen.last = after;
      else rows.set(id, { table: record.table, pk, first: before, last: after });
    }
  }
  return rows;
}

/** A record's rows, before and after paired by key, in the record's order (before images first). */
function rowsOf(record: UndoRecord, meta: TableMeta): Array<{ pk: Pk; before: RowImage | null; after: RowImage | null }> {
  const rows = new Map<string, { pk: Pk; before: RowImage | null; after: RowImage | null }>();
  for (const before of record.before) {
    const pk = keyOfImage(before, meta.primaryKey);
    rows.set(pkId(pk), { pk, before, after: null });
  }
  for (const after of record.after) {
    const pk = keyOfImage(after, meta.primaryKey);
    const row = rows.get(pkId(pk));
    if (row) row.after = after;
    else rows.set(pkId(pk), { pk, before: null, after });
  }
  return [...rows.values()];
}
