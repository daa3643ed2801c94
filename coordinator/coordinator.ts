/**
 * Wires one coordinator instance from its configuration: the transaction log (store/open-log.ts),
 * the branch client and the BullMQ recovery queue under the engine
 * (engine/create-engine.ts, which knows only their ports), then the
 * recovery worker, the reconciler and the HTTP API around it. `start` and
 * `stop` are the only lifecycle calls.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { createServer } from './api/server.ts';
import { HttpBranchClient } from './branch-client/http-branch-client.ts';
import type { CoordinatorConfig } from './config.ts';
import { createEngine } from './engine/create-engine.ts';
import { systemClock, type Clock } from './engine/ports.ts';
import type { TransactionService } from './engine/transaction-service.ts';
import { Reconciler } from './recovery/reconciler.ts';
import { openRecovery } from './recovery/open-recovery.ts';
import type { RecoveryBackend } from './recovery/recovery-backend.ts';
import { openLog } from './store/open-log.ts';
import type { TransactionLog } from './store/ports/transaction-log.ts';
import type { TransactionStore } from './store/ports/transaction-store.ts';
import { AdminAuth } from './api/admin-auth.ts';
import { CallerAuth } from './api/caller-auth.ts';
import { AlertHook } from './alerts/alert-hook.ts';
import { fanOutTelemetry } from './engine/telemetry.ts';
import { CoordinatorMetrics } from './metrics/metrics.ts';
import { ParticipantPolicy } from './security/participant-policy.ts';

/** What {@link createCoordinator} takes besides its configuration. */
export interface CoordinatorDeps {
  /** Where the coordinator logs (createLogger gives the one `dtx start` uses). */
  logger: Logger;
  /** Time; the system clock unless injected (tests). */
  clock?: Clock;
  /** Jitter of the backoffs; Math.random unless injected (tests). */
  random?: () => number;
  /**
   * The transaction log, for a store of your own (one that passes the store contract suite of
   * `@dtx/coordinator/testing`); default: the one `config.log` (DTX_LOG_URL) names. The coordinator
   * prepares it at start and closes it at stop either way.
   */
  log?: TransactionLog;
}

/**
 * One coordinator instance (createCoordinator): its parts, for tests and
 * embedding applications, and its lifecycle.
 */
export interface Coordinator {
  /** The configuration it was created with. */
  readonly config: CoordinatorConfig;
  /** The engine's transaction service: begin, register, submit, abort, query, recover. */
  readonly service: TransactionService;
  /** The transaction log (its store, admin store and lifecycle), on whichever store DTX_LOG_URL names. */
  readonly log: TransactionLog;
  /** The engine's port on the log (`log.store`). */
  readonly store: TransactionStore;
  /** Where recovery looks are scheduled and run (BullMQ, or in-process timers: DTX_SCHEDULER). */
  readonly queue: RecoveryBackend;
  /** Polls the log for due work the queue lost. */
  readonly reconciler: Reconciler;
  /** The HTTP API (createServer), listening once started. */
  readonly app: FastifyInstance;
  /** The Prometheus metrics behind GET /metrics. */
  readonly metrics: CoordinatorMetrics;
  /** Null when DTX_ALERT_URL is empty. */
  readonly alerts: AlertHook | null;
  /** Applies migrations, starts recovery and listens; resolves with the base URL. */
  start(): Promise<string>;
  /** Stops accepting, lets in-flight phase two finish (up to the grace period), closes pools. */
  stop(): Promise<void>;
}

/**
 * Create the whole coordinator service, as `dtx start` runs it: the
 * transaction log, the BullMQ recovery queue and worker, the reconciler, the branch
 * client, metrics and alerts around an engine, and the HTTP API. Nothing
 * connects or listens before `start()`.
 *
 * @param config - the configuration (loadConfig)
 * @param deps - the logger, and optionally a clock and randomness for tests
 * @returns the coordinator; `start()` resolves with its base URL, `stop()` shuts it down gracefully
 *
 * @example
 * ```ts
 * import { createCoordinator, createLogger, loadConfig } from '@dtx/coordinator';
 *
 * const config = loadConfig(process.env);
 * const coordinator = createCoordinator(config, { logger: createLogger(config.logLevel) });
 * const url = await coordinator.start();            // migrates, starts recovery, listens
 * process.once('SIGTERM', () => void coordinator.stop());
 * ```
 */
