/**
 * Finishing the XA branches left prepared in the participant's database.
 *
 * A branch stays prepared, holding its locks, when the decision never
 * reached it: the participant died after its prepare, the database
 * restarted, or the coordinator cannot reach the participant. The
 * coordinator retries commit and rollback until they land; this is the
 * participant's side of the same job, for when it comes back first. Each
 * pass lists dtx's prepared xids (`XA RECOVER`), asks each one's outcome of
 * the coordinator it was prepared through (recorded with its barrier row;
 * recovery-decision.ts) and applies it through the same calls the
 * coordinator makes (xa-branch.ts), so the two never disagree:
 * - committed, or committing: XA COMMIT;
 * - rolled back, or rolling back: XA ROLLBACK (and the barrier row that
 *   refuses a late prepare);
 * - still preparing: left alone, the coordinator decides;
 * - no record of it on that coordinator, a coordinator the recovery was not
 *   given, or (a branch that recorded none) several coordinators knowing its
 *   gid: left prepared, and reported on every pass once in doubt longer than
 *   `inDoubtAfterMs` (the first two at warn level, the others at error
 *   level), for an operator to finish with Participant.finishXa.
 * A branch still preparing is reported too, at warn level, once in doubt
 * that long: its locks are still held.
 *
 * XA RECOVER lists the prepared xids of the whole server, every database's.
 * A pass keeps only the branches prepared through this participant's
 * database: those whose barrier row, written inside the XA branch by its
 * prepare, is there uncommitted (seen by a dirty read only). Another
 * participant's branch on the same server, whose transaction this
 * participant's coordinators may not even know, is left alone.
 */
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { rawQuery, type RawConnection } from '../barrier/mysql-dialect.ts';
import { BranchOngoingError } from '../errors.ts';
import { CoordinatorRefusedError } from '../initiator/errors.ts';
import type { DtxClient } from '../initiator/dtx-client.ts';
import { preparedXids } from './prepared-xids.ts';
import {
  coordinatorsToAsk,
  coordinatorUrls,
  decide,
  normaliseCoordinatorUrl,
  type XaAnswer,
  type XaGlobalStatus,
  type XaInDoubtReason,
} from './recovery-decision.ts';
import { commitXa, rollbackXa, type XaBranchOptions } from './xa-branch.ts';
import { gidOfHashedGtrid } from './xa-tables.ts';
import { describeXid, isHashedGtrid } from './xid.ts';

export type { XaGlobalStatus, XaInDoubtReason } from './recovery-decision.ts';

/**
 * A coordinator the recovery asks, named by its base URL: the URL its
 * initiators' DtxClient `coordinatorUrl` gives, which their prepares send as
 * `dtx-coordinator` and the participant records with each branch.
 */
export interface XaCoordinatorSource {
  /** The coordinator's base URL; matched after normalisation (case of scheme and host, default port, trailing slashes). */
  url: string;
  /** The status of transaction `gid` on that coordinator; null when it has no record of the gid. */
  status: (gid: string) => Promise<XaGlobalStatus | null>;
}

/**
 * One coordinator of {@link XaRecoveryOptions.coordinators}: a DtxClient of
 * it (its `coordinatorUrl`, asked with `GET /v1/transactions/{gid}`; its API
 * token needs read access), or a URL and a function of your own.
 */
export type XaCoordinator = DtxClient | XaCoordinatorSource;

/** Options of {@link Participant.recoverXa} and {@link Participant.startXaRecovery}. */
export interface XaRecoveryOptions {
  /**
   * Every coordinator this participant's XA branches are prepared through,
   * each named once. A branch is asked of its own coordinator only; one
   * prepared through a coordinator not in this list is left prepared and
   * reported. A branch that recorded none (prepared by an SDK version that
   * did not record it, or by a call without `dtx-coordinator`) is asked of
   * every one, and finished only if exactly one of them knows its gid.
   */
  coordinators: readonly XaCoordinator[];
  /** A branch in doubt longer than this is reported with its xid, on every pass. Default 60 000. */
  inDoubtAfterMs?: number;
}

/** A branch a pass left prepared. */
export interface XaInDoubtBranch {
  /** Its xid (`describeXid`): what XA COMMIT / XA ROLLBACK and the logs name it by. */
  xid: string;
  gid: string;
  branchId: string;
  /** Since the recovery first found it prepared. */
  inDoubtForMs: number;
  /** Why it is still prepared. */
  reason: XaInDoubtReason;
  /** The coordinator it was prepared through (normalised), or null when it recorded none. */
  coordinator: string | null;
}

