/**
 * The business SQL of an FMT branch, run on its local transaction with the
 * rows' images captured.
 *
 * Per statement (one at a time, in call order):
 * - SELECT: runs as it is (a locking one is refused: selectForUpdate).
 * - UPDATE / DELETE: the rows its WHERE selects are read and locked
 *   (SELECT … FOR UPDATE with the statement's own WHERE and values) before it
 *   runs: the before image. It then runs; an UPDATE's rows are read again by
 *   primary key: the after image.
 * - INSERT: runs, then its new rows are read by primary key: the after image.
 *   The keys come from the statement's values, MySQL's insert id
 *   (AUTO_INCREMENT), or PostgreSQL's RETURNING (added to the statement).
 * The rows the database says the statement changed must be the rows imaged
 * (a row committed by another transaction between the image read and the
 * statement would otherwise change without undo): FmtImageMismatchError.
 *
 * Two kinds of session:
 * - phase one (`undo` given, runFmtPhaseOne): images are kept, and
 *   `finish()` writes one undo record per statement that changed rows, in one
 *   INSERT on the same transaction, and returns the written rows' keys for
 *   the global locks;
 * - global lock (runWithGlobalLock): no image is kept; before an UPDATE or
 *   DELETE runs, its rows' global locks must be free (GlobalLocks.waitFree),
 *   and after an INSERT its new rows' too.
 *
 * A refused statement is never sent. A failure after a statement ran (its
 * after image, a mismatch) breaks the session: its changes would have no
 * undo, so every later call and `finish()` throw that failure, and the
 * caller's transaction must roll back.
 */
import type { Knex } from 'knex';
import type { SqlResult } from '../barrier/dialect.ts';
import { DtxError } from '../errors.ts';
import { runSql, type FmtDialect } from './dialect.ts';
import { FmtImageMismatchError, FmtTooManyRowsError, FmtUnsupportedStatementError } from './errors.ts';
import { uniqueKeys, type GlobalLocks, type RowKey } from './global-locks.ts';
import { keyOfImage, utcTimestamp, type RowImage } from './images.ts';
import { keyBindings, readImagesByKeys, readImagesWhere } from './row-reads.ts';
import { quoteIdentifier } from './sql-text.ts';
import { analyseLockingSelect, analyseStatement, checkAgainstTable, insertKeySources, sameColumn, type FmtStatement } from './statement.ts';
import { tableMeta, type TableMeta } from './table-meta.ts';
import { writeUndoRecords } from './undo-log.ts';

/** Rows one statement may image unless told otherwise. */
export const DEFAULT_MAX_ROWS_PER_STATEMENT = 1000;

/** How a session runs. */
export interface FmtSessionOptions {
  dialect: FmtDialect;
  /** The participant's name for this database, in row keys. */
  resource: string;
  locks: GlobalLocks;
  /** Statements imaging more rows are refused before they run (FmtTooManyRowsError). Default 1000. */
  maxRowsPerStatement?: number;
  /** Phase one: where the undo records go. Absent: a global-lock session (no undo record). */
  undo?: { gid: string; branchId: string; undoTable: string; now?: () => number };
}

/** Anything knex can turn into SQL: a query builder, a raw. */
export interface ToSql {
  toSQL(): { sql: string; bindings: readonly unknown[] } | ReadonlyArray<{ sql: string; bindings: readonly unknown[] }>;
}

/** One statement's images, waiting for finish(). */
interface Imaged {
  table: string;
  before: RowImage[];
  after: RowImage[];
}

type Insert = Extract<FmtStatement, { kind: 'insert' }>;
type UpdateOrDelete = Extract<FmtStatement, { kind: 'update' | 'delete' }>;

/** Prefix of the key columns PostgreSQL's added RETURNING names. */
const KEY_ALIAS = 'dtx_fmt_k';

export class FmtSession {
  readonly #trx: Knex.Transaction;
  readonly #options: FmtSessionOptions;
  readonly #maxRows: number;
  readonly #imaged: Imaged[] = [];
  readonly #keys: RowKey[] = [];
  #queue: Promise<unknown> = Promise.resolve();
  #broken: { error: unknown } | null = null;
  #finished = false;

