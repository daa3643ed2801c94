/**
 * The engine: the transaction service, the phase-two runner and the operator
 * service, on the ports only (a store, a retry scheduler, a branch client, a
 * clock). No HTTP server, no queue, no database driver: the coordinator
 * service wires it to MySQL, BullMQ and Fastify (coordinator.ts), and
 * anything else — a test, an application embedding it — can wire it to
 * what it has.
 */
import type { Logger } from 'pino';
import type { BranchClient } from '../branch-client/http-branch-client.ts';
import type { RetryPolicy } from '../domain/backoff.ts';
import type { ParticipantPolicy } from '../security/participant-policy.ts';
import type { AdminStore } from '../store/ports/admin-store.ts';
import type { TransactionStore } from '../store/ports/transaction-store.ts';
import { OperatorService } from './operator-service.ts';
import { PhaseTwoRunner } from './phase-two-runner.ts';
import type { Clock, RetryScheduler } from './ports.ts';
import { noopTelemetry, type Telemetry } from './telemetry.ts';
import { TransactionService } from './transaction-service.ts';

export interface EngineOptions {
  store: TransactionStore;
  adminStore: AdminStore;
  /** Where retries and recovery looks are scheduled; a lost schedule is found again by a reconciler. */
  scheduler: RetryScheduler;
  branchClient: BranchClient;
  clock: Clock;
  /** Jitter of the retry backoff; Math.random unless injected. */
  random?: () => number;
  /** Which participant URLs may be registered. */
  participants: ParticipantPolicy;
  /** Names the leases this engine takes (a nonce per process start is added). */
  instanceId: string;
  leaseMs: number;
  retryPolicy: RetryPolicy;
  /** Most transactions one operator "retry all matching" may touch. */
  maxBulk: number;
  logger: Logger;
  telemetry?: Telemetry;
}

export interface Engine {
  readonly service: TransactionService;
  readonly operators: OperatorService;
  /** Waits up to `graceMs` for the phase-two rounds in flight; false if some were still running. */
  drain(graceMs: number): Promise<boolean>;
  /** Rounds still running (for the shutdown log). */
  readonly inFlight: number;
}

export function createEngine(options: EngineOptions): Engine {
  const { store, adminStore, scheduler, clock, logger } = options;
  const telemetry = options.telemetry ?? noopTelemetry;
  const runner = new PhaseTwoRunner({
    store,
    client: options.branchClient,
    scheduler,
    clock,
    random: options.random ?? Math.random,
    retryPolicy: options.retryPolicy,
    logger,
    telemetry,
  });
  const service = new TransactionService({
    store,
    runner,
    clock,
    instanceId: options.instanceId,
    leaseMs: options.leaseMs,
    logger,
    telemetry,
    participants: options.participants,
  });
  const operators = new OperatorService({ store: adminStore, load: (gid) => store.load(gid), transactions: service, scheduler, clock, logger, maxBulk: options.maxBulk, telemetry });
  return {
    service,
    operators,
    get inFlight() {
      return runner.inFlightCount;
    },
    drain: (graceMs) =>
      Promise.race([
        runner.drain().then(() => true),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(false), graceMs).unref()),
      ]),
  };
}
