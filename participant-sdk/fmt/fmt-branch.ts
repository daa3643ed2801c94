/**
 * An FMT resource's three ops at the participant, each in one local
 * transaction behind the barrier (an execute's row is its try's, a
 * rollback undoes it, a commit confirms it):
 * - execute: the handler's statements imaged through a session, the undo
 *   records, then the rows' global locks at the coordinator; committed
 *   together, or not at all;
 * - commit: the barrier row; the undo records are dropped after the reply,
 *   in batches (FmtUndoJanitor), never on the caller's time;
 * - rollback: the rows restored from the undo records, or, when one changed
 *   since (a dirty write), nothing written and 409 `FMT_DIRTY_WRITE` with
 *   every such row's images, for an operator. A rollback before any execute
 *   is the barrier's null compensation, which refuses a late execute.
 */
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { BranchOp } from '@dtx/protocol';
import { REPLY_STATUS, ROW_LOCK_LIMITS } from '@dtx/protocol';
import { runInKnexBarrier, type BarrierOptions } from '../barrier/barrier.ts';
import { replyOfError, replyOfResult } from '../branch-reply.ts';
import { BranchRejectedError, DtxError } from '../errors.ts';
import type { ParticipantReply } from '../incoming-call.ts';
import { barrierOptionsOf, type NormalisedOptions } from '../participant-options.ts';
import type { BranchHandler, CallContext } from '../resource.ts';
import type { FmtBranchContext } from './fmt-resource.ts';
import type { FmtUndoJanitor } from './commit.ts';
import { BranchLocks } from './coordinator-locks.ts';
import type { FmtDialect } from './dialect.ts';
import { FmtLockConflictError, FmtTooManyRowsError, FmtUnsupportedStatementError } from './errors.ts';
import type { GlobalLocks, RowKey } from './global-locks.ts';
import { runFmtPhaseOne } from './phase-one.ts';
import type { DirtyRow } from './rollback-plan.ts';
import { rollbackFmtBranch } from './rollback.ts';

/** How a participant runs its FMT resources (ParticipantOptions.fmt, normalised). */
export interface FmtSetting {
  resource: string;
  undoTable: string;
  lockWaitMs: number;
  maxRowsPerStatement: number;
  /** Bound of one request to the coordinator. */
  requestTimeoutMs: number;
  janitor: FmtUndoJanitor;
}

/** A rollback that found rows changed since the branch wrote them: nothing was written. */
export class FmtDirtyWriteError extends DtxError {
  constructor(readonly rows: DirtyRow[]) {
    super('FMT_DIRTY_WRITE', `${rows.length} row(s) changed since this branch wrote them: nothing was restored; an operator must resolve it (resolveFmt)`);
  }
}

export interface FmtCall {
  gid: string;
  branchId: string;
  op: BranchOp;
  /** The call's `dtx-coordinator` header ('' when absent): where an execute takes its rows' locks. */
  coordinator: string;
}

export async function handleFmtCall(
  o: NormalisedOptions,
  fmt: FmtSetting,
  call: FmtCall,
  execute: BranchHandler,
  context: Omit<CallContext<unknown>, 'sql'>,
  log: Logger,
): Promise<ParticipantReply> {
  const dialect = o.dialect.name as FmtDialect;
  const barrier = barrierOptionsOf(o, call, log);
  const branch = { gid: call.gid, branchId: call.branchId, undoTable: fmt.undoTable, dialect };
  try {
    switch (call.op) {
      case 'execute': {
        if (call.coordinator === '')
          throw new BranchRejectedError('an FMT execute needs the dtx-coordinator header: its rows are locked there', { code: 'FMT_NO_COORDINATOR' });
        return await executeUntilLocked(o, fmt, call, barrier, (trx, locks) =>
          runFmtPhaseOne(trx, { ...branch, resource: fmt.resource, locks, maxRowsPerStatement: fmt.maxRowsPerStatement, now: o.now }, (session) => {
            const ctx: FmtBranchContext<unknown> = {
              ...context,
              sql: (text, values) => session.sql(text, values),
              query: (builder) => session.query(builder),
              selectForUpdate: (text, values) => session.selectForUpdate(text, values),
            };
            return execute(ctx);
          }).then(({ value }) => value),
        );
      }
      case 'commit': {
        const result = await runInKnexBarrier(o.dialect, o.knex, barrier, async () => null);
        if (result.kind === 'ran' || result.kind === 'duplicate') fmt.janitor.enqueue(call.gid, call.branchId);
        return replyOfResult(result);
      }
      case 'rollback': {
        const result = await runInKnexBarrier(o.dialect, o.knex, barrier, async (trx) => {
          const outcome = await rollbackFmtBranch(trx, branch);
          // Thrown, so that the barrier's row goes too: the rollback is asked again until resolved.
          if (outcome.kind === 'dirty') throw new FmtDirtyWriteError(outcome.rows);
          return outcome.kind === 'restored' ? { restored: outcome.rows } : { restored: 0 };
        });
        return replyOfResult(result);
      }
      default:
        return replyOfError(new BranchRejectedError(`an FMT resource has no op ${call.op}`, { code: 'UNKNOWN_OP' }));
    }
  } catch (error) {
    return replyOfFmtError(error, log);
  }
}

