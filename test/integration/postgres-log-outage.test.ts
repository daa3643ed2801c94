/**
 * An outage of a PostgreSQL log is an expected condition, as on MySQL
 * (outage.test.ts, frozen-log.test.ts): with the coordinator's PostgreSQL
 * killed, and again while it is frozen (every process SIGSTOPped: sessions
 * keep their TCP connections and never answer), begin, submit and query
 * answer 503 LOG_UNAVAILABLE with `retry-after` — within the statement
 * bound (DTX_LOG_QUERY_TIMEOUT_MS) when frozen — liveness stays up and
 * readiness says the log is down; once the server runs again the same calls
 * succeed. A statement cut by the bound closes its connection: never lent
 * again, and its open transaction rolled back by the server after the thaw.
 *
 * The PostgreSQL server is private to this file: the tests kill and freeze it.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { StatementTimeoutError } from '../../coordinator/store/ports/store-errors.ts';
import { connectPostgres } from '../../coordinator/store/postgres/pg-database.ts';
import { startPostgres, type PostgresServer } from '../../tools/postgres-server.ts';
import { waitFor } from '../../tools/wait.ts';
import { startInProcessCoordinator, TEST_API_HEADERS, testEnv, type InProcessCoordinator } from '../support/coordinator-harness.ts';
import { uniqueRedisPrefix } from '../support/databases.ts';
import { uniqueGid } from '../support/recovery-helpers.ts';

/** The statement bound of this file's coordinator and pools: short, so that each frozen test takes seconds. */
const QUERY_TIMEOUT_MS = 1_500;
/** What a bounded call may take beyond its bound on a busy 2-core machine. */
const MARGIN_MS = 2_000;
/** Readiness' own bound on each check (api/health-routes.ts). */
const READINESS_CHECK_MS = 1_000;

let postgres: PostgresServer | undefined;
let coordinator: InProcessCoordinator | undefined;
let logUrl = '';

beforeAll(async () => {
  postgres = await startPostgres();
  const url = new URL(postgres.url);
  url.pathname = '/dtx_outage';
  logUrl = url.toString();
  coordinator = await startInProcessCoordinator(
    testEnv(logUrl, inject('redisUrl'), uniqueRedisPrefix('postgres-outage'), { DTX_LOG_URL: logUrl, DTX_LOG_QUERY_TIMEOUT_MS: String(QUERY_TIMEOUT_MS) }),
  );
});

afterAll(async () => {
  // A test that failed half-way may have left it frozen or down: nothing below could end then.
  postgres?.thaw();
  await postgres?.start().catch(() => undefined);
  await coordinator?.stop();
  await postgres?.stop();
});

