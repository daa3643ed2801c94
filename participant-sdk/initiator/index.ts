export { DtxClient } from './dtx-client.ts';
export type { DtxClientOptions, TccOptions, TccOutcome } from './dtx-client.ts';
export { TccTransaction } from './tcc-transaction.ts';
export type { BranchTarget } from './branch-target.ts';
export { CoordinatorClient } from './coordinator-client.ts';
export type { BranchRegistration, TransactionStatus } from './coordinator-client.ts';
export * from './errors.ts';
export { Saga } from './saga.ts';
export type { SagaCall, SagaOptions, SagaOutcome, SagaStatus, SagaStepOptions, SagaStepTarget } from './saga.ts';
