/**
 * Public API of the dtx participant SDK (`@dtx/participant-sdk`): the
 * participant side (defineTcc / defineSqlTcc, defineSaga / defineSqlSaga,
 * defineMessageReceiver / defineSqlMessageReceiver, defineMessageSender and
 * defineXa resources, createParticipant, the barrier, XA recovery, the Fastify
 * plugin and the node:http handler) and the initiator side (DtxClient: tcc,
 * xa, saga, message), plus the wire protocol re-exported whole.
 */
export * from '@dtx/protocol';
export * from './errors.ts';
export * from './resource.ts';
export * from './participant.ts';
export type { ParticipantReply, ParticipantRequest } from './incoming-call.ts';
export type { SuccessBody } from './branch-reply.ts';
export { dtxParticipantPlugin } from './server/fastify-plugin.ts';
export type { DtxParticipantPluginOptions } from './server/fastify-plugin.ts';
export { createNodeHandler } from './server/node-handler.ts';
export type { NodeHandlerOptions } from './server/node-handler.ts';
export { runInBarrier, runInSqlBarrier, sqlOnKnex } from './barrier/barrier.ts';
export type { BarrierOptions, BarrierResult, BranchSql, SqlResult } from './barrier/barrier.ts';
export { answerCheckBack } from './barrier/sender-row.ts';
export type { CheckBackOptions } from './barrier/sender-row.ts';
export { createBarrierTable } from './barrier/migration.ts';
export { DEFAULT_BARRIER_TABLE } from './barrier/input.ts';
export { cleanupBarrier, startBarrierCleanup } from './barrier/cleanup.ts';
export type { BarrierCleanupHandle, BarrierCleanupSchedule, CleanupOptions } from './barrier/cleanup.ts';
export { createXaGidTable, DEFAULT_XA_GID_TABLE } from './xa/xa-tables.ts';
export type {
  XaCoordinator,
  XaCoordinatorSource,
  XaGlobalStatus,
  XaInDoubtBranch,
  XaInDoubtReason,
  XaRecoveryHandle,
  XaRecoveryOptions,
  XaRecoveryPass,
} from './xa/xa-recovery.ts';
export type { XaFinishOptions, XaFinishResult } from './xa/xa-finish.ts';
export { defineFmt } from './fmt/fmt-resource.ts';
export type { FmtBranchContext, FmtResourceDefinition } from './fmt/fmt-resource.ts';
export { FmtDirtyWriteError } from './fmt/fmt-branch.ts';
export type { FmtResolution } from './fmt/fmt-participant.ts';
export * from './fmt/index.ts';
// One RowKey: the protocol's (the FMT session's keys are of the same shape).
export type { RowKey } from '@dtx/protocol';
export type { FmtOptions } from './participant-options.ts';
export * from './initiator/index.ts';
