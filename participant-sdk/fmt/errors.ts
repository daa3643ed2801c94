/**
 * Typed errors of FMT (automatic undo from row images). Callers branch on the
 * class or on `code`, never on the message; each carries what a caller needs.
 */
import { DtxError } from '../errors.ts';
import type { RowKey } from './global-locks.ts';

/**
 * Why a statement was refused before it ran:
 * - `unparsable`: the SQL parser could not read it, so nothing about it can be known;
 * - `multiple-statements`: more than one statement in one call;
 * - `ddl`: CREATE, ALTER, DROP, TRUNCATE, RENAME, GRANT…: no row image can undo them;
 * - `other-statement`: anything else that is neither SELECT, INSERT, UPDATE nor DELETE (CALL, SET, LOCK…);
 * - `multi-table`: an UPDATE or DELETE naming several tables (joins, USING, FROM, multi-table DELETE);
 * - `no-where`: an UPDATE or DELETE without WHERE: it would image (and lock) the whole table;
 * - `primary-key-update`: an UPDATE setting a primary-key column: the after image is re-read by key;
 * - `upsert`: INSERT … ON DUPLICATE KEY UPDATE / ON CONFLICT: which rows were inserted or updated is unknown;
 * - `insert-ignore`: INSERT IGNORE: a skipped row's key would be imaged as inserted, and deleted at rollback;
 * - `replace`: REPLACE deletes and inserts rows it does not name;
 * - `insert-select`: INSERT … SELECT: the rows are not known before it runs;
 * - `insert-key-unknown`: an INSERT whose new rows' primary keys cannot be known (MySQL: a key from an
 *   expression or a non-AUTO_INCREMENT default, AUTO_INCREMENT values given for some rows only);
 * - `statement-modifier`: UPDATE IGNORE / LOW_PRIORITY, UPDATE ONLY…, which the parser misreads;
 * - `with-clause`: a WITH before an UPDATE, DELETE or INSERT;
 * - `order-limit`: ORDER BY or LIMIT on an UPDATE or DELETE;
 * - `locking-read`: a SELECT … FOR UPDATE / FOR SHARE through `sql()`: use `selectForUpdate`, which also
 *   waits for the rows' global locks;
 * - `not-a-select`: `selectForUpdate` given anything but a plain single-table SELECT;
 * - `unknown-table`: the table is not in the database's catalog (found at run time);
 * - `no-primary-key`: the table has no primary key (found at run time): rows could not be found again.
 */
export type FmtRefusal =
  | 'unparsable'
  | 'multiple-statements'
  | 'ddl'
  | 'other-statement'
  | 'multi-table'
  | 'no-where'
  | 'primary-key-update'
  | 'upsert'
  | 'insert-ignore'
  | 'replace'
  | 'insert-select'
  | 'insert-key-unknown'
  | 'statement-modifier'
  | 'with-clause'
  | 'order-limit'
  | 'locking-read'
  | 'not-a-select'
  | 'unknown-table'
  | 'no-primary-key';

/** A statement FMT cannot undo, refused before it was sent: nothing ran. */
export class FmtUnsupportedStatementError extends DtxError {
  /** Which kind of statement; see {@link FmtRefusal}. */
  readonly reason: FmtRefusal;
  /** The statement, cut to 200 characters so that it is safe to log. */
  readonly sql: string;

  /**
   * @param reason - which kind of statement
   * @param sql - the refused statement
   * @param detail - what exactly, for the message
   * @param options - `cause`: the parser's error, for `unparsable`
   */
  constructor(reason: FmtRefusal, sql: string, detail: string, options?: { cause?: unknown }) {
    super('FMT_UNSUPPORTED_SQL', `FMT cannot undo this statement (${reason}): ${detail}`, options);
    this.reason = reason;
    this.sql = sql.slice(0, 200);
  }
}

/** A global lock another global transaction holds, still held after the bounded wait. */
export class FmtLockConflictError extends DtxError {
  /** The gid of the global transaction holding the lock. */
  readonly holderGid: string;
  /** The row it holds. */
  readonly key: RowKey;

  constructor(
    holderGid: string,
    key: RowKey,
    message = `row ${key.resource}/${key.table}/${JSON.stringify(key.pk)} is locked by global transaction ${holderGid}`,
  ) {
    super('FMT_LOCK_CONFLICT', message);
    this.holderGid = holderGid;
    this.key = key;
  }
}

/**
 * A statement that would image more rows than the session allows
 * (`maxRowsPerStatement`), refused before it ran: its undo record would be
 * as large as the rows it changes.
 */
export class FmtTooManyRowsError extends DtxError {
  /** The statement's table. */
  readonly table: string;
  /** Rows found (or to insert); at least `limit + 1`. */
  readonly rows: number;
  /** The session's `maxRowsPerStatement`. */
  readonly limit: number;

  constructor(table: string, rows: number, limit: number) {
    super('FMT_TOO_MANY_ROWS', `the statement on ${table} touches more than ${limit} rows (maxRowsPerStatement); split it`);
    this.table = table;
    this.rows = rows;
    this.limit = limit;
  }
}

/**
 * The rows a statement changed are not the rows imaged: a row committed by
 * another transaction between the image read and the statement (READ
 * COMMITTED has no gap locks), an INSERT whose rows were not found again by
 * key, a non-deterministic WHERE. The statement ran, but its undo would be
 * wrong: the session refuses every later statement and its phase one fails,
 * so the caller's local transaction rolls back.
 */
export class FmtImageMismatchError extends DtxError {
  /** The statement's table. */
  readonly table: string;
  /** Rows the images hold. */
  readonly imaged: number;
  /** Rows the database says the statement changed (or found again by key). */
  readonly changed: number;

  constructor(table: string, imaged: number, changed: number, why: string) {
    super('FMT_IMAGE_MISMATCH', `on ${table}: ${why} (imaged ${imaged} rows, changed ${changed})`);
    this.table = table;
    this.imaged = imaged;
    this.changed = changed;
  }
}

/** An undo record that cannot be read back (not written by this SDK, or edited by hand). */
export class FmtUndoRecordError extends DtxError {
  /** The record's branch and statement number. */
  readonly gid: string;
  readonly branchId: string;
  readonly seq: number;

  constructor(gid: string, branchId: string, seq: number, why: string) {
    super('FMT_BAD_UNDO_RECORD', `undo record ${gid}/${branchId}/${seq}: ${why}`);
    this.gid = gid;
    this.branchId = branchId;
    this.seq = seq;
  }
}
