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
import type { CallerScope } from '../security/caller-scopes.ts';
import type { ParticipantPolicy } from '../security/participant-policy.ts';
import type { AdminStore } from '../store/ports/admin-store.ts';
import type { TransactionStore } from '../store/ports/transaction-store.ts';
import { OperatorService } from './operator-service.ts';
import { RowLockService } from './row-lock-service.ts';
import { PhaseTwoRunner } from './phase-two-runner.ts';
import type { Clock, RetryScheduler } from './ports.ts';
import { noopTelemetry, type Telemetry } from './telemetry.ts';
import { TransactionService } from './transaction-service.ts';
import { settlesWithin } from './settles-within.ts';

/** What {@link createEngine} runs on: its ports (store, scheduler, branch client, clock) and its policies. */
export interface EngineOptions {
  /** The transaction log. */
  store: TransactionStore;
  /** The operator's view of the log: listing, stats, audit, guarded operator changes. */
  adminStore: AdminStore;
  /** Where retries and recovery looks are scheduled; a lost schedule is found again by a reconciler. */
  scheduler: RetryScheduler;
  /** How participants are called in phase two (HttpBranchClient: signed HTTP). */
  branchClient: BranchClient;
  /** Time, injected so that tests can move it. */
  clock: Clock;
  /** Jitter of the retry backoff; Math.random unless injected. */
  random?: () => number;
  /** Which participant URLs may be registered. */
  participants: ParticipantPolicy;
  /** What each caller may reach (DTX_API_SCOPES), by caller name; default: no caller is limited (development, tests of the engine alone). */
  scopes?: ReadonlyMap<string, CallerScope>;
  /** Names the leases this engine takes (a nonce per process start is added). */
  instanceId: string;
  /** How long this engine owns a transaction it drives; a crashed owner's work is taken over after it. */
  leaseMs: number;
  /** Phase-two backoff and when a transaction is flagged as needing attention. */
  retryPolicy: RetryPolicy;
  /** Most transactions one operator "retry all matching" may touch. */
  maxBulk: number;
  /** Where the engine logs; each transaction's lines carry its gid. */
  logger: Logger;
  /** Told about every step (metrics, alerts); none by default. */
  telemetry?: Telemetry;
}

/** A running engine (createEngine): the services to drive transactions with, and its shutdown. */
export interface Engine {
  /** Begin, register, submit, abort, query and recover transactions. */
  readonly service: TransactionService;
  /** The operator's actions (retry, pause, resume, force-abort, resolve, close), audited. */
  readonly operators: OperatorService;
  /** Global row locks (FMT): taken by a branch's participant, asked about by anyone. */
  readonly rowLocks: RowLockService;
  /** Waits up to `graceMs` for the phase-two rounds in flight; false if some were still running. */
  drain(graceMs: number): Promise<boolean>;
  /** Rounds still running (for the shutdown log). */
  readonly inFlight: number;
}

/**
 * Create the coordinator's engine on its ports, without HTTP, Redis or any
 * driver of its own: for embedding the coordinator in an application or a
 * test, or wiring it to another store or scheduler. createCoordinator builds
 * one on MySQL and BullMQ; createServer puts the HTTP API around one.
 *
 * The scheduler only records when to look at a transaction again: something
 * must then call `engine.service.recover(gid)` (the coordinator uses a BullMQ
 * worker and a reconciler polling the store).
 *
 * @param options - the ports and policies; see {@link EngineOptions}
 * @returns the engine; `drain(graceMs)` it on shutdown
 *
 * @example
 * ```ts
 * import { pino } from 'pino';
 * import { createEngine, HttpBranchClient, loadConfig, openLog, ParticipantPolicy, systemClock } from '@dtx/coordinator';
 *
 * const config = loadConfig(process.env);
 * // The store DTX_LOG_URL names; every statement gives up after DTX_LOG_QUERY_TIMEOUT_MS (a frozen database gets a timeout, not a hang).
 * const log = openLog(config.log, { poolMax: config.logPoolMax, queryTimeoutMs: config.logQueryTimeoutMs });
 * await log.prepare();   // creates the database if missing and migrates it
 * const participants = new ParticipantPolicy(config.participants, config.secret, false);
 * const engine = createEngine({
 *   store: log.store,
 *   adminStore: log.adminStore,
 *   // Due work is found again by polling the store; a queue would call engine.service.recover(gid) at `at`.
 *   scheduler: { schedule: async () => undefined },
 *   branchClient: new HttpBranchClient({ keyFor: (url) => participants.keyFor(url), timeoutMs: 5_000, connectionsPerOrigin: 16, now: Date.now }),
 *   clock: systemClock,
 *   participants,
 *   instanceId: config.instanceId,
 *   leaseMs: config.leaseMs,
 *   retryPolicy: { baseDelayMs: 1_000, maxDelayMs: 60_000, attentionAfterRetries: 10, attentionAfterMs: 600_000 },
 *   maxBulk: 1_000,
 *   logger: pino(),
 * });
 * ```
 */
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
    leaseMs: options.leaseMs,
    logger,
    telemetry,
  });
  const service = new TransactionService({
    store,
    runner,
    client: options.branchClient,
    clock,
    instanceId: options.instanceId,
    leaseMs: options.leaseMs,
    attentionAfterMs: options.retryPolicy.attentionAfterMs,
    logger,
    telemetry,
    participants: options.participants,
    scopes: options.scopes ?? new Map(),
  });
  const operators = new OperatorService({
    store: adminStore,
    load: (gid) => store.load(gid),
    transactions: service,
    scheduler,
    clock,
    logger,
    maxBulk: options.maxBulk,
    telemetry,
  });
  return {
    service,
    operators,
    rowLocks: new RowLockService({ store, participants: options.participants, clock, logger }),
    get inFlight() {
      return runner.inFlightCount;
    },
    drain: (graceMs) => settlesWithin(runner.drain(), graceMs),
  };
}
