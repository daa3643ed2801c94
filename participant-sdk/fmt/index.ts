/**
 * FMT: automatic undo from row images (Seata's AT mode). A branch's
 * business SQL runs through an FmtSession on its local transaction; each
 * INSERT, UPDATE and DELETE has its rows' before and after images written
 * to an undo record in that same transaction (runFmtPhaseOne). Phase two
 * deletes the records (commitFmtBranch, FmtUndoJanitor) or restores the
 * rows from them, refusing when they changed since (rollbackFmtBranch;
 * resolveFmtDirty for an operator). Global row locks are the coordinator's,
 * injected as GlobalLocks.
 */
export { runFmtPhaseOne, runWithGlobalLock } from './phase-one.ts';
export type { FmtPhaseOneOptions, GlobalLockOptions } from './phase-one.ts';
export { FmtSession, DEFAULT_MAX_ROWS_PER_STATEMENT } from './fmt-session.ts';
export type { FmtSessionOptions, ToSql } from './fmt-session.ts';
export type { GlobalLocks, RowKey } from './global-locks.ts';
export { rollbackFmtBranch, resolveFmtDirty } from './rollback.ts';
export type { FmtBranchOptions, FmtDirtyAction, FmtRollbackResult } from './rollback.ts';
export { planRollback } from './rollback-plan.ts';
export type { DirtyRow, Pk, RestoreStep, RollbackPlan } from './rollback-plan.ts';
export { commitFmtBranch, FmtUndoJanitor } from './commit.ts';
export type { FmtCommitOptions, FmtUndoJanitorOptions } from './commit.ts';
export { createFmtUndoTable, DEFAULT_FMT_UNDO_TABLE } from './undo-log.ts';
export type { UndoRecord } from './undo-log.ts';
export { analyseStatement } from './statement.ts';
export type { FmtStatement } from './statement.ts';
export { clearTableMetaCache } from './table-meta.ts';
export type { ImageValue, RowImage } from './images.ts';
export type { FmtDialect } from './dialect.ts';
export { FmtImageMismatchError, FmtLockConflictError, FmtTooManyRowsError, FmtUndoRecordError, FmtUnsupportedStatementError } from './errors.ts';
export type { FmtRefusal } from './errors.ts';