/** First pause before an execute that met a held row runs again; doubles up to the last. */
const FIRST_RETRY_PAUSE_MS = 10;
const MAX_RETRY_PAUSE_MS = 100;

/**
 * Runs an execute's local transaction until the coordinator gave it every
 * row's lock, for at most `fmt.lockWaitMs`. A row another global
 * transaction holds fails the attempt at once: its local transaction rolls
 * back, releasing its own row locks, and it runs again after a pause. Waiting
 * with them held would block the holder's rollback, which needs those rows
 * to restore them: the two would wait for each other until the wait ran out.
 */
async function executeUntilLocked(
  o: NormalisedOptions,
  fmt: FmtSetting,
  call: FmtCall,
  barrier: BarrierOptions,
  run: (trx: Knex.Transaction, locks: GlobalLocks) => Promise<unknown>,
): Promise<ParticipantReply> {
  const locks = boundedLocks(
    new BranchLocks({
      coordinatorUrl: call.coordinator,
      gid: call.gid,
      branchId: call.branchId,
      key: o.keys.coordinatorKey,
      // One ask per attempt: the attempts are the wait.
      waitMs: 0,
      requestTimeoutMs: fmt.requestTimeoutMs,
      now: o.now,
    }),
  );
  const until = o.now() + fmt.lockWaitMs;
  for (let pause = FIRST_RETRY_PAUSE_MS; ; pause = Math.min(pause * 2, MAX_RETRY_PAUSE_MS)) {
    try {
      return replyOfResult(await runInKnexBarrier(o.dialect, o.knex, barrier, (trx) => run(trx, locks)));
    } catch (error) {
      const left = until - o.now();
      if (!(error instanceof FmtLockConflictError) || left <= 0) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.min(pause, left)));
    }
  }
}

/** FMT's refusals are answered 409 (the initiator rolls back; a rollback is retried and flagged); the rest as any handler's errors. */
function replyOfFmtError(error: unknown, log: Logger): ParticipantReply {
  if (error instanceof FmtDirtyWriteError) {
    log.error({ rows: error.rows }, 'FMT rollback refused: rows changed since the branch wrote them (dirty write); an operator must resolve it');
    return { statusCode: REPLY_STATUS.failure, body: { code: error.code, message: error.message, rows: error.rows } };
  }
  if (error instanceof FmtLockConflictError || error instanceof FmtUnsupportedStatementError || error instanceof FmtTooManyRowsError) {
    log.info({ code: error.code }, `FMT execute refused: ${error.message}`);
    return { statusCode: REPLY_STATUS.failure, body: { code: error.code, message: error.message } };
  }
  if (error instanceof BranchRejectedError) log.info({ code: error.code, details: error.details }, `branch rejected: ${error.message}`);
  else log.error({ err: error }, 'FMT branch failed');
  return replyOfError(error);
}

/** A branch locks at most ROW_LOCK_LIMITS.keysPerRequest rows, all at once: more is refused before anything is asked. */
function boundedLocks(locks: GlobalLocks): GlobalLocks {
  const check = (keys: RowKey[]) => {
    if (keys.length > ROW_LOCK_LIMITS.keysPerRequest) {
      throw new BranchRejectedError(`an FMT branch may write at most ${ROW_LOCK_LIMITS.keysPerRequest} rows (this one wrote ${keys.length})`, {
        code: 'FMT_TOO_MANY_ROWS',
      });
    }
  };
  return {
    acquire: async (keys) => {
      check(keys);
      await locks.acquire(keys);
    },
    waitFree: async (keys) => {
      check(keys);
      await locks.waitFree(keys);
    },
  };
}
