/**
 * A branch's phase two commit: its changes stay, its undo records go.
 * Deleting them is all there is, so it can also be done later and in
 * batches (FmtUndoJanitor): a record left a while longer costs only space.
 */
import type { FmtDialect, Queryable } from './dialect.ts';
import { dialectOf, runSql, quoteQualified } from './dialect.ts';
import { assertUndoBranch, DEFAULT_FMT_UNDO_TABLE, deleteUndoRecords } from './undo-log.ts';

/** Which branch's records, and where. */
export interface FmtCommitOptions {
  gid: string;
  branchId: string;
  /** The undo table (default `dtx_fmt_undo`). */
  undoTable?: string;
  /** Default: the knex's (mysql2: `mysql`, pg: `postgres`). */
  dialect?: FmtDialect;
}

/**
 * Delete the branch's undo records: one statement, idempotent (none left is no error).
 * @returns how many were deleted
 * @throws BarrierInputError on an invalid gid, branch id or table name; ParticipantConfigError when no dialect is given
 *   and `q` is on another client than mysql2 or pg
 */
export async function commitFmtBranch(q: Queryable, options: FmtCommitOptions): Promise<number> {
  const branch = { gid: options.gid, branchId: options.branchId, undoTable: options.undoTable ?? DEFAULT_FMT_UNDO_TABLE };
  assertUndoBranch(branch);
  return deleteUndoRecords(q, dialectOf(q, options.dialect), branch);
}

/** How a janitor batches. */
export interface FmtUndoJanitorOptions {
  /** The undo table (default `dtx_fmt_undo`). */
  undoTable?: string;
  /** Default: the knex's. */
  dialect?: FmtDialect;
  /** Flush this long after the first entry waiting (default 1000 ms). */
  flushIntervalMs?: number;
  /** Flush at once when this many entries wait; also the most one DELETE names (default 200). */
  maxBatch?: number;
  /** Told about a failed flush; its entries are kept for the next one. */
  onError?: (error: unknown) => void;
}

/**
 * Commits undo records in batches: `enqueue` a committed branch, and its
 * records are deleted by the next flush, one DELETE for up to `maxBatch`
 * branches, every `flushIntervalMs` or as soon as `maxBatch` wait. A failed
 * flush is reported to `onError` and its entries are tried again with the
 * next one. The timer is unref'd: it does not keep the process alive.
 */
export class FmtUndoJanitor {
  readonly #q: Queryable;
  readonly #table: string;
  readonly #dialect: FmtDialect;
  readonly #intervalMs: number;
  readonly #maxBatch: number;
  readonly #onError: (error: unknown) => void;
  #pending: Array<{ gid: string; branchId: string }> = [];
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();
  #closed = false;

  /**
   * @throws RangeError on a non-positive interval or batch; BarrierInputError on an invalid table name
   */
  constructor(q: Queryable, options: FmtUndoJanitorOptions) {
    this.#q = q;
    this.#table = options.undoTable ?? DEFAULT_FMT_UNDO_TABLE;
    this.#dialect = dialectOf(q, options.dialect);
    this.#intervalMs = options.flushIntervalMs ?? 1000;
    this.#maxBatch = options.maxBatch ?? 200;
    this.#onError = options.onError ?? (() => undefined);
    if (!(this.#intervalMs > 0)) throw new RangeError('flushIntervalMs must be > 0');
    if (!Number.isInteger(this.#maxBatch) || this.#maxBatch < 1) throw new RangeError('maxBatch must be a positive integer');
    assertUndoBranch({ gid: 'g', branchId: 'b', undoTable: this.#table });
  }

  /** Entries waiting for a flush. */
  get pending(): number {
    return this.#pending.length;
  }

  /**
   * Queue a committed branch's records for deletion.
   * @throws BarrierInputError on an invalid gid or branch id; Error once closed
   */
  enqueue(gid: string, branchId: string): void {
    if (this.#closed) throw new Error('the FMT undo janitor is closed');
    assertUndoBranch({ gid, branchId, undoTable: this.#table });
    this.#pending.push({ gid, branchId });
    if (this.#pending.length >= this.#maxBatch) void this.flush();
    else this.#schedule();
  }

  /** Delete what waits now (after a flush in progress). Never rejects: failures go to onError. */
  flush(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#flushing = this.#flushing.then(() => this.#flushOnce());
    return this.#flushing;
  }

  /** Stop the timer and flush what waits; entries a failed last flush kept stay unflushed (reported to onError). */
  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
  }

  async #flushOnce(): Promise<void> {
    while (this.#pending.length > 0) {
      const batch = this.#pending.slice(0, this.#maxBatch);
      try {
        // OR of (gid, branch_id) pairs: each is a range of the primary key on every MySQL/MariaDB version.
        await runSql(
          this.#q,
          this.#dialect,
          `delete from ${quoteQualified(this.#table, this.#dialect)} where ${batch.map(() => '(gid = ? and branch_id = ?)').join(' or ')}`,
          batch.flatMap((entry) => [entry.gid, entry.branchId]),
        );
        this.#pending = this.#pending.slice(batch.length);
      } catch (error) {
        try {
          this.#onError(error);
        } catch {
          // A throwing callback must not lose the entries nor stop the janitor.
        }
        if (!this.#closed) this.#schedule();
        return;
      }
    }
  }

  #schedule(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setTimeout(() => void this.flush(), this.#intervalMs);
    this.#timer.unref();
  }
}

/**
 * Delete the undo records of every branch committed here whose records are
 * still there: a commit's deletion waits in the janitor's memory, so a
 * process that died before the flush leaves them behind. A branch is
 * committed here when its barrier has the commit's row.
 *
 * Run at start (Participant.migrate) and before the barrier cleanup deletes
 * old barrier rows (Participant.cleanup), which would otherwise leave such
 * records with no sign of their commit.
 *
 * @returns how many records were deleted
 */
export async function sweepCommittedUndo(q: Queryable, options: { undoTable: string; barrierTable: string; dialect: FmtDialect }): Promise<number> {
  const { dialect } = options;
  const undo = quoteQualified(options.undoTable, dialect);
  const barrier = quoteQualified(options.barrierTable, dialect);
  const { affectedRows } = await runSql(
    q,
    dialect,
    `delete from ${undo} where exists (select 1 from ${barrier} b where b.gid = ${undo}.gid and b.branch_id = ${undo}.branch_id and b.op = 'commit')`,
    [],
  );
  return affectedRows;
}
