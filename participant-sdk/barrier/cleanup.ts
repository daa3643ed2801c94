/**
 * Deleting the barrier rows, and the XA gid table's rows, that no call can
 * still need.
 *
 * A row may go once no call the protocol can still send needs it; the
 * retention (`olderThanMs`) says how late a call can still come. A branch's
 * rows always go together (never half a branch: a lone row left behind
 * would answer a late call wrongly). By kind of branch:
 * - Finished here, by its finishing row: a confirm, cancel or compensate
 *   row; a message receiver's deliver row; a message sender's check row
 *   (written by its commit or by the check-back, it has decided the
 *   message); an XA branch's rollback row (op `prepare`, origin
 *   `rollback`); an XA branch's commit row (below). Its rows go once that
 *   row is older than the retention: the retention counts from the finish.
 * - An XA branch committed here: XA COMMIT writes no row (the commit is kept
 *   to one round trip); its prepare row, committed with it, says it
 *   committed, but not when. The cleanup writes the branch a `commit` row
 *   (origin `commit`) the first time it finds it committed with its prepare
 *   row older than the retention (looking at younger ones would read the
 *   whole table on every run), and the rows go one retention after that. So
 *   they stay between one and two retentions after the prepare, and at least
 *   one retention after the commit.
 * - An XA branch still prepared (in doubt, or being prepared): its prepare
 *   row is uncommitted, which none of these reads sees and no delete here
 *   names. Never deleted, whatever its age.
 * - The XA gid table's rows go with the barrier rows of their gid, and never
 *   while a branch of it is prepared (cleanupXaGids, xa-tables.ts).
 * - Not known to be over here: a try row whose confirm or cancel has not
 *   come, a saga step's action row with no compensate (every step of a saga
 *   that succeeded: nothing is sent to it after its action). Kept, unless
 *   `unfinishedOlderThanMs` is set: see that option for what is then lost.
 *
 * Choose the retention longer than any delivery can be late: the
 * coordinator's retry horizon plus in-flight network time. A confirm
 * delivered after its rows were deleted finds no try and is refused
 * (TRY_NOT_FOUND); a cancel is answered as a null compensation; a message
 * delivered again runs its receiver again; an XA commit is refused
 * (PREPARE_NOT_FOUND) and a repeated XA prepare runs its work again. For a
 * message sender, also longer than a message can stay prepared (its
 * check-back may come that late): a check-back that finds no row answers
 * "never committed", and the message of a committed transaction would be
 * dropped.
 */
import type { Knex } from 'knex';
import type { BranchOp } from '@dtx/protocol';
import { ParticipantConfigError } from '../errors.ts';
import { cleanupXaGids } from '../xa/xa-tables.ts';
import type { BarrierDialect } from './dialect.ts';
import { barrierDialectOf, rawSql } from './dialect-of.ts';
import { assertTableName, DEFAULT_BARRIER_TABLE } from './input.ts';

/**
 * The rows that finish a branch here, whatever wrote them. A message's
 * deliver row is its receiver branch's only row, finished once written; a
 * sender's check row (written by its commit or by the check-back) has
 * decided the message; an XA branch's commit row is the cleanup's own (see
 * the module comment). An XA rollback row is the `prepare` row with origin
 * `rollback`, matched apart.
 */
const FINISHING_OPS: readonly BranchOp[] = ['confirm', 'cancel', 'compensate', 'deliver', 'check', 'commit'];

/** The first-phase rows whose phase two may never be heard of here. */
const FORWARD_OPS: readonly BranchOp[] = ['try', 'action'];

/** What {@link cleanupBarrier} deletes. */
export interface CleanupOptions {
  /** Barrier table name; defaults to `dtx_barrier`. */
  table?: string;
  /** Rows of branches finished longer ago than this are deleted. */
  olderThanMs: number;
  /**
   * Off unless set. The rows of branches this participant cannot know are
   * over, a try row with no confirm or cancel and a saga step's action row
   * with no compensate, are deleted once older than this (counted from the
   * try or action); unset, they are kept for ever. At least `olderThanMs`.
   * Choose it longer than any transaction can stay open (its deadline) plus
   * the coordinator's retry horizon. What a call arriving later than that
   * does: a cancel or compensate finds no row and is answered as a null
   * compensation, its handler not run, so the reservation or the action's
   * effect is never undone; a confirm is refused `TRY_NOT_FOUND` (the
   * coordinator keeps retrying and flags the transaction); a try or action
   * sent again runs again.
   */
  unfinishedOlderThanMs?: number;
  /** An XA participant's gid table (`dtx_xa_gid`), whose rows go with their branches' rows. Unset: not touched. */
  xaGidTable?: string;
  /** Clock in epoch milliseconds (the barrier rows' `created_at` scale). */
  now: () => number;
  /** Branches per statement; bounds each statement's locks. Default 1000. */
  batchSize?: number;
}

/**
 * Delete the rows no call can still need (see the module comment): those of
 * branches finished longer ago than the retention, the gid rows that go with
 * them, and, when `unfinishedOlderThanMs` is set, those of unfinished
 * branches older than it.
 *
 * Precondition: the barrier table (and `xaGidTable`, when given) exists.
 * Effect: a finished branch's rows are deleted in one statement; an
 * unfinished branch's try or action row alone (its only row when it was
 * found: a phase-two row written meanwhile stays, and goes as a finished
 * branch's). Writes the commit row of each committed XA branch whose prepare
 * row is older than the retention. Each batch is its own short autocommit
 * statement.
 *
 * @param knex - the participant's database
 * @param options - table, retentions and batch size
 * @returns the number of rows deleted, both tables together
 * @throws RangeError on a non-positive batchSize, a negative olderThanMs or an
 *   unfinishedOlderThanMs below it; BarrierInputError on an invalid table name;
 *   ParticipantConfigError when `knex` is on another client than mysql2 or pg,
 *   or when `xaGidTable` is given on PostgreSQL (XA runs on MySQL/MariaDB only)
 */
