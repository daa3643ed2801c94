/** The coordinator's Fastify application: routes, schemas, error shape. */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { BearerTokens } from '../security/bearer-tokens.ts';
import type { Engine } from '../engine/create-engine.ts';
import type { Logger } from 'pino';
import { LIMITS } from '@dtx/protocol';
import { installErrorHandling } from './error-handler.ts';
import { answerExpectations, clientErrorHandler, installJsonBodies } from './http-input.ts';
import { healthRoutes, type HealthRoutesOptions } from './health-routes.ts';
import { adminRoutes, type AdminRoutesOptions } from './admin-routes.ts';
import { consoleRoutes } from './console-routes.ts';
import { transactionRoutes, type TransactionRoutesOptions } from './transaction-routes.ts';
import { rowLockRoutes } from './row-lock-routes.ts';
import type { RowLockService } from '../engine/row-lock-service.ts';
import { DOC_TAGS, registerOpenApi } from './openapi.ts';

export interface ApiOptions extends TransactionRoutesOptions {
  logger: Logger;
  /** Global row locks (FMT). */
  rowLocks: RowLockService;
  admin: Omit<AdminRoutesOptions, 'transactions' | 'submitWaitMs'>;
  /** Prometheus exposition at GET /metrics; none when absent. */
  metrics?: { readonly contentType: string; render(): Promise<string> };
  /** Readiness checks of GET /health/ready (health-routes.ts); none when absent. */
  health?: HealthRoutesOptions;
  /** Bearer token required by /metrics and /docs; null leaves them open. */
  opsToken: string | null;
}

/** GET /metrics when metrics are on (in a plugin, so it loads after the OpenAPI collector). */
async function operationsRoutes(app: FastifyInstance, options: Pick<ApiOptions, 'metrics' | 'opsToken'>): Promise<void> {
  const metrics = options.metrics;
  if (!metrics) return;
  app.get(
    '/metrics',
    { onRequest: requireOpsToken(options.opsToken), schema: { tags: [DOC_TAGS.operations], summary: 'Prometheus metrics (text exposition format)' } },
    async (_request, reply) => {
      const text = await metrics.render();
      return reply.header('content-type', metrics.contentType).header('cache-control', 'no-store').send(text);
    },
  );
}

/**
 * The hook guarding what a public-facing coordinator should not show to
 * everyone (metrics, the API document): a bearer DTX_OPS_TOKEN when one is set.
 */
function requireOpsToken(token: string | null): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  const tokens = new BearerTokens(token === null ? [] : [{ token, holder: true }]);
  return async (request, reply) => {
    if (token === null || tokens.identify(request.headers.authorization)) return;
    await reply
      .status(401)
      .header('www-authenticate', 'Bearer')
      .send({ code: 'UNAUTHENTICATED', message: 'this endpoint needs the operations token (DTX_OPS_TOKEN)' });
  };
}

export function buildApi(options: ApiOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    // Per-request access lines would dominate the log on the hot path; transactions log their own lines with the gid.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    // The router's default (100) is below the longest valid gid (128): such a
    // transaction could be begun but never submitted, aborted or queried.
    // Room for percent-encoding too, so that over-long ids get the schema's 400.
    routerOptions: { maxParamLength: 3 * LIMITS.gidMaxLength },
    // Keep-alive from initiators: a connection per request would dominate a short transaction.
    keepAliveTimeout: 65_000,
    clientErrorHandler,
    // Nothing here depends on the Host header; a request without one is routed like any other.
    http: { requireHostHeader: false },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
    // Malformed or over-long URLs are refused by the router before any hook:
    // give them the API's error shape too.
    frameworkErrors: (error, _request, routerReply) => {
      const reply = routerReply as unknown as FastifyReply;
      void reply.status(error.statusCode ?? 400).send({ code: error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'URI_TOO_LONG' : 'BAD_URL', message: error.message });
    },
  });
  installJsonBodies(app);
  answerExpectations(app);
  installErrorHandling(app);
  // Before any route: the document is collected from the routes as they are added.
  registerOpenApi(app, requireOpsToken(options.opsToken));
  void app.register(healthRoutes, options.health ?? {});
  void app.register(operationsRoutes, { metrics: options.metrics, opsToken: options.opsToken });
  void app.register(transactionRoutes, { ...options, prefix: '/v1' });
  void app.register(rowLockRoutes, { rowLocks: options.rowLocks, auth: options.auth, prefix: '/v1' });
  void app.register(adminRoutes, { ...options.admin, transactions: options.service, submitWaitMs: options.submitWaitMs, prefix: '/admin/v1' });
  void app.register(consoleRoutes);
  return app;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The JSON body as received, when there was one. */
    rawJson?: string;
  }
}

/**
 * What {@link createServer} needs besides the engine: the logger, the
 * callers' and operators' authentication, the admin store, the timeout
 * bounds of the API, and optionally metrics, readiness checks and the
 * operations token.
 */
export type ServerOptions = Omit<ApiOptions, 'service' | 'rowLocks' | 'admin'> & { admin: Omit<ApiOptions['admin'], 'operators'> };

/**
 * The HTTP API around an engine (engine/create-engine.ts): `/v1`,
 * `/admin/v1`, the console, `/docs`, `/metrics` and health. The engine
 * does not need it: an application can drive the engine in-process.
 * createCoordinator uses it; call it yourself to serve an engine you wired.
 *
 * @param engine - the engine whose services the routes call (createEngine)
 * @param options - authentication, admin store, timeouts; see {@link ServerOptions}
 * @returns a Fastify instance, not yet listening: `listen` it, and `close` it before draining the engine
 *
 * @example
 * ```ts
 * import { pino } from 'pino';
 * import { AdminAuth, CallerAuth, createServer, loadConfig } from '@dtx/coordinator';
 *
 * const config = loadConfig(process.env);
 * const app = createServer(engine, {
 *   logger: pino(),
 *   auth: new CallerAuth(config.apiTokens, config.insecure),
 *   admin: { auth: new AdminAuth(config.adminTokens), store: adminStore, now: Date.now },
 *   defaultTimeoutMs: config.defaultTimeoutMs,
 *   maxTimeoutMs: config.maxTimeoutMs,
 *   submitWaitMs: config.submitWaitMs,
 *   opsToken: config.opsToken,
 * });
 * await app.listen({ host: config.host, port: config.port });
 * ```
 */
export function createServer(engine: Pick<Engine, 'service' | 'operators' | 'rowLocks'>, options: ServerOptions): FastifyInstance {
  return buildApi({ ...options, service: engine.service, rowLocks: engine.rowLocks, admin: { ...options.admin, operators: engine.operators } });
}
