/**
 * Health for orchestrators and scripts:
 *
 * - `GET /health/live` (and `GET /health`, kept for the scripts and tests
 *   that poll it): the process is up and serving. No dependency is asked, so
 *   an outage of the database never gets a healthy process restarted.
 * - `GET /health/ready`: the transaction log and the queue answer, each
 *   within a short bound; otherwise 503 naming which one is down, so that a
 *   load balancer sends no traffic here meanwhile.
 *
 * Neither needs a token, and neither shows an error's text (it may name
 * hosts): only up/down and the kind of outage. The cause goes to the log.
 */
import type { FastifyInstance } from 'fastify';
import { DOC_TAGS } from './openapi.ts';
import { classifyOutage, type Dependency, type OutageKind } from './outage.ts';

export interface HealthRoutesOptions {
  /** Resolves once the transaction log answered a trivial query. */
  checkLog?: () => Promise<void>;
  /** Resolves once the queue's server answered a ping. */
  checkQueue?: () => Promise<void>;
  /** Bound on each readiness check; default 1000 ms (the checks run in parallel). */
  checkTimeoutMs?: number;
}

export type CheckResult = { up: true } | { up: false; kind: OutageKind };

export interface Readiness {
  statusCode: 200 | 503;
  body: Record<string, unknown>;
}

const DEPENDENCY_NAMES: Record<Dependency, string> = { log: 'the transaction log', queue: 'the recovery queue' };

/** The readiness answer for the checks' results: 200 when every one is up, else 503 naming those down. */
export function readiness(results: Partial<Record<Dependency, CheckResult>>): Readiness {
  const entries = Object.entries(results) as [Dependency, CheckResult][];
  const checks = Object.fromEntries(entries.map(([name, result]) => [name, result.up ? 'up' : 'down']));
  const down = entries.flatMap(([name, result]) => (result.up ? [] : [`${DEPENDENCY_NAMES[name]} (${result.kind})`]));
  if (down.length === 0) return { statusCode: 200, body: { status: 'ready', checks } };
  return { statusCode: 503, body: { code: 'NOT_READY', message: `not ready: ${down.join(' and ')} unavailable`, checks } };
}

const DEFAULT_CHECK_TIMEOUT_MS = 1_000;

class CheckTimedOut extends Error {}

/**
 * One check, bounded, and shared: readiness probes arriving while a check is
 * still running wait for that one instead of piling more queries onto a
 * struggling server.
 */
function boundedCheck(check: () => Promise<void>, timeoutMs: number, onError: (error: unknown) => void): () => Promise<CheckResult> {
  let running: Promise<CheckResult> | null = null;
  const run = async (): Promise<CheckResult> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new CheckTimedOut()), timeoutMs);
    });
    const attempt = check();
    try {
      await Promise.race([attempt, timeout]);
      return { up: true };
    } catch (error) {
      if (error instanceof CheckTimedOut) return { up: false, kind: 'timeout' };
      onError(error);
      // A check that failed without a recognised cause still means the dependency did not answer.
      return { up: false, kind: classifyOutage(error)?.kind ?? 'unreachable' };
    } finally {
      clearTimeout(timer);
      // A check that outlives its bound ends on its own; its outcome no longer matters.
      attempt.catch(() => undefined);
    }
  };
  return () => {
    running ??= run().finally(() => (running = null));
    return running;
  };
}

export async function healthRoutes(app: FastifyInstance, options: HealthRoutesOptions): Promise<void> {
  const timeoutMs = options.checkTimeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
  const checks: [Dependency, () => Promise<CheckResult>][] = [];
  for (const [name, check] of [
    ['log', options.checkLog],
    ['queue', options.checkQueue],
  ] as const) {
    if (!check) continue;
    checks.push([name, boundedCheck(check, timeoutMs, (error) => app.log.warn({ err: error, dependency: name }, 'readiness check failed'))]);
  }

  const live = async () => ({ status: 'ok' });
  app.get('/health', { schema: { tags: [DOC_TAGS.operations], summary: 'Liveness (the same as /health/live)' } }, live);
  app.get('/health/live', { schema: { tags: [DOC_TAGS.operations], summary: 'Liveness: the process is up (no dependency is checked)' } }, live);
  app.get(
    '/health/ready',
    { schema: { tags: [DOC_TAGS.operations], summary: 'Readiness: the transaction log and the queue answer (503 naming those that do not)' } },
    async (_request, reply) => {
      const results = await Promise.all(checks.map(async ([name, check]) => [name, await check()] as const));
      const answer = readiness(Object.fromEntries(results));
      return reply.status(answer.statusCode).header('cache-control', 'no-store').send(answer.body);
    },
  );
}
