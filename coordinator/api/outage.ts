/**
 * Which dependency an error says is unavailable — the transaction log or
 * the recovery queue — and how. An outage is an expected condition: the API
 * answers it with 503 and a code that tells the caller to retry (see
 * error-handler.ts), never with a 500.
 *
 * Decided from error classes only (the stores classify their drivers'
 * errors themselves), never from message text. Pure: unit-tested on its own.
 */
import { StoreUnavailableError, type StoreOutageKind } from '../store/ports/store-errors.ts';

export type Dependency = 'log' | 'queue';

/** How a dependency is unavailable: the stores' kinds, which the queue's outages use too. */
export type OutageKind = StoreOutageKind;

export interface Outage {
  dependency: Dependency;
  kind: OutageKind;
}

export const OUTAGE_CODES: Record<Dependency, string> = {
  log: 'LOG_UNAVAILABLE',
  queue: 'QUEUE_UNAVAILABLE',
};

/** Seconds a caller is asked to wait before retrying (the `retry-after` header). */
export const RETRY_AFTER_SECONDS = 1;

/**
 * Thrown by code that knows which dependency failed (a readiness check, a
 * call to the queue on a request's path), where the error itself would not tell.
 */
export class DependencyUnavailableError extends Error {
  override readonly name = 'DependencyUnavailableError';
  constructor(
    readonly dependency: Dependency,
    readonly kind: OutageKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** How deep `cause` chains (and the errors of an AggregateError) are followed. */
const MAX_DEPTH = 4;

/**
 * The outage `error` reports, or null if it is not one (a bug, a bad
 * request: not for a retry). The log's outages come as the stores' own
 * StoreUnavailableError, whatever the database; the queue's as a
 * DependencyUnavailableError from the code that called it.
 */
export function classifyOutage(error: unknown, depth = 0): Outage | null {
  if (typeof error !== 'object' || error === null || depth > MAX_DEPTH) return null;
  if (error instanceof DependencyUnavailableError) return { dependency: error.dependency, kind: error.kind };
  if (error instanceof StoreUnavailableError) return { dependency: 'log', kind: error.kind };
  const fields = error as { cause?: unknown; errors?: unknown };
  for (const inner of [fields.cause, ...(Array.isArray(fields.errors) ? fields.errors : [])]) {
    const outage = classifyOutage(inner, depth + 1);
    if (outage) return outage;
  }
  return null;
}

const WHAT: Record<Dependency, string> = { log: 'the transaction log (database)', queue: 'the recovery queue (Redis)' };

/** The message of a 503: what is down and that the same request may be sent again. */
export function outageMessage(outage: Outage): string {
  return `${WHAT[outage.dependency]} is unavailable (${outage.kind}); retry the same request: ` + 'begin with a gid, register, submit and abort are idempotent';
}
