/**
 * `@dtx/coordinator/testing`: what someone writing a store of their own
 * needs to check it — the store contract suite (vitest, run against the
 * ports only), the ports' types, and the engine's store errors. A store is
 * done when `describeStoreContract` passes on it:
 *
 * ```ts
 * import { describeStoreContract, type TransactionLog } from '@dtx/coordinator/testing';
 *
 * declare function openMyLog(label: string): Promise<TransactionLog>;   // your store: a fresh, migrated log
 *
 * describeStoreContract('my store', async ({ label }) => {
 *   const log = await openMyLog(label);
 *   return { store: log.store, adminStore: log.adminStore, close: () => log.close() };
 * });
 * ```
 */
export { describeStoreContract, registration } from './store-contract/store-contract.ts';
export type { StoreContext, StoreFactory, StoreUnderTest } from './store-contract/store-contract.ts';
export type { BeginInput, DecisionInput, DueTransaction, RegisterInput, RoundRecord, TransactionStore } from '../store/ports/transaction-store.ts';
export type * from '../store/ports/admin-store.ts';
export type { LogKind, TransactionLog } from '../store/ports/transaction-log.ts';
export { StoreUnavailableError, translatingErrors } from '../store/ports/store-errors.ts';
export type { StoreOutageKind } from '../store/ports/store-errors.ts';
export type * from '../domain/transaction.ts';
export type { TransitionGuard } from '../domain/transition-guard.ts';
export type { RoundCall, RoundDecision } from '../domain/phase-two.ts';
