/**
 * Liveness and readiness (coordinator/api/health-routes.ts) with stand-in
 * checks: liveness asks no dependency, readiness answers 503 naming the one
 * that is down, within its bound even when a check hangs, and shares a check
 * still running between concurrent probes. The same routes on the real
 * servers: test/integration/outage.test.ts.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { waitFor } from '../../tools/wait.ts';
import { afterEach, describe, expect, it } from 'vitest';
import { healthRoutes, readiness, type HealthRoutesOptions } from '../../coordinator/api/health-routes.ts';

const refused = () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED 10.0.0.7:3306'), { code: 'ECONNREFUSED', fatal: true }));
const up = () => Promise.resolve();

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

/** Requests that reached a route (counted before its handler runs). */
let routed = 0;

async function serve(options: HealthRoutesOptions): Promise<FastifyInstance> {
  app = Fastify({ logger: false });
  routed = 0;
  app.addHook('preHandler', async () => {
    routed++;
  });
  await app.register(healthRoutes, options);
  await app.ready();
  return app;
}

describe('readiness (the decision)', () => {
  it('is ready when every check is up', () => {
    expect(readiness({ log: { up: true }, queue: { up: true } })).toEqual({ statusCode: 200, body: { status: 'ready', checks: { log: 'up', queue: 'up' } } });
  });

  it('names each dependency that is down, and how', () => {
    const answer = readiness({ log: { up: false, kind: 'timeout' }, queue: { up: true } });
    expect(answer.statusCode).toBe(503);
    expect(answer.body).toEqual({ code: 'NOT_READY', message: 'not ready: the transaction log (timeout) unavailable', checks: { log: 'down', queue: 'up' } });
    const both = readiness({ log: { up: false, kind: 'unreachable' }, queue: { up: false, kind: 'connection-lost' } });
    expect(both.body['message']).toBe('not ready: the transaction log (unreachable) and the recovery queue (connection-lost) unavailable');
  });
});

describe('the health routes', () => {
  it('answer liveness on /health and /health/live without asking any dependency', async () => {
    let asked = 0;
    const count = () => {
      asked++;
      return refused();
    };
    const server = await serve({ checkLog: count, checkQueue: count });
    for (const url of ['/health', '/health/live']) {
      const response = await server.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBe(200);
      expect(response.json()).toEqual({ status: 'ok' });
    }
    expect(asked).toBe(0);
  });

  it('answer readiness 200 when the log and the queue answer', async () => {
    const server = await serve({ checkLog: up, checkQueue: up });
    const response = await server.inject({ method: 'GET', url: '/health/ready' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ready', checks: { log: 'up', queue: 'up' } });
  });

  it('answer readiness 503 naming the log when it is down, without showing the error text', async () => {
    const server = await serve({ checkLog: refused, checkQueue: up });
    const response = await server.inject({ method: 'GET', url: '/health/ready' });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toEqual({
      code: 'NOT_READY',
      message: 'not ready: the transaction log (unreachable) unavailable',
      checks: { log: 'down', queue: 'up' },
    });
    expect(response.body).not.toContain('10.0.0.7');
  });

  it('count a check failing with an unrecognised error as unreachable', async () => {
    const server = await serve({ checkLog: up, checkQueue: () => Promise.reject(new Error("Stream isn't writeable")) });
    const response = await server.inject({ method: 'GET', url: '/health/ready' });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toMatchObject({ message: 'not ready: the recovery queue (unreachable) unavailable', checks: { log: 'up', queue: 'down' } });
  });

  it('answer readiness 503 within the bound when a check hangs (the queue here)', async () => {
    const server = await serve({ checkLog: up, checkQueue: () => new Promise<void>(() => undefined), checkTimeoutMs: 100 });
    const started = Date.now();
    const response = await server.inject({ method: 'GET', url: '/health/ready' });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(response.statusCode).toBe(503);
    expect(response.json()).toMatchObject({ checks: { log: 'up', queue: 'down' }, message: 'not ready: the recovery queue (timeout) unavailable' });
  });

  it('share a check still running between concurrent probes', async () => {
    let calls = 0;
    let finish: () => void = () => undefined;
    const slow = () => {
      calls++;
      return new Promise<void>((resolve) => (finish = resolve));
    };
    const server = await serve({ checkLog: slow, checkQueue: up, checkTimeoutMs: 5_000 });
    const probes = Promise.all([1, 2, 3].map(() => server.inject({ method: 'GET', url: '/health/ready' })));
    // Every probe is in its handler (the check starts synchronously there) before the check ends.
    await waitFor(() => routed === 3 && calls === 1, { what: 'three probes on one check', timeoutMs: 5_000, intervalMs: 5 });
    finish();
    const answers = await probes;
    expect(answers.map((a) => a.statusCode)).toEqual([200, 200, 200]);
    expect(calls).toBe(1);
    // The next probe runs a fresh check.
    const next = server.inject({ method: 'GET', url: '/health/ready' });
    await waitFor(() => calls === 2, { what: 'the next probe to start its own check', timeoutMs: 5_000, intervalMs: 5 });
    finish();
    expect((await next).statusCode).toBe(200);
    expect(calls).toBe(2);
  });
});