export async function cleanupBarrier(knex: Knex, options: CleanupOptions): Promise<number> {
  const dialect = barrierDialectOf(knex);
  if (options.xaGidTable !== undefined && !dialect.supportsXa) {
    throw new ParticipantConfigError('xaGidTable', 'XA resources, and their gid table, run on MySQL or MariaDB only');
  }
  const table = options.table ?? DEFAULT_BARRIER_TABLE;
  assertTableName(table);
  if (options.xaGidTable !== undefined) assertTableName(options.xaGidTable);
  const batchSize = options.batchSize ?? 1000;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError('batchSize must be a positive integer');
  if (!(options.olderThanMs >= 0)) throw new RangeError('olderThanMs must be >= 0');
  const unfinished = options.unfinishedOlderThanMs;
  if (unfinished !== undefined && !(unfinished >= options.olderThanMs)) throw new RangeError('unfinishedOlderThanMs must be >= olderThanMs');
  const now = options.now();
  const cutoff = now - options.olderThanMs;

  // XA branches (MySQL/MariaDB only) are the only ones whose finish writes no row.
  if (dialect.supportsXa) await stampCommittedXa(dialect, knex, table, cutoff, now, batchSize);
  let deleted = await deleteFinished(knex, table, cutoff, batchSize);
  if (unfinished !== undefined) deleted += await deleteUnfinished(dialect, knex, table, now - unfinished, batchSize);
  if (options.xaGidTable !== undefined) deleted += await cleanupXaGids(knex, { gidTable: options.xaGidTable, barrierTable: table, cutoff, batchSize });
  return deleted;
}

/**
 * Write a `commit` row, dated `now`, for each committed XA branch (its
 * prepare row committed, origin `prepare`) whose prepare row is older than
 * `cutoff` and which has none. A consistent read finds them: a branch still
 * prepared is not seen, and not waited for.
 */
async function stampCommittedXa(dialect: BarrierDialect, knex: Knex, table: string, cutoff: number, now: number, batchSize: number): Promise<void> {
  for (;;) {
    const { rows: branches } = await rawSql<{ gid: string; branch_id: string }>(
      dialect,
      knex,
      `select p.gid, p.branch_id from ?? p
        where p.op = 'prepare' and p.origin_op = 'prepare' and p.created_at < ?
          and not exists (select 1 from ?? c where c.gid = p.gid and c.branch_id = p.branch_id and c.op = 'commit')
        limit ?`,
      [table, cutoff, table, batchSize],
    );
    if (branches.length === 0) return;
    const { affectedRows } = await rawSql(
      dialect,
      knex,
      `insert ignore into ?? (gid, branch_id, op, seq, origin_op, created_at) values ${branches.map(() => "(?, ?, 'commit', 1, 'commit', ?)").join(', ')}`,
      [table, ...branches.flatMap((b) => [b.gid, b.branch_id, now])],
    );
    // Nothing written (another cleanup wrote them all meanwhile): the next read would find the same ones again.
    if (branches.length < batchSize || affectedRows === 0) return;
  }
}

/** Delete every row of each branch whose finishing row is older than `cutoff`; returns rows deleted. */
async function deleteFinished(knex: Knex, table: string, cutoff: number, batchSize: number): Promise<number> {
  let deleted = 0;
  for (;;) {
    const branches: Array<{ gid: string; branch_id: string }> = await knex(table)
      .distinct('gid', 'branch_id')
      .where('created_at', '<', cutoff)
      .andWhere((q) => q.whereIn('op', FINISHING_OPS).orWhere((rollback) => rollback.where('op', 'prepare').andWhere('origin_op', 'rollback')))
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

/**
 * Delete the try or action row of each branch that has no other row, once
 * older than `cutoff`; returns rows deleted. Only that row is named: a
 * phase-two row written since the branch was read stays (a finished
 * branch's, deleted after the retention).
 */
async function deleteUnfinished(dialect: BarrierDialect, knex: Knex, table: string, cutoff: number, batchSize: number): Promise<number> {
  let deleted = 0;
  for (;;) {
    const { rows } = await rawSql<{ gid: string; branch_id: string; op: string }>(
      dialect,
      knex,
      `select t.gid, t.branch_id, t.op from ?? t
        where t.op in (?, ?) and t.created_at < ?
          and not exists (select 1 from ?? f where f.gid = t.gid and f.branch_id = t.branch_id and f.op not in (?, ?))
        limit ?`,
      [table, ...FORWARD_OPS, cutoff, table, ...FORWARD_OPS, batchSize],
    );
    if (rows.length === 0) break;
    const count = await knex(table)
      .where('created_at', '<', cutoff)
      .andWhere((q) => {
        for (const row of rows) q.orWhere({ gid: row.gid, branch_id: row.branch_id, op: row.op });
      })
      .del();
    deleted += count;
    // Nothing deleted: the rows went meanwhile (another cleanup); reading again would find the same ones.
    if (rows.length < batchSize || count === 0) break;
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
