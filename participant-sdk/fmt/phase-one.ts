/**
 * Running business work with FMT: a branch's phase one (runFmtPhaseOne),
 * and local work outside any global transaction that must not write rows a
 * global transaction holds (runWithGlobalLock, Seata's @GlobalLock).
 */
import type { Knex } from 'knex';
import type { FmtDialect } from './dialect.ts';
import { FmtSession } from './fmt-session.ts';
import type { GlobalLocks, RowKey } from './global-locks.ts';
import { assertUndoBranch, DEFAULT_FMT_UNDO_TABLE } from './undo-log.ts';

/** A branch's phase one. */
export interface FmtPhaseOneOptions {
  /** The global transaction's id. */
  gid: string;
  /** The branch's id. */
  branchId: string;
  /** The participant's name for this database, in row keys. */
  resource: string;
  /** The undo table (default `dtx_fmt_undo`). */
  undoTable?: string;
  /** The coordinator's global locks, bound to this global transaction. */
  locks: GlobalLocks;
  dialect: FmtDialect;
  /** Rows one statement may image (default 1000). */
  maxRowsPerStatement?: number;
  /** Clock for the undo records' created_at, epoch ms (default Date.now). */
  now?: () => number;
}

/**
 * Run `work` on the caller's local transaction with its statements imaged,
 * write their undo records on the same transaction, then take the global
 * locks of every row written.
 *
 * Precondition: `trx` is the branch's local transaction (the barrier's, so
 * that a phase two of the branch is ordered after it), at READ COMMITTED or
 * stricter; the undo table exists (createFmtUndoTable).
 * Effect: nothing is committed here. The caller commits `trx` when this
 * resolves; when it rejects (work threw, a statement was refused or broke the
 * session, a global lock is held by another global transaction:
 * FmtLockConflictError from `locks.acquire`), the caller rolls back, and the
 * business rows and undo records go together.
 *
 * @returns work's value and the keys of the rows written (the global locks taken)
 * @throws BarrierInputError on an invalid gid, branch id or undo table name (before anything runs);
 *   whatever work, the session or `locks.acquire` throws
 */
export async function runFmtPhaseOne<T>(
  trx: Knex.Transaction,
  options: FmtPhaseOneOptions,
  work: (session: FmtSession) => Promise<T>,
): Promise<{ value: T; keys: RowKey[] }> {
  const undoTable = options.undoTable ?? DEFAULT_FMT_UNDO_TABLE;
  assertUndoBranch({ gid: options.gid, branchId: options.branchId, undoTable });
  const session = new FmtSession(trx, {
    dialect: options.dialect,
    resource: options.resource,
    locks: options.locks,
    ...(options.maxRowsPerStatement === undefined ? {} : { maxRowsPerStatement: options.maxRowsPerStatement }),
    undo: { gid: options.gid, branchId: options.branchId, undoTable, ...(options.now ? { now: options.now } : {}) },
  });
  const value = await work(session);
  const keys = await session.finish();
  // Taken last, while the local row locks are still held: no other global transaction can have written these rows since.
  if (keys.length > 0) await options.locks.acquire(keys);
  return { value, keys };
}

/** Local work under global locks. */
export interface GlobalLockOptions {
  resource: string;
  locks: GlobalLocks;
  dialect: FmtDialect;
}

/**
 * Run `work` in a plain local transaction (READ COMMITTED), outside any
 * global transaction, whose writes through the session first wait until no
 * global transaction holds their rows (an UPDATE's or DELETE's rows before
 * it runs, an INSERT's new rows after), and whose selectForUpdate waits the
 * same way. No image, no undo record: it is not part of a global transaction,
 * it only keeps out of their way (a global transaction's rollback would
 * otherwise find these writes and refuse as dirty).
 *
 * @returns work's value, once committed
 * @throws FmtLockConflictError when a row stays held past the locks' bounded wait
 *   (the transaction is rolled back); whatever work throws
 */
export async function runWithGlobalLock<T>(knex: Knex, options: GlobalLockOptions, work: (session: FmtSession) => Promise<T>): Promise<T> {
  return knex.transaction(
    async (trx) => {
      const session = new FmtSession(trx, { dialect: options.dialect, resource: options.resource, locks: options.locks });
      const value = await work(session);
      await session.finish();
      return value;
    },
    { isolationLevel: 'read committed' },
  );
}
