/**
 * Deleting barrier rows that can no longer matter.
 *
 * A branch is finished for this participant once its phase-two row exists
 * (confirm, cancel, compensate, a message's deliver, a message sender's
 * check). Its rows are kept for a retention period because they still answer
 * late duplicates and block late tries; after it, they are deleted. Branches with only a try/action row are never deleted:
 * their phase two may still come and must find the row.
 *
 * Choose the retention longer than any delivery can be late: the
 * coordinator's retry horizon plus in-flight network time. A confirm
 * delivered after its rows were deleted finds no try and is refused
 * (TRY_NOT_FOUND); a cancel is answered as a null compensation; a message
 * delivered again runs its receiver again. For a message sender, also longer
 * than a message can stay prepared (its check-back may come that late): a
 * check-back that finds no row answers "never committed", and the message of
 * a committed transaction would be dropped.
 */
import type { Knex } from 'knex';
import type { BranchOp } from '@dtx/protocol';
import { assertTableName, DEFAULT_BARRIER_TABLE } from './input.ts';

/**
 * The rows that finish a branch here. A message's deliver row is its
 * receiver branch's only row, finished once written; a sender's check row
 * (written by its commit or by the check-back) has decided the message.
 */
const PHASE_TWO_OPS: readonly BranchOp[] = ['confirm', 'cancel', 'compensate', 'deliver', 'check'];

/** What {@link cleanupBarrier} deletes. */
export interface CleanupOptions {
  /** Barrier table name; defaults to `dtx_barrier`. */
  table?: string;
  /** Rows of branches whose phase-two row is older than this are deleted. */
  olderThanMs: number;
  /** Clock in epoch milliseconds (the barrier rows' `created_at` scale). */
  now: () => number;
  /** Branches per DELETE statement; bounds each statement's locks. Default 1000. */
  batchSize?: number;
}

/**
 * Delete the rows of finished branches whose phase-two row is older than the retention.
 *
 * Precondition: the barrier table exists.
 * Effect: for each such (gid, branch_id), all its rows are deleted in one
 * statement (never half a branch: a lone try row left behind would look
 * unfinished forever). Each batch is its own short autocommit statement.
 *
 * @param knex - the participant's database
 * @param options - table, retention and batch size
 * @returns the number of rows deleted
 * @throws RangeError on a non-positive batchSize or a negative olderThanMs;
 *   BarrierInputError on an invalid table name
 */
export async function cleanupBarrier(knex: Knex, options: CleanupOptions): Promise<number> {
  const table = options.table ?? DEFAULT_BARRIER_TABLE;
  assertTableName(table);
  const batchSize = options.batchSize ?? 1000;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError('batchSize must be a positive integer');
  if (!(options.olderThanMs >= 0)) throw new RangeError('olderThanMs must be >= 0');
  const cutoff = options.now() - options.olderThanMs;

  let deleted = 0;
  for (;;) {
    const branches: Array<{ gid: string; branch_id: string }> = await knex(table)
      .distinct('gid', 'branch_id')
      .whereIn('op', PHASE_TWO_OPS)
      .andWhere('created_at', '<', cutoff)
      .limit(batchSize);
    if (branches.length === 0) break;
    // OR of (gid = ? and branch_id = ?) rather than a row-constructor IN:
    // every MySQL/MariaDB version turns it into ranges on the unique key.
    deleted += await knex(table)
      .where((q) => {
        for (const b of branches) q.orWhere({ gid: b.gid, branch_id: b.branch_id });
      })
      .del();
    if (branches.length < batchSize) break;
  }
  return deleted;
}

/** A recurring {@link cleanupBarrier}: its options plus the interval and callbacks. */
export interface BarrierCleanupSchedule extends CleanupOptions {
  /** Pause between the end of one run and the start of the next. */
  intervalMs: number;
  /** Told about each failed run; the schedule keeps going. */
  onError?: (error: unknown) => void;
  /** Told about each successful run. */
  onRun?: (deleted: number) => void;
}

/** A running cleanup schedule (startBarrierCleanup, Participant.startCleanup). */
export interface BarrierCleanupHandle {
  /** Stop the schedule; resolves once a run in progress has ended. */
  stop(): Promise<void>;
}

/**
 * Run cleanupBarrier now and then every `intervalMs` after the previous run
 * ended (runs never overlap). The timer is unref'd: it does not keep the
 * process alive.
 *
 * @param knex - the participant's database
 * @param schedule - what to delete, how often, and whom to tell
 * @returns a handle whose `stop()` ends the schedule
 * @throws RangeError when intervalMs is not positive
 */
export function startBarrierCleanup(knex: Knex, schedule: BarrierCleanupSchedule): BarrierCleanupHandle {
  if (!(schedule.intervalMs > 0)) throw new RangeError('intervalMs must be > 0');
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  const tick = () => {
    running = cleanupBarrier(knex, schedule)
      .then(
        (count) => schedule.onRun?.(count),
        (error: unknown) => schedule.onError?.(error),
      )
      // A throwing callback must not become an unhandled rejection nor stop the schedule.
      .catch(() => undefined)
      .finally(() => {
        if (!stopped) {
          timer = setTimeout(tick, schedule.intervalMs);
          timer.unref();
        }
      });
  };
  tick();

  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
