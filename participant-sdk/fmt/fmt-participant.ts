/**
 * What a participant serving FMT resources keeps and does beyond a call:
 * the janitor deleting committed branches' undo records in batches, the
 * sweep of records a crash kept from it, the undo table, an operator's
 * resolution of a dirty branch, and local work that respects global locks.
 * createParticipant builds one when an FMT resource is served.
 */
import type { Logger } from 'pino';
import { ParticipantConfigError } from '../errors.ts';
import type { ParticipantReply } from '../incoming-call.ts';
import type { NormalisedOptions } from '../participant-options.ts';
import type { BranchHandler, CallContext } from '../resource.ts';
import { FmtUndoJanitor, sweepCommittedUndo } from './commit.ts';
import { HeldLocks } from './coordinator-locks.ts';
import { handleFmtCall, type FmtCall } from './fmt-branch.ts';
import type { FmtSession } from './fmt-session.ts';
import { runWithGlobalLock } from './phase-one.ts';
import { resolveFmtDirty, type FmtDirtyAction } from './rollback.ts';
import { createFmtUndoTable } from './undo-log.ts';

/** A dirty branch resolved by hand: restored (rows), kept (records deleted), or nothing to resolve. */
export type FmtResolution = { kind: 'restored'; rows: number } | { kind: 'kept'; records: number } | { kind: 'nothing' };

export interface FmtParticipant {
  handle(call: FmtCall, execute: BranchHandler, context: Omit<CallContext<unknown>, 'sql'>, log: Logger): Promise<ParticipantReply>;
  /** Creates the undo table, then sweeps what a crash left. */
  migrate(): Promise<void>;
  /** Deletes undo records of branches committed here that a crash kept from the janitor. */
  sweep(): Promise<void>;
  resolve(options: { gid: string; branchId: string; action: FmtDirtyAction }): Promise<FmtResolution>;
  withGlobalLock<T>(work: (session: FmtSession) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export function createFmtParticipant(o: NormalisedOptions, fmt: NonNullable<NormalisedOptions['fmt']>): FmtParticipant {
  const dialect = o.dialect.name;
  const janitor = new FmtUndoJanitor(o.knex, {
    undoTable: fmt.undoTable,
    dialect,
    flushIntervalMs: fmt.undoFlushMs,
    onError: (error) => o.logger.error({ err: error }, 'deleting committed FMT undo records failed; they are tried again'),
  });
  const sweep = async () => {
    const swept = await sweepCommittedUndo(o.knex, { undoTable: fmt.undoTable, barrierTable: o.table, dialect });
    if (swept > 0) o.logger.info({ swept }, 'deleted the undo records of FMT branches committed before a restart');
  };
  return {
    handle: (call, execute, context, log) => handleFmtCall(o, { ...fmt, janitor }, call, execute, context, log),
    migrate: async () => {
      await createFmtUndoTable(o.knex, fmt.undoTable);
      await sweep();
    },
    sweep,
    resolve: async ({ gid, branchId, action }) => {
      const result = await o.knex.transaction((trx) => resolveFmtDirty(trx, { gid, branchId, undoTable: fmt.undoTable, dialect, action }), {
        isolationLevel: 'read committed',
      });
      o.logger.child({ gid, branchId }).warn({ action, result }, 'FMT dirty branch resolved by hand');
      return result;
    },
    withGlobalLock: (work) => {
      if (!fmt.coordinator) throw new ParticipantConfigError('fmt', 'withGlobalLock needs fmt.coordinator (its URL and this service API token)');
      const locks = new HeldLocks({
        coordinatorUrl: fmt.coordinator.url,
        apiToken: fmt.coordinator.apiToken ?? null,
        waitMs: fmt.lockWaitMs,
        requestTimeoutMs: fmt.requestTimeoutMs,
        now: o.now,
      });
      return runWithGlobalLock(o.knex, { resource: fmt.resource, locks, dialect }, work);
    },
    close: () => janitor.close(),
  };
}