/** What one pass did with this participant's prepared branches, by xid (`describeXid`). */
export interface XaRecoveryPass {
  committed: string[];
  rolledBack: string[];
  /** Left prepared, and why. */
  inDoubt: XaInDoubtBranch[];
  /** Branches whose outcome could not be learned or applied this time (logged); the next pass tries again. */
  failed: number;
}

/** A running recovery; `stop()` ends it (a pass in flight finishes). */
export interface XaRecoveryHandle {
  stop(): void;
}

/** What the participant hands the recovery: its tables, clock and logger, and the in-doubt times it keeps. */
export interface XaRecoverySetting {
  table: string;
  gidTable: string;
  lockWaitSeconds: number;
  now: () => number;
  logger: Logger;
  /** When each xid was first found in doubt, kept across passes. */
  inDoubtSince: Map<string, number>;
}

/**
 * One pass; see the module comment.
 *
 * Precondition: the barrier table has its `coordinator` column (createBarrierTable).
 * Effect: commits or rolls back the branches whose outcome their coordinator gives; logs the others.
 *
 * @throws ParticipantConfigError when `coordinators` is empty or names one coordinator twice;
 *   the database's error when XA RECOVER fails
 */
export async function recoverXa(knex: Knex, options: XaRecoverySetting & XaRecoveryOptions): Promise<XaRecoveryPass> {
  const sources = coordinatorIndex(options.coordinators);
  const known = [...sources.keys()];
  const inDoubtAfterMs = options.inDoubtAfterMs ?? 60_000;
  const pass: XaRecoveryPass = { committed: [], rolledBack: [], inDoubt: [], failed: 0 };
  const prepared = await preparedXids(knex);
  const listed = new Set(prepared.map(describeXid));
  // Forget the branches finished since the last pass, by anyone.
  for (const xid of options.inDoubtSince.keys()) if (!listed.has(xid)) options.inDoubtSince.delete(xid);
  for (const xid of prepared) {
    const name = describeXid(xid);
    let log = options.logger.child({ xid: name, branchId: xid.bqual });
    try {
      // A hashed gtrid missing from this participant's table is another participant's.
      const gid = isHashedGtrid(xid.gtrid) ? await gidOfHashedGtrid(knex, options.gidTable, xid.gtrid) : xid.gtrid;
      const row = gid === null ? null : await preparedRow(knex, options.table, gid, xid.bqual);
      if (gid === null || row === null) {
        options.inDoubtSince.delete(name);
        continue;
      }
      log = log.child({ gid });
      const since = options.inDoubtSince.get(name) ?? options.now();
      options.inDoubtSince.set(name, since);
      const recorded = row.coordinator === null ? null : normaliseCoordinatorUrl(row.coordinator);
      const answers: XaAnswer[] = [];
      for (const url of coordinatorsToAsk(row.coordinator, known)) answers.push({ coordinator: url, status: await sources.get(url)!(gid) });
      const step = decide(answers);
      const branch: XaBranchOptions = {
        gid,
        branchId: xid.bqual,
        table: options.table,
        gidTable: options.gidTable,
        now: options.now,
        lockWaitSeconds: options.lockWaitSeconds,
      };
      if (step.kind === 'commit') {
        await commitXa(knex, branch);
        pass.committed.push(name);
        log.info({ coordinator: step.coordinator }, 'XA branch left prepared: committed by recovery');
      } else if (step.kind === 'rollback') {
        await rollbackXa(knex, branch);
        pass.rolledBack.push(name);
        log.info({ coordinator: step.coordinator }, 'XA branch left prepared: rolled back by recovery');
      } else {
        const inDoubtForMs = options.now() - since;
        pass.inDoubt.push({ xid: name, gid, branchId: xid.bqual, inDoubtForMs, reason: step.reason, coordinator: recorded });
        if (inDoubtForMs >= inDoubtAfterMs) report(log, step.reason, { gid, branchId: xid.bqual, coordinator: recorded, asked: answers, inDoubtForMs });
      }
    } catch (error) {
      // A prepare still finishing (the xid attached to its session) is no failure: it is looked at next time.
      if (!(error instanceof BranchOngoingError)) {
        pass.failed++;
        log.warn({ err: error }, 'XA recovery could not finish this branch; next pass tries again');
      }
    }
  }
  return pass;
}

/**
 * recoverXa now and every `intervalMs`, one pass at a time.
 *
 * @throws ParticipantConfigError at once when `coordinators` is empty or names one coordinator twice
 */
