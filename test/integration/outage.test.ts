/**
 * An outage of the transaction log is an expected condition (docs/operations.md):
 * with the coordinator's MariaDB SIGKILLed, begin, submit and query answer
 * 503 LOG_UNAVAILABLE with `retry-after` (never a 500), liveness stays up and
 * readiness says the log is down; once MariaDB is back, the same calls succeed.
 * Redis going away only takes readiness down: the API does not need the queue.
 * Both servers are private to this file: the tests kill them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcessCoordinator, testEnv, TEST_API_HEADERS, type InProcessCoordinator } from '../support/coordinator-harness.ts';
import { uniqueRedisPrefix } from '../support/databases.ts';
import { uniqueGid } from '../support/recovery-helpers.ts';
import { startMariadb, startRedis, type MariadbServer, type RedisServer } from '../../tools/servers.ts';
import { waitFor } from '../../tools/wait.ts';

let mariadb: MariadbServer | undefined;
let redis: RedisServer | undefined;
let coordinator: InProcessCoordinator | undefined;

beforeAll(async () => {
  [mariadb, redis] = await Promise.all([startMariadb(), startRedis()]);
  coordinator = await startInProcessCoordinator(testEnv(`${mariadb.url}/dtx_outage`, redis.url, uniqueRedisPrefix('outage')));
});

afterAll(async () => {
  // A server may still be down if a test failed half-way: stopping must not wait on it.
  await Promise.allSettled([mariadb?.start(), redis?.start()]);
  await coordinator?.stop();
  await Promise.allSettled([mariadb?.stop(), redis?.stop()]);
});

async function call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const response = await fetch(`${coordinator!.url}${path}`, {
    method,
    headers: { ...TEST_API_HEADERS, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
}

function expectLogUnavailable(answer: Awaited<ReturnType<typeof call>>, what: string): void {
  expect(answer.status, `${what}: ${JSON.stringify(answer.body)}`).toBe(503);
  expect(answer.body, what).toEqual({ code: 'LOG_UNAVAILABLE', message: expect.stringMatching(/retry/) });
  expect(answer.headers.get('retry-after'), what).toMatch(/^\d+$/);
}

describe('the transaction log going away and coming back', () => {
  it('answers 503 LOG_UNAVAILABLE while MariaDB is down, and succeeds again once it is back', { timeout: 120_000 }, async () => {
    const begun = uniqueGid('outage-a');
    expect((await call('POST', '/v1/transactions', { gid: begun, timeoutMs: 60_000 })).status).toBe(201);
    expect((await call('GET', '/health/ready')).status).toBe(200);

    await mariadb!.kill('SIGKILL');

    const later = uniqueGid('outage-b');
    // Twice each: the first call may meet a pooled connection the kill left dead, the second a refused connect.
    for (let round = 1; round <= 2; round++) {
      expectLogUnavailable(await call('POST', '/v1/transactions', { gid: later, timeoutMs: 60_000 }), `begin, round ${round}`);
      expectLogUnavailable(await call('POST', `/v1/transactions/${begun}/submit`, { waitMs: 0 }), `submit, round ${round}`);
      expectLogUnavailable(await call('GET', `/v1/transactions/${begun}`), `query, round ${round}`);
    }
    const live = await call('GET', '/health/live');
    expect(live.status).toBe(200);
    const ready = await call('GET', '/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ code: 'NOT_READY', checks: { log: 'down', queue: 'up' } });

    await mariadb!.start();
    await waitFor(async () => (await call('GET', '/health/ready')).status === 200, {
      what: 'readiness once MariaDB is back',
      timeoutMs: 30_000,
      intervalMs: 200,
    });

    const begin = await call('POST', '/v1/transactions', { gid: later, timeoutMs: 60_000 });
    expect(begin.status, JSON.stringify(begin.body)).toBe(201);
    const submit = await call('POST', `/v1/transactions/${begun}/submit`, { waitMs: 5_000 });
    expect(submit.status, JSON.stringify(submit.body)).toBe(200);
    expect(submit.body['status']).toBe('confirmed');
    const query = await call('GET', `/v1/transactions/${begun}`);
    expect(query.status).toBe(200);
    expect((query.body['transaction'] as { status: string }).status).toBe('confirmed');
  });
});

describe('the queue going away and coming back', () => {
  it('takes readiness down, naming the queue, while transactions still begin and finish', { timeout: 120_000 }, async () => {
    await redis!.kill('SIGKILL');
    await waitFor(async () => (await call('GET', '/health/ready')).status === 503, {
      what: 'readiness to notice Redis is gone',
      timeoutMs: 10_000,
      intervalMs: 100,
    });
    const ready = await call('GET', '/health/ready');
    expect(ready.body).toMatchObject({ code: 'NOT_READY', checks: { log: 'up', queue: 'down' } });
    expect((await call('GET', '/health')).status).toBe(200);

    // MySQL holds the truth and the happy path runs phase two itself.
    const gid = uniqueGid('outage-q');
    expect((await call('POST', '/v1/transactions', { gid, timeoutMs: 60_000 })).status).toBe(201);
    const submit = await call('POST', `/v1/transactions/${gid}/submit`, { waitMs: 5_000 });
    expect(submit.status, JSON.stringify(submit.body)).toBe(200);
    expect(submit.body['status']).toBe('confirmed');

    await redis!.start();
    await waitFor(async () => (await call('GET', '/health/ready')).status === 200, {
      what: 'readiness once Redis is back',
      timeoutMs: 30_000,
      intervalMs: 200,
    });
  });

  it('lets the coordinator stop while Redis is down (its recovery worker between reconnect attempts)', { timeout: 60_000 }, async () => {
    const stopping = await startInProcessCoordinator(testEnv(`${mariadb!.url}/dtx_outage`, redis!.url, uniqueRedisPrefix('outage-stop')));
    const ready = async () => (await fetch(`${stopping.url}/health/ready`, { signal: AbortSignal.timeout(5_000) })).status;
    await waitFor(async () => (await ready()) === 200, { what: 'the second coordinator ready', timeoutMs: 10_000, intervalMs: 100 });
    await redis!.kill('SIGKILL');
    await waitFor(async () => (await ready()) === 503, { what: 'the second coordinator to notice Redis is gone', timeoutMs: 10_000, intervalMs: 100 });

    // A stop that waits for the worker's Redis connection to end never returns: it only ends once reconnected.
    const stopped = await Promise.race([
      stopping.stop().then(() => 'stopped'),
      new Promise<string>((resolve) => setTimeout(() => resolve('still stopping after 20 s'), 20_000).unref()),
    ]);
    expect(stopped).toBe('stopped');
    await redis!.start();
  });
});
