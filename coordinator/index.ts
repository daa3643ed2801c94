/**
 * Public API of the dtx coordinator, for an application that embeds it
 * instead of running `dtx start`: the whole service (createCoordinator), or
 * its parts — the engine on its ports (createEngine), the HTTP API around
 * an engine (createServer), the configuration loader, the MySQL store and
 * its migrations.
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
export { connectMysql, ensureDatabase, redactUrl } from './store/mysql/connect.ts';
export type { MysqlOptions } from './store/mysql/connect.ts';
export { migrateLatest } from './store/mysql/migrator.ts';
export { prepareLogDatabase } from './store/mysql/prepare-log-database.ts';
export { StatementTimeoutError } from './store/mysql/statement-timeout.ts';
export { MysqlTransactionStore } from './store/mysql/mysql-transaction-store.ts';
export { MysqlAdminStore } from './store/mysql/mysql-admin-store.ts';
export { MysqlWriter } from './store/mysql/mysql-writer.ts';
export { connectBatchPool, MysqlBatch } from './store/mysql/mysql-batch.ts';

export { ALL_RULES, rulesFor, wordsFor } from './modes/registry.ts';
export type { ModeRules } from './modes/mode-rules.ts';
export type { ModeWords } from './domain/mode-words.ts';
export { GLOBAL_STATUSES, OPEN_STATUSES, TERMINAL_STATUSES } from './domain/transaction.ts';
export type { BranchStatus, GlobalStatus, Mode, Operation } from './domain/transaction.ts';
