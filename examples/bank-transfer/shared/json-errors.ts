/**
 * The example services' error handler: every error is a JSON `{code,
 * message}`, a bad request a 400 `INVALID_REQUEST`, anything unexpected a
 * logged 500 that says nothing more.
 */
import type { FastifyInstance } from 'fastify';

export function answerErrorsAsJson(app: FastifyInstance): void {
  app.setErrorHandler((error: { validation?: unknown; message: string; statusCode?: number }, request, reply) => {
    if (error.validation) return reply.status(400).send({ code: 'INVALID_REQUEST', message: error.message });
    if (error.statusCode && error.statusCode < 500) return reply.status(error.statusCode).send({ code: 'BAD_REQUEST', message: error.message });
    request.log.error({ err: error }, 'request failed');
    return reply.status(500).send({ code: 'INTERNAL', message: 'internal error' });
  });
}
