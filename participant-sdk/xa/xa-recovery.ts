/**
 * Finishing the XA branches left prepared in the participant's database.
 *
 * A branch stays prepared, holding its locks, when the decision never
 * reached it: the participant died after its prepare, the database
 * restarted, or the coordinator cannot reach the participant. The
 * coordinator retries commit and rollback until they land; this is the
 * participant's side of the same job, for when it comes back first. Each
 * pass lists dtx's prepared xids (`XA RECOVER`), asks the coordinator the
 * outcome of each one's transaction and applies it through the same calls
 * the coordinator makes (xa-branch.ts), so the two never disagree:
 * - committed, or committing: XA COMMIT;
 * - rolled back, or rolling back: XA ROLLBACK (and the barrier row that
 *   refuses a late prepare);
 * - still preparing: left alone, the coordinator decides;
 * - unknown to the coordinator (a transaction it never logged, a log
 *   restored from a backup): rolled back once it has been in doubt longer
 *   than `unknownRollbackAfterMs` — the coordinator registers a branch
 *   before its prepare, so it cannot commit what it does not know.
 * A branch in doubt longer than `inDoubtAfterMs` is logged at warn level
 * with its xid on every pass, for an operator: its locks are still held.
 *
 * XA RECOVER lists the prepared xids of the whole server, every database's.
 * A pass keeps only the branches prepared through this participant's
 * database: those whose barrier row, written inside the XA branch by its
 * prepare, is there uncommitted (seen by a dirty read only). Another
 * participant's branch on the same server, whose transaction this
 * participant's coordinator may not even know, is left alone.
 */
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { rawQuery, type RawConnection } from '../barrier/barrier.ts';
import { BranchOngoingError } from '../errors.ts';
import { CoordinatorRefusedError } from '../initiator/errors.ts';
import type { DtxClient } from '../initiator/dtx-client.ts';
import { commitXa, rollbackXa, type XaBranchOptions } from './xa-branch.ts';
import { gidOfHashedGtrid } from './xa-tables.ts';
import { describeXid, isHashedGtrid, parseRecoveredXid, type RecoveredXidRow, type Xid } from './xid.ts';

/** A transaction's status on the coordinator, in XA's words; null when the coordinator does not know the gid. */
export type XaGlobalStatus = 'preparing' | 'committing' | 'rolling-back' | 'committed' | 'rolled-back';

/** How the recovery learns a transaction's outcome: a DtxClient (its coordinator's `GET /v1/transactions/{gid}`), or a function of your own. */
export type XaOutcomeSource = DtxClient | ((gid: string) => Promise<XaGlobalStatus | null>);

/** Options of {@link Participant.recoverXa} and {@link Participant.startXaRecovery}. */
export interface XaRecoveryOptions {
  /** Where outcomes come from: a DtxClient of the coordinator (its API token needs read access), or a function. */
  coordinator: XaOutcomeSource;
  /** A branch in doubt longer than this is logged at warn level with its xid, on every pass. Default 60 000. */
  inDoubtAfterMs?: number;
  /** A branch of a transaction the coordinator does not know is rolled back once in doubt this long. Default 600 000. */
  unknownRollbackAfterMs?: number;
}

