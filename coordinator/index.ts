/**
 * Public API of the dtx coordinator, for an application that embeds it
 * instead of running `dtx start`: the whole service (createCoordinator), or
 * its parts — the engine on its ports (createEngine), the HTTP API around
 * an engine (createServer), the configuration loader, and the transaction
 * log (openLog: the store a log URL names, with its migrations). A store of
 * your own is checked with `@dtx/coordinator/testing`.
 */
export { createCoordinator } from './coordinator.ts';
export type { Coordinator, CoordinatorDeps } from './coordinator.ts';
export { ConfigError, loadConfig } from './config.ts';
export type { AdminToken, ApiToken, CoordinatorConfig } from './config.ts';
export { createLogger } from './logger.ts';
export { COORDINATOR_NODE_ARGS } from './runtime.ts';

export { createEngine } from './engine/create-engine.ts';
export type { Engine, EngineOptions } from './engine/create-engine.ts';
export { systemClock } from './engine/ports.ts';
export type { Clock, RetryScheduler } from './engine/ports.ts';
export { createServer } from './api/server.ts';
export type { ServerOptions } from './api/server.ts';
export { AdminAuth } from './api/admin-auth.ts';
export { CallerAuth } from './api/caller-auth.ts';
export { HttpBranchClient } from './branch-client/http-branch-client.ts';
export type { BranchCall, BranchClient, HttpBranchClientOptions } from './branch-client/http-branch-client.ts';
export { ParticipantPolicy } from './security/participant-policy.ts';

export type { TransactionStore } from './store/ports/transaction-store.ts';
export type { AdminStore } from './store/ports/admin-store.ts';
export type { LogKind, TransactionLog } from './store/ports/transaction-log.ts';
export { StoreUnavailableError } from './store/ports/store-errors.ts';
export type { StoreOutageKind } from './store/ports/store-errors.ts';
export { openLog } from './store/open-log.ts';
export type { LogLimits } from './store/open-log.ts';
export type { LogSetting } from './log-setting.ts';
export { redactUrl } from './redact-url.ts';

export { ALL_RULES, rulesFor, wordsFor } from './modes/registry.ts';
export type { ModeRules } from './modes/mode-rules.ts';
export type { ModeWords } from './domain/mode-words.ts';
export { GLOBAL_STATUSES, OPEN_STATUSES, TERMINAL_STATUSES } from './domain/transaction.ts';
export type { BranchStatus, GlobalStatus, Mode, Operation } from './domain/transaction.ts';