export function createCoordinator(config: CoordinatorConfig, deps: CoordinatorDeps): Coordinator {
  const logger = deps.logger.child({ instance: config.instanceId });
  const clock = deps.clock ?? systemClock;
  const log = deps.log ?? openLog(config.log, { poolMax: config.logPoolMax, queryTimeoutMs: config.logQueryTimeoutMs });
  const { store, adminStore } = log;
  const participants = new ParticipantPolicy(config.participants, config.secret, config.insecure && config.participants.length === 0);
  const client = new HttpBranchClient({
    keyFor: (url) => participants.keyFor(url),
    timeoutMs: config.branchTimeoutMs,
    connectionsPerOrigin: 64,
    now: clock.now,
  });
  const queue = openRecovery(config, { now: clock.now, logger });
  const metrics = new CoordinatorMetrics({
    sources: { openCounts: () => adminStore.openCounts(), queueDepth: () => queue.depth() },
    logger,
  });
  const alerts = config.alertUrl
    ? new AlertHook({
        url: config.alertUrl,
        secret: config.secret,
        instanceId: config.instanceId,
        attempts: config.alertAttempts,
        baseDelayMs: config.retryBaseMs,
        maxDelayMs: config.retryMaxMs,
        timeoutMs: config.branchTimeoutMs,
        now: clock.now,
        random: deps.random ?? Math.random,
        logger,
      })
    : null;
  const engine = createEngine({
    store,
    adminStore,
    scheduler: queue.scheduler,
    branchClient: client,
    clock,
    ...(deps.random ? { random: deps.random } : {}),
    participants,
    scopes: config.apiScopes,
    instanceId: config.instanceId,
    leaseMs: config.leaseMs,
    retryPolicy: {
      baseDelayMs: config.retryBaseMs,
      maxDelayMs: config.retryMaxMs,
      attentionAfterRetries: config.attentionAfterRetries,
      attentionAfterMs: config.attentionAfterMs,
    },
    maxBulk: config.adminMaxBulk,
    logger,
    telemetry: fanOutTelemetry(logger, metrics.telemetry, ...(alerts ? [alerts] : [])),
  });
  const { service } = engine;
  const reconciler = new Reconciler({
    store,
    scheduler: queue.scheduler,
    clock,
    intervalMs: config.reconcileIntervalMs,
    batchSize: config.reconcileBatch,
    recoverDirectly: (gid) => service.recover(gid),
    logger,
  });
  const app = createServer(engine, {
    logger,
    admin: { auth: new AdminAuth(config.adminTokens), store: adminStore, now: clock.now },
    defaultTimeoutMs: config.defaultTimeoutMs,
    maxTimeoutMs: config.maxTimeoutMs,
    submitWaitMs: config.submitWaitMs,
    maxStepTimeoutMs: config.branchTimeoutMs,
    metrics,
    health: { checkLog: () => store.ping(), ...(queue.check ? { checkQueue: queue.check } : {}) },
    auth: new CallerAuth(config.apiTokens, config.insecure),
    opsToken: config.opsToken,
  });

  return {
    config,
    service,
    log,
    store,
    queue,
    reconciler,
    app,
    metrics,
    alerts,
    async start() {
      const applied = await log.prepare();
      if (applied.length > 0) logger.info({ applied }, 'migrations applied');
      if (config.adminTokens.length === 0) logger.warn('DTX_ADMIN_TOKENS is empty: the admin API refuses every request');
      if (config.insecure) {
        logger.warn(
          { anonymousApi: config.apiTokens.length === 0, anyParticipant: config.participants.length === 0, unsigned: config.secret === null },
          'INSECURE DEVELOPMENT MODE (DTX_INSECURE): anonymous /v1 calls and any participant URL are accepted, and the public development key signs calls unless DTX_SECRET is set. Never run this way where others can reach the coordinator.',
        );
      }
      queue.start((gid) => service.recover(gid));
      reconciler.start();
      const url = await app.listen({ host: config.host, port: config.port });
      logger.info({ url, log: log.description, recovery: queue.description }, 'coordinator listening');
      return url;
    },
    async stop() {
      logger.info('coordinator stopping');
      await app.close();
      await reconciler.stop();
      if (!(await queue.close(config.shutdownGraceMs))) {
        logger.warn('recovery looks still running at shutdown; recovery takes them over after the lease');
      }
      if (!(await engine.drain(config.shutdownGraceMs))) {
        logger.warn({ inFlight: engine.inFlight }, 'phase two still running at shutdown; recovery takes it over after the lease');
      }
      await alerts?.close();
      await client.close();
      await log.close();
      logger.info('coordinator stopped');
    },
  };
}
