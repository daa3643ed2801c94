/** The coordinator's Fastify application: routes, schemas, error shape. */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { LIMITS } from '../../participant-sdk/protocol/wire.ts';
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
    // The router's default (100) is below the longest valid gid (128): such a
    // transaction could be begun but never submitted, aborted or queried.
    // Room for percent-encoding too, so that over-long ids get the schema's 400.
    routerOptions: { maxParamLength: 3 * LIMITS.gidMaxLength },
    // Keep-alive from initiators: a connection per request would dominate a short transaction.
    keepAliveTimeout: 65_000,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  });
  installErrorHandling(app);
  app.get('/health', async () => ({ status: 'ok' }));
  void app.register(transactionRoutes, { ...options, prefix: '/v1' });
  return app;
}