  constructor(trx: Knex.Transaction, options: FmtSessionOptions) {
    const maxRows = options.maxRowsPerStatement ?? DEFAULT_MAX_ROWS_PER_STATEMENT;
    if (!Number.isInteger(maxRows) || maxRows < 1) throw new RangeError('maxRowsPerStatement must be a positive integer');
    this.#trx = trx;
    this.#options = options;
    this.#maxRows = maxRows;
  }

  /**
   * Run one statement (`?` values, `??` identifiers, as knex.raw takes them), capturing its rows' images.
   * @returns the statement's rows (SELECT, RETURNING), affected rows and MySQL insert id
   * @throws FmtUnsupportedStatementError (nothing ran), FmtTooManyRowsError (nothing ran),
   *   FmtImageMismatchError (it ran: the session is broken), the statement's own error
   */
  sql<Row = Record<string, unknown>>(text: string, values: readonly unknown[] = []): Promise<SqlResult<Row>> {
    return this.#serial(() => this.#run<Row>(analyseStatement(text, values, this.#options.dialect)));
  }

  /** Run a knex query builder (or raw) the same way as {@link sql}. */
  query<Row = Record<string, unknown>>(builder: ToSql): Promise<SqlResult<Row>> {
    const native = builder.toSQL();
    if (Array.isArray(native)) throw new FmtUnsupportedStatementError('multiple-statements', String(native.map((n) => n.sql)), 'one statement per call');
    const { sql, bindings } = native as { sql: string; bindings: readonly unknown[] };
    return this.sql<Row>(sql, bindings);
  }