async function call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const response = await fetch(`${coordinator!.url}${path}`, {
    method,
    headers: { ...TEST_API_HEADERS, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
}

function expectLogUnavailable(answer: Awaited<ReturnType<typeof call>>, what: string, kind?: string): void {
  expect(answer.status, `${what}: ${JSON.stringify(answer.body)}`).toBe(503);
  expect(answer.body, what).toEqual({ code: 'LOG_UNAVAILABLE', message: kind ? expect.stringContaining(`(${kind})`) : expect.stringMatching(/retry/) });
  expect(answer.headers.get('retry-after'), what).toMatch(/^\d+$/);
}

/** `work`'s outcome, failing the test if it is still pending `boundMs` after it started. */
async function within<T>(what: string, boundMs: number, work: Promise<T>): Promise<{ ok: boolean; value?: T; error?: unknown }> {
  let settled: { ok: boolean; value?: T; error?: unknown } | null = null;
  work.then(
    (value) => (settled = { ok: true, value }),
    (error: unknown) => (settled = { ok: false, error }),
  );
  return (await waitFor(() => settled, { what: `${what} to settle within ${boundMs} ms while PostgreSQL is frozen`, timeoutMs: boundMs, intervalMs: 20 }))!;
}

const ready = () => waitFor(async () => (await call('GET', '/health/ready')).status === 200, { what: 'readiness', timeoutMs: 30_000, intervalMs: 100 });

describe('the coordinator on a PostgreSQL log that goes away', () => {
  it('answers 503 LOG_UNAVAILABLE while PostgreSQL is down, and succeeds again once it is back', { timeout: 120_000 }, async () => {
    const begun = uniqueGid('pg-outage-a');
    expect((await call('POST', '/v1/transactions', { gid: begun, timeoutMs: 60_000 })).status).toBe(201);
    expect((await call('GET', '/health/ready')).status).toBe(200);

    await postgres!.kill('SIGKILL');

    const later = uniqueGid('pg-outage-b');
    // Twice each: the first call may meet a pooled connection the kill left dying, the second a refused connect.
    for (let round = 1; round <= 2; round++) {
      expectLogUnavailable(await call('POST', '/v1/transactions', { gid: later, timeoutMs: 60_000 }), `begin, round ${round}`);
      expectLogUnavailable(await call('POST', `/v1/transactions/${begun}/submit`, { waitMs: 0 }), `submit, round ${round}`);
      expectLogUnavailable(await call('GET', `/v1/transactions/${begun}`), `query, round ${round}`);
    }
    expect((await call('GET', '/health/live')).status).toBe(200);
    const down = await call('GET', '/health/ready');
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({ code: 'NOT_READY', checks: { log: 'down' } });

    await postgres!.start();
    await ready();
    expect((await call('POST', '/v1/transactions', { gid: later, timeoutMs: 60_000 })).status).toBe(201);
    const submit = await call('POST', `/v1/transactions/${begun}/submit`, { waitMs: 5_000 });
    expect(submit.status, JSON.stringify(submit.body)).toBe(200);
    expect(submit.body['status']).toBe('confirmed');
  });

  it(
    'answers 503 LOG_UNAVAILABLE within the statement bound while PostgreSQL is frozen; re-sent after the thaw, the log holds it once',
    { timeout: 120_000 },
    async () => {
      // Warm the pool: its connections are idle and established when the server freezes.
      const warm = uniqueGid('pg-frozen-warm');
      expect((await call('POST', '/v1/transactions', { gid: warm, timeoutMs: 60_000 })).status).toBe(201);
      expect((await call('GET', `/v1/transactions/${warm}`)).status).toBe(200);

      const gid = uniqueGid('pg-frozen-begin');
      await postgres!.freeze();
      try {
        const begin = await within('a begin', QUERY_TIMEOUT_MS + MARGIN_MS, call('POST', '/v1/transactions', { gid, timeoutMs: 60_000 }));
        expectLogUnavailable(begin.value!, 'begin', 'timeout');
        const [query, readiness] = await Promise.all([
          within('a query', QUERY_TIMEOUT_MS + MARGIN_MS, call('GET', `/v1/transactions/${warm}`)),
          within('readiness', READINESS_CHECK_MS + MARGIN_MS, call('GET', '/health/ready')),
        ]);
        expectLogUnavailable(query.value!, 'query', 'timeout');
        expect(readiness.value!.status).toBe(503);
        expect(readiness.value!.body).toMatchObject({ code: 'NOT_READY', checks: { log: 'down' } });
        expect((await call('GET', '/health/live')).status).toBe(200);
      } finally {
        postgres!.thaw();
      }

      await ready();
      // The timed-out begin was one statement the server had received whole: it may have committed after the thaw.
      // The documented answer is to send it again: either way the transaction is there once.
      const again = await call('POST', '/v1/transactions', { gid, timeoutMs: 60_000 });
      expect([200, 201], JSON.stringify(again.body)).toContain(again.status);
      const submit = await call('POST', `/v1/transactions/${gid}/submit`, { waitMs: 5_000 });
      expect(submit.status, JSON.stringify(submit.body)).toBe(200);
      expect(submit.body['status']).toBe('confirmed');
      const admin = new pg.Client({ connectionString: logUrl });
      await admin.connect();
      try {
        expect((await admin.query('SELECT gid FROM dtx_global WHERE gid = $1', [gid])).rowCount).toBe(1);
      } finally {
        await admin.end();
      }
    },
  );
});

describe("the PostgreSQL store's pool: the statement bound", () => {
  it('rolls back a transaction whose statement timed out, and lends that connection never again', { timeout: 60_000 }, async () => {
    const admin = new pg.Client({ connectionString: logUrl });
    await admin.connect();
    const db = connectPostgres({ url: logUrl, poolMax: 1, queryTimeoutMs: QUERY_TIMEOUT_MS });
    try {
      await admin.query('CREATE TABLE IF NOT EXISTS frozen_probe (id int PRIMARY KEY)');
      await admin.query('DELETE FROM frozen_probe');
      let pid = 0;
      const writing = db.transaction(async (session) => {
        pid = (await session.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
        await session.query('INSERT INTO frozen_probe (id) VALUES (1)');
        await postgres!.freeze();
        // Reaches the server's socket; the server reads it only after the thaw.
        await session.query('INSERT INTO frozen_probe (id) VALUES (2)');
      });
      let outcome: Awaited<ReturnType<typeof within>>;
      try {
        outcome = await within('a transaction', QUERY_TIMEOUT_MS + MARGIN_MS, writing);
      } finally {
        postgres!.thaw();
      }
      expect(outcome.ok).toBe(false);
      expect(outcome.error).toBeInstanceOf(StatementTimeoutError);
      expect((outcome.error as StatementTimeoutError).sent).toBe(true);

      // The server reads EOF after the second insert, and ends the session: its transaction never commits.
      await waitFor(async () => (await admin.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid])).rowCount === 0, {
        what: `the server to end session ${pid} after the thaw`,
      });
      expect((await admin.query('SELECT id FROM frozen_probe')).rows).toEqual([]);
      // The pool's one connection timed out: the next statement gets a new one, and at once.
      const next = await within('the next statement after the thaw', QUERY_TIMEOUT_MS, db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid'));
      expect(next.value!.rows[0]!.pid).not.toBe(pid);
    } finally {
      await db.close();
      await admin.end();
    }
  });
});
