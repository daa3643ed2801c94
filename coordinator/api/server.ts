/** The coordinator's Fastify application: routes, schemas, error shape. */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { installErrorHandling } from './error-handler.ts';
import { transactionRoutes, type TransactionRoutesOptions } from './transaction-routes.ts';

export interface ApiOptions extends TransactionRoutesOptions {
  logger: Logger;
}

export function buildApi(options: ApiOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    // Per-request access lines would dominate the log on the hot path; transactions log their own lines with the gid.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    // Keep-alive from initiators: a connection per request would dominate a short transaction.
    keepAliveTimeout: 65_000,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  });
  installErrorHandling(app);
  app.get('/health', async () => ({ status: 'ok' }));
  void app.register(transactionRoutes, { ...options, prefix: '/v1' });
  return app;
}