  /**
   * A locking read that also waits for the rows' global locks: the rows of
   * a plain single-table SELECT (without FOR UPDATE: added here) are locked
   * by key, then every global transaction holding one of them is waited for
   * (GlobalLocks.waitFree), then the SELECT runs FOR UPDATE.
   * @throws FmtUnsupportedStatementError `not-a-select` / `no-primary-key`; FmtLockConflictError after the bounded wait
   */
  selectForUpdate<Row = Record<string, unknown>>(text: string, values: readonly unknown[] = []): Promise<SqlResult<Row>> {
    return this.#serial(async () => {
      const { dialect } = this.#options;
      const select = analyseLockingSelect(text, values, dialect);
      const meta = await tableMeta(this.#trx, dialect, select.table);
      if (meta.primaryKey.length === 0) throw new FmtUnsupportedStatementError('no-primary-key', select.text, `table ${meta.qualifiedName} has no primary key`);
      const locked = await readImagesWhere(this.#trx, dialect, meta, select.table.alias, select.where, { keysOnly: true });
      await this.#waitFree(meta, locked);
      return runSql<Row>(this.#trx, dialect, `${select.text}\nfor update`, select.values);
    });
  }

  /**
   * Phase one: write the undo records (one INSERT) and return the keys of
   * every row written; global lock: return those keys. Once only; no
   * statement runs after it.
   * @throws the failure that broke the session, if any
   */
  finish(): Promise<RowKey[]> {
    return this.#serial(async () => {
      this.#finished = true;
      const { undo, dialect } = this.#options;
      if (undo) {
        const createdAt = (undo.now ?? Date.now)();
        const records = this.#imaged.map((imaged, i) => ({ gid: undo.gid, branchId: undo.branchId, seq: i + 1, createdAt, ...imaged }));
        await writeUndoRecords(this.#trx, dialect, undo.undoTable, records);
      }
      return uniqueKeys(this.#keys);
    });
  }

  /** Calls run one after the other: a statement's before image must not interleave with another statement. */
  #serial<T>(step: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(() => {
      if (this.#broken) throw this.#broken.error;
      if (this.#finished) throw new DtxError('FMT_SESSION_FINISHED', 'the FMT session is finished: a statement now would have no undo record');
      return step();
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Remember a failure after a statement ran: from now on the session only throws it. */
  #breakWith(error: unknown): never {
    this.#broken ??= { error };
    throw error;
  }

  async #run<Row>(statement: FmtStatement): Promise<SqlResult<Row>> {
    const { dialect } = this.#options;
    if (statement.kind === 'select') return runSql<Row>(this.#trx, dialect, statement.text, statement.values);
    const meta = await tableMeta(this.#trx, dialect, statement.table);
    checkAgainstTable(statement, meta, dialect);
    return statement.kind === 'insert' ? this.#insert<Row>(statement, meta) : this.#updateOrDelete<Row>(statement, meta);
  }

  async #updateOrDelete<Row>(statement: UpdateOrDelete, meta: TableMeta): Promise<SqlResult<Row>> {
    const { dialect } = this.#options;
    const imaging = this.#options.undo !== undefined;
    const before = await readImagesWhere(this.#trx, dialect, meta, statement.table.alias, statement.where, {
      keysOnly: !imaging,
      ...(imaging ? { limit: this.#maxRows + 1 } : {}),
    });
    if (imaging && before.length > this.#maxRows) throw new FmtTooManyRowsError(meta.qualifiedName, before.length, this.#maxRows);
    if (!imaging) {
      this.#remember(meta, before, []);
      await this.#waitFree(meta, before);
    }

    const result = await runSql<Row>(this.#trx, dialect, statement.text, statement.values);
    try {
      // An UPDATE's count may be below the rows found (mysql2 without FOUND_ROWS counts changed rows only), never above.
      const changedTooMany = statement.kind === 'delete' ? result.affectedRows !== before.length : result.affectedRows > before.length;
      if (changedTooMany) {
        throw new FmtImageMismatchError(
          meta.qualifiedName,
          before.length,
          result.affectedRows,
          `the ${statement.kind.toUpperCase()} changed other rows than its WHERE selected just before`,
        );
      }
      if (!imaging || before.length === 0) return result;
      this.#remember(meta, before, []);
      const after =
        statement.kind === 'delete'
          ? []
          : await readImagesByKeys(
              this.#trx,
              dialect,
              meta,
              before.map((row) => keyBindings(meta, row)),
            );
      if (after.length !== (statement.kind === 'delete' ? 0 : before.length)) {
        throw new FmtImageMismatchError(meta.qualifiedName, before.length, after.length, 'the updated rows were not all found again by primary key');
      }
      this.#imaged.push({ table: meta.qualifiedName, before, after });
      return result;
    } catch (error) {
      return this.#breakWith(error);
    }
  }

  async #insert<Row>(statement: Insert, meta: TableMeta): Promise<SqlResult<Row>> {
    const { dialect } = this.#options;
    const imaging = this.#options.undo !== undefined;
    if (imaging && statement.rows.length > this.#maxRows) throw new FmtTooManyRowsError(meta.qualifiedName, statement.rows.length, this.#maxRows);
    const sources = dialect === 'mysql' ? insertKeySources(statement, meta, dialect) : null;
    const step = sources?.includes('generated') && statement.rows.length > 1 ? await this.#autoIncrementStep(statement) : 1;

    const ran = dialect === 'postgres' ? await this.#insertReturningKeys<Row>(statement, meta) : null;
    const result = ran?.result ?? (await runSql<Row>(this.#trx, dialect, statement.text, statement.values));
    try {
      if (result.affectedRows !== statement.rows.length) {
        throw new FmtImageMismatchError(meta.qualifiedName, statement.rows.length, result.affectedRows, 'the INSERT did not insert one row per VALUES row');
      }
      const keys = ran?.keys ?? this.#mysqlInsertedKeys(statement, meta, sources!, result.insertId, step);
      const after = await readImagesByKeys(this.#trx, dialect, meta, keys);
      if (after.length !== statement.rows.length) {
        throw new FmtImageMismatchError(meta.qualifiedName, statement.rows.length, after.length, 'the inserted rows were not all found again by primary key');
      }
      this.#remember(meta, [], after);
      if (imaging) this.#imaged.push({ table: meta.qualifiedName, before: [], after });
      // Under a global lock, a new row's key may be held by a global transaction that deleted it: checked before the commit.
      else await this.#waitFree(meta, after);
      return result;
    } catch (error) {
      return this.#breakWith(error);
    }
  }

  /**
   * PostgreSQL: the INSERT with RETURNING of its key columns as text (the
   * image form), appended to the statement's own RETURNING if any, and
   * taken out of the rows the caller sees.
   */
  async #insertReturningKeys<Row>(statement: Insert, meta: TableMeta): Promise<{ result: SqlResult<Row>; keys: unknown[][] }> {
    const aliases = meta.primaryKey.map((_, i) => `${KEY_ALIAS}${i}`);
    const returning = meta.primaryKey.map((name, i) => `${quoteIdentifier(name, 'postgres')}::text as ${aliases[i]}`).join(', ');
    const text = `${statement.text}\n${statement.returning ? ', ' : 'returning '}${returning}`;
    const result = await runSql<Record<string, unknown>>(this.#trx, 'postgres', text, statement.values);
    const keys = result.rows.map((row) =>
      meta.primaryKey.map((name, i) => {
        const value = row[aliases[i]!];
        const column = meta.columns.find((candidate) => candidate.name === name);
        if (typeof value === 'string' && column?.binary) return Buffer.from(value.slice(2), 'hex');
        return typeof value === 'string' && column?.timestampTz ? utcTimestamp(value) : value;
      }),
    );
    const rows = statement.returning
      ? result.rows.map((row) => {
          const visible = { ...row };
          for (const alias of aliases) delete visible[alias];
          return visible as Row;
        })
      : [];
    return { result: { ...result, rows }, keys };
  }

  /**
   * MySQL: the distance between the AUTO_INCREMENT ids of one multi-row
   * INSERT, read before it runs. InnoDB gives such an INSERT consecutive ids
   * (by auto_increment_increment) only in the "traditional" and
   * "consecutive" lock modes (innodb_autoinc_lock_mode 0 and 1, MariaDB's
   * default); in "interleaved" mode (2, MySQL 8's default) concurrent
   * INSERTs may interleave theirs, and a computed id could be another
   * transaction's row, which a rollback would then delete.
   * @throws FmtUnsupportedStatementError `insert-key-unknown` in interleaved mode (nothing ran)
   */
  async #autoIncrementStep(statement: Insert): Promise<number> {
    const { rows } = await runSql<{ step: unknown; mode: unknown }>(
      this.#trx,
      'mysql',
      'select @@session.auto_increment_increment as step, @@global.innodb_autoinc_lock_mode as mode',
      [],
    );
    if (Number(rows[0]?.mode) === 2) {
      throw new FmtUnsupportedStatementError(
        'insert-key-unknown',
        statement.text,
        'with innodb_autoinc_lock_mode = 2 the AUTO_INCREMENT ids of a multi-row INSERT may not be consecutive: give the keys, or insert one row per statement',
      );
    }
    return Number(rows[0]?.step ?? 1);
  }

  /** MySQL: each new row's key from the statement's values, or AUTO_INCREMENT ids from the insert id on, `step` apart. */
  #mysqlInsertedKeys(statement: Insert, meta: TableMeta, sources: ReadonlyArray<'values' | 'generated'>, insertId: number, step: number): unknown[][] {
    if (sources.includes('generated') && !(insertId > 0)) {
      throw new FmtImageMismatchError(meta.qualifiedName, statement.rows.length, 0, 'the INSERT reported no AUTO_INCREMENT id');
    }
    const columns = statement.columns ?? meta.columns.map((column) => column.name);
    return statement.rows.map((row, r) =>
      meta.primaryKey.map((pk, k) => {
        if (sources[k] === 'generated') return insertId + r * step;
        const value = row[columns.findIndex((column) => sameColumn(column, pk, 'mysql'))]!;
        return value.kind === 'binding' ? statement.values[value.index] : value.kind === 'literal' ? value.value : null;
      }),
    );
  }

  #remember(meta: TableMeta, before: RowImage[], after: RowImage[]): void {
    for (const row of [...before, ...after]) this.#keys.push(this.#rowKey(meta, row));
  }

  #rowKey(meta: TableMeta, row: RowImage): RowKey {
    return { resource: this.#options.resource, table: meta.qualifiedName, pk: keyOfImage(row, meta.primaryKey) };
  }

  async #waitFree(meta: TableMeta, rows: RowImage[]): Promise<void> {
    if (rows.length === 0) return;
    const keys = uniqueKeys(rows.map((row) => this.#rowKey(meta, row)));
    await this.#options.locks.waitFree(keys);
  }
}