/** What one pass did with this participant's prepared branches, by xid (`describeXid`). */
export interface XaRecoveryPass {
  committed: string[];
  rolledBack: string[];
  /** Left prepared: undecided, unknown for less than the bound, or still being prepared. */
  inDoubt: { xid: string; gid: string; branchId: string; inDoubtForMs: number }[];
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

/** One pass; see the module comment. */
export async function recoverXa(knex: Knex, options: XaRecoverySetting & XaRecoveryOptions): Promise<XaRecoveryPass> {
  const outcomeOf = outcomeSource(options.coordinator);
  const inDoubtAfterMs = options.inDoubtAfterMs ?? 60_000;
  const unknownRollbackAfterMs = options.unknownRollbackAfterMs ?? 600_000;
  const pass: XaRecoveryPass = { committed: [], rolledBack: [], inDoubt: [], failed: 0 };
  const prepared = await preparedXids(knex);
  const listed = new Set(prepared.map(describeXid));
  // Forget the branches finished since the last pass, by anyone.
  for (const xid of options.inDoubtSince.keys()) if (!listed.has(xid)) options.inDoubtSince.delete(xid);
  for (const xid of prepared) {
    const name = describeXid(xid);
    const log = options.logger.child({ xid: name, branchId: xid.bqual });
    try {
      // A hashed gtrid missing from this participant's table is another participant's.
      const gid = isHashedGtrid(xid.gtrid) ? await gidOfHashedGtrid(knex, options.gidTable, xid.gtrid) : xid.gtrid;
      if (gid === null || !(await preparedHere(knex, options.table, gid, xid.bqual))) {
        options.inDoubtSince.delete(name);
        continue;
      }
      const status = await outcomeOf(gid);
      const now = options.now();
      const since = options.inDoubtSince.get(name) ?? now;
      options.inDoubtSince.set(name, since);
      const branch: XaBranchOptions = {
        gid,
        branchId: xid.bqual,
        table: options.table,
        gidTable: options.gidTable,
        now: options.now,
        lockWaitSeconds: options.lockWaitSeconds,
      };
      const decision = decide(status, now - since >= unknownRollbackAfterMs);
      if (decision === 'commit') {
        await commitXa(knex, branch);
        pass.committed.push(name);
        log.info({ gid }, 'XA branch left prepared: committed by recovery');
      } else if (decision === 'rollback') {
        await rollbackXa(knex, branch);
        pass.rolledBack.push(name);
        log.info({ gid, status }, 'XA branch left prepared: rolled back by recovery');
      } else {
        pass.inDoubt.push({ xid: name, gid, branchId: xid.bqual, inDoubtForMs: now - since });
        if (now - since >= inDoubtAfterMs) {
          log.warn(
            { gid, status, inDoubtForMs: now - since },
            'XA branch in doubt, holding its locks: needs attention (finish it with XA COMMIT or XA ROLLBACK of this xid once its outcome is known)',
          );
        }
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

/** recoverXa now and every `intervalMs`, one pass at a time. */
export function startXaRecovery(knex: Knex, options: XaRecoverySetting & XaRecoveryOptions & { intervalMs: number }): XaRecoveryHandle {
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

/** What to do with a prepared branch, from its transaction's status (null: unknown to the coordinator). */
export function decide(status: XaGlobalStatus | null, unknownLongEnough: boolean): 'commit' | 'rollback' | 'wait' {
  switch (status) {
    case 'committed':
    case 'committing':
      return 'commit';
    case 'rolled-back':
    case 'rolling-back':
      return 'rollback';
    case 'preparing':
      return 'wait';
    case null:
      return unknownLongEnough ? 'rollback' : 'wait';
  }
}

/**
 * Whether this participant prepared the branch: its barrier row (op
 * `prepare`), written inside the XA branch, is in this participant's table,
 * uncommitted. Only a dirty read sees it; SET TRANSACTION makes the next
 * statement, and only it, read uncommitted.
 */
async function preparedHere(knex: Knex, table: string, gid: string, branchId: string): Promise<boolean> {
  const connection = (await knex.client.acquireConnection()) as RawConnection;
  try {
    await rawQuery(connection, 'SET TRANSACTION ISOLATION LEVEL READ UNCOMMITTED', []);
    const rows = (await rawQuery(connection, 'select origin_op from ?? where gid = ? and branch_id = ? and op = ?', [table, gid, branchId, 'prepare'])) as {
      origin_op?: unknown;
    }[];
    return rows.some((row) => row.origin_op === 'prepare');
  } catch (error) {
    // The isolation level set for the next statement must not reach the next user of the connection.
    connection.destroy();
    throw error;
  } finally {
    await knex.client.releaseConnection(connection);
  }
}

async function preparedXids(knex: Knex): Promise<Xid[]> {
  const connection = (await knex.client.acquireConnection()) as RawConnection;
  try {
    const rows = (await rawQuery(connection, 'XA RECOVER', [])) as RecoveredXidRow[];
    return rows.map(parseRecoveredXid).filter((xid): xid is Xid => xid !== null);
  } finally {
    await knex.client.releaseConnection(connection);
  }
}

function outcomeSource(source: XaOutcomeSource): (gid: string) => Promise<XaGlobalStatus | null> {
  if (typeof source === 'function') return source;
  return async (gid) => {
    try {
      return (await source.coordinator.query(gid)).transaction.status as unknown as XaGlobalStatus;
    } catch (error) {
      if (error instanceof CoordinatorRefusedError && error.code === 'NOT_FOUND') return null;
      throw error;
    }
  };
}
