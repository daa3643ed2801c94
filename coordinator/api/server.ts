/** The coordinator's Fastify application: routes, schemas, error shape. */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import { LIMITS } from '../../participant-sdk/protocol/wire.ts';
import { installErrorHandling } from './error-handler.ts';
import { adminRoutes, type AdminRoutesOptions } from './admin-routes.ts';
import { consoleRoutes } from './console-routes.ts';
import { transactionRoutes, type TransactionRoutesOptions } from './transaction-routes.ts';
import { DOC_TAGS, registerOpenApi } from './openapi.ts';

export interface ApiOptions extends TransactionRoutesOptions {
  logger: Logger;
  admin: Omit<AdminRoutesOptions, 'transactions' | 'submitWaitMs'>;
  /** Prometheus exposition at GET /metrics; none when absent. */
  metrics?: { readonly contentType: string; render(): Promise<string> };
}

/**
 * JSON bodies as usual, except that an empty body sent with a JSON content
 * type counts as no body (many HTTP clients send the header anyway).
 */
function acceptEmptyJsonBodies(app: FastifyInstance): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch {
      done(Object.assign(new Error('body is not valid JSON'), { statusCode: 400, code: 'FST_ERR_CTP_INVALID_JSON_BODY' }), undefined);
    }
  });
}

/** GET /health and, when metrics are on, GET /metrics (in a plugin, so they load after the OpenAPI collector). */
async function operationsRoutes(app: FastifyInstance, options: Pick<ApiOptions, 'metrics'>): Promise<void> {
  app.get('/health', { schema: { tags: [DOC_TAGS.operations], summary: 'Liveness' } }, async () => ({ status: 'ok' }));
  const metrics = options.metrics;
  if (!metrics) return;
  app.get('/metrics', { schema: { tags: [DOC_TAGS.operations], summary: 'Prometheus metrics (text exposition format)' } }, async (_request, reply) => {
    const text = await metrics.render();
    return reply.header('content-type', metrics.contentType).header('cache-control', 'no-store').send(text);
  });
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
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
    // Malformed or over-long URLs are refused by the router before any hook:
    // give them the API's error shape too.
    frameworkErrors: (error, _request, routerReply) => {
      const reply = routerReply as unknown as FastifyReply;
      void reply.status(error.statusCode ?? 400).send({ code: error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'URI_TOO_LONG' : 'BAD_URL', message: error.message });
    },
  });
  acceptEmptyJsonBodies(app);
  installErrorHandling(app);
  // Before any route: the document is collected from the routes as they are added.
  registerOpenApi(app);
  void app.register(operationsRoutes, { metrics: options.metrics });
  void app.register(transactionRoutes, { ...options, prefix: '/v1' });
  void app.register(adminRoutes, { ...options.admin, transactions: options.service, submitWaitMs: options.submitWaitMs, prefix: '/admin/v1' });
  void app.register(consoleRoutes);
  return app;
}
