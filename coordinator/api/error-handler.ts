/**
 * Every error leaves the API as JSON `{code, message}` with a 4xx for bad
 * requests and refusals, a 503 with `retry-after` when the transaction log
 * or the queue is unavailable (an expected condition: the caller retries,
 * see outage.ts), and a bare 500 (details only in the log) for anything
 * unexpected. Never a stack trace.
 */
import type { FastifyError, FastifyInstance } from 'fastify';
import { TransactionRefusedError, type RefusalCode } from '../domain/refusal.ts';
import { RowLockAuthError } from '../engine/row-lock-service.ts';
import { classifyOutage, OUTAGE_CODES, outageMessage, RETRY_AFTER_SECONDS } from './outage.ts';

const REFUSAL_STATUS: Record<RefusalCode, number> = {
  NOT_FOUND: 404,
  ILLEGAL_STATE: 409,
  GID_CONFLICT: 409,
  BRANCH_CONFLICT: 409,
  DEADLINE_PASSED: 409,
  UNSUPPORTED_MODE: 400,
  INVALID_OPERATIONS: 400,
  INVALID_STEPS: 400,
  INVALID_URL: 400,
  PARTICIPANT_NOT_ALLOWED: 403,
  OUT_OF_SCOPE: 403,
  NOT_OWNER: 403,
  NOT_REGISTERED: 409,
};

/** Fastify's own client-error codes, renamed into the API's vocabulary. */
const FRAMEWORK_CODES: Record<string, string> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'INVALID_CONTENT_LENGTH',
};

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | TransactionRefusedError, request, reply) => {
    if (error instanceof TransactionRefusedError) {
      return reply.status(REFUSAL_STATUS[error.code]).send({ code: error.code, message: error.message, ...(error.status ? { status: error.status } : {}) });
    }
    if (error instanceof RowLockAuthError) return reply.status(401).send({ code: 'BAD_SIGNATURE', message: error.message });
    if (error.validation) {
      return reply.status(400).send({ code: 'INVALID_REQUEST', message: error.message });
    }
    const statusCode = error.statusCode ?? 500;
    if (statusCode >= 400 && statusCode < 500) {
      const code = FRAMEWORK_CODES[error.code] ?? (error.code && !error.code.startsWith('FST_') ? error.code : 'BAD_REQUEST');
      return reply.status(statusCode).send({ code, message: error.message });
    }
    const outage = classifyOutage(error);
    if (outage) {
      request.log.warn({ err: error, dependency: outage.dependency, kind: outage.kind }, 'request failed: dependency unavailable');
      return reply
        .status(503)
        .header('retry-after', String(RETRY_AFTER_SECONDS))
        .send({ code: OUTAGE_CODES[outage.dependency], message: outageMessage(outage) });
    }
    request.log.error({ err: error }, 'request failed');
    return reply.status(500).send({ code: 'INTERNAL', message: 'internal error; see the coordinator log' });
  });
  app.setNotFoundHandler((request, reply) => reply.status(404).send({ code: 'ROUTE_NOT_FOUND', message: `no route ${request.method} ${request.url}` }));
}