export function startXaRecovery(knex: Knex, options: XaRecoverySetting & XaRecoveryOptions & { intervalMs: number }): XaRecoveryHandle {
  coordinatorIndex(options.coordinators);
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const run = async () => {
    try {
      await recoverXa(knex, options);
    } catch (error) {
      options.logger.warn({ err: error }, 'XA recovery pass failed (database unreachable?); next pass tries again');
    }
    if (!stopped) timer = setTimeout(() => void run(), options.intervalMs).unref();
  };
  void run();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/** What a branch left prepared past `inDoubtAfterMs` tells the operator, by why it is left. */
function report(
  log: Logger,
  reason: XaInDoubtReason,
  branch: { gid: string; branchId: string; coordinator: string | null; asked: readonly XaAnswer[]; inDoubtForMs: number },
): void {
  const { gid, branchId, coordinator, inDoubtForMs } = branch;
  const asked = branch.asked.map((answer) => answer.coordinator);
  const finish = `participant.finishXa({ gid: '${gid}', branchId: '${branchId}', outcome: 'commit' | 'rollback' })`;
  switch (reason) {
    case 'undecided':
      log.warn(
        { coordinator, inDoubtForMs },
        `XA branch in doubt, holding its locks: needs attention (its transaction is still preparing; once decided, ${finish} if the decision cannot reach it)`,
      );
      return;
    case 'coordinator-not-asked':
      log.warn(
        { coordinator, inDoubtForMs },
        `XA branch prepared through a coordinator this recovery does not ask: left prepared, holding its locks (give the recovery a client of ${coordinator}, or ${finish} once its outcome is known)`,
      );
      return;
    case 'unknown-to-coordinator': {
      const who =
        coordinator === null
          ? 'no coordinator asked has a record of its transaction'
          : 'the coordinator it was prepared through has no record of its transaction';
      log.error(
        { coordinator, asked, inDoubtForMs },
        `XA branch prepared, but ${who}: left prepared, holding its locks. A coordinator registers every branch before its prepare, so its log was restored or replaced, or it is the wrong one; the transaction may have committed. Learn its outcome (its other branches, the initiator's records, the log's backups), then ${finish}`,
      );
      return;
    }
    case 'ambiguous':
      log.error(
        { coordinator, asked, inDoubtForMs },
        `XA branch prepared with no recorded coordinator, and more than one coordinator knows its gid: left prepared, holding its locks. Learn which one prepared it, then ${finish}`,
      );
      return;
  }
}

/**
 * The recovery's coordinators by normalised URL, each as a status function.
 *
 * @throws ParticipantConfigError when there are none, or two name the same coordinator
 */
function coordinatorIndex(coordinators: readonly XaCoordinator[]): Map<string, (gid: string) => Promise<XaGlobalStatus | null>> {
  const urls = coordinatorUrls(coordinators.map((coordinator) => ('status' in coordinator ? coordinator.url : coordinator.coordinatorUrl)));
  return new Map(coordinators.map((coordinator, i) => [urls[i]!, 'status' in coordinator ? coordinator.status : statusOn(coordinator)]));
}

/** A DtxClient's coordinator as a status function: `GET /v1/transactions/{gid}`, 404 NOT_FOUND as null. */
function statusOn(client: DtxClient): (gid: string) => Promise<XaGlobalStatus | null> {
  return async (gid) => {
    try {
      return (await client.coordinator.query(gid)).transaction.status as unknown as XaGlobalStatus;
    } catch (error) {
      if (error instanceof CoordinatorRefusedError && error.code === 'NOT_FOUND') return null;
      throw error;
    }
  };
}

/**
 * The branch's prepare row, if this participant prepared it: its barrier
 * row (op `prepare`), written inside the XA branch, is in this
 * participant's table, uncommitted, with the coordinator it recorded. Only a
 * dirty read sees it; SET TRANSACTION makes the next statement, and only it,
 * read uncommitted.
 */
async function preparedRow(knex: Knex, table: string, gid: string, branchId: string): Promise<{ coordinator: string | null } | null> {
  const connection = (await knex.client.acquireConnection()) as RawConnection;
  try {
    await rawQuery(connection, 'SET TRANSACTION ISOLATION LEVEL READ UNCOMMITTED', []);
    const rows = (await rawQuery(connection, 'select origin_op, coordinator from ?? where gid = ? and branch_id = ? and op = ?', [
      table,
      gid,
      branchId,
      'prepare',
    ])) as {
      origin_op?: unknown;
      coordinator?: unknown;
    }[];
    const row = rows.find((found) => found.origin_op === 'prepare');
    return row === undefined ? null : { coordinator: typeof row.coordinator === 'string' ? row.coordinator : null };
  } catch (error) {
    // The isolation level set for the next statement must not reach the next user of the connection.
    connection.destroy();
    throw error;
  } finally {
    await knex.client.releaseConnection(connection);
  }
}
