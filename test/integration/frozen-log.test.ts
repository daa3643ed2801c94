/**
 * A frozen log database must not hang the coordinator. MariaDB SIGSTOPped
 * keeps its TCP connections established and takes statements, but never
 * answers: with the statement bound (DTX_MYSQL_QUERY_TIMEOUT_MS) a request
 * answers 503 LOG_UNAVAILABLE within it, readiness says the log is down, and
 * recovery and the reconciler give up instead of waiting. Once it runs again,
 * requests succeed, a timed-out connection is never lent again, and what a
 * timed-out write left behind is what docs/protocol.md says it may be: a
 * transaction whose COMMIT had not reached the server never commits.
 *
 * The MariaDB is private to this file, so that freezing it disturbs no other
 * file; every test thaws it in a `finally`.
 */
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { classifyOutage } from '../../coordinator/api/outage.ts';
import { connectMysql } from '../../coordinator/store/mysql/connect.ts';
import { connectBatchPool, MysqlBatch, type Statement } from '../../coordinator/store/mysql/mysql-batch.ts';
import { MysqlWriter } from '../../coordinator/store/mysql/mysql-writer.ts';
import { StatementTimeoutError } from '../../coordinator/store/ports/store-errors.ts';
import { startInProcessCoordinator, TEST_API_HEADERS, testEnv, type InProcessCoordinator } from '../support/coordinator-harness.ts';
import { uniqueRedisPrefix } from '../support/databases.ts';
import { uniqueGid } from '../support/recovery-helpers.ts';
import { startMariadb, type MariadbServer } from '../../tools/servers.ts';
import { waitFor } from '../../tools/wait.ts';

/** The statement bound of this file's coordinator and pools: short, so that each frozen test takes seconds. */
const QUERY_TIMEOUT_MS = 1_500;
/** What a bounded call may take beyond its bound on a busy 2-core machine. */
const MARGIN_MS = 2_000;
/** Readiness' own bound on each check (api/health-routes.ts). */
const READINESS_CHECK_MS = 1_000;
const DATABASE = 'dtx_frozen';

let mariadb: MariadbServer | undefined;
let coordinator: InProcessCoordinator | undefined;
let admin: Connection | undefined;
const databaseUrl = () => `${mariadb!.url}/${DATABASE}`;

beforeAll(async () => {
  mariadb = await startMariadb();
  coordinator = await startInProcessCoordinator(
    testEnv(databaseUrl(), inject('redisUrl'), uniqueRedisPrefix('frozen-log'), { DTX_MYSQL_QUERY_TIMEOUT_MS: String(QUERY_TIMEOUT_MS) }),
  );
  admin = await createConnection({ uri: databaseUrl(), connectTimeout: 10_000 });
  await admin.query('CREATE TABLE frozen_probe (id INT PRIMARY KEY)');
});

afterAll(async () => {
  // A test that failed half-way may have left it frozen: nothing below could end then.
  mariadb?.thaw();
  await admin?.end();
  await coordinator?.stop();
  await mariadb?.stop();
});

interface Settled<T> {
  ok: boolean;
  value?: T;
  error?: unknown;
  elapsedMs: number;
}

/** How `work` settled, failing the test if it is still pending `boundMs` after it started (the old coordinator waited forever). */
async function within<T>(what: string, boundMs: number, work: Promise<T>): Promise<Settled<T>> {
  const started = Date.now();
  let settled: Settled<T> | null = null;
  work.then(
    (value) => (settled = { ok: true, value, elapsedMs: Date.now() - started }),
    (error: unknown) => (settled = { ok: false, error, elapsedMs: Date.now() - started }),
  );
  const outcome = await waitFor(() => settled, {
    what: `${what} to settle within ${boundMs} ms while the log database is frozen`,
    timeoutMs: boundMs,
    intervalMs: 20,
  });
  return outcome!;
}

/** What `work` rejected with, within `boundMs`. */
async function rejectionWithin(what: string, boundMs: number, work: Promise<unknown>): Promise<unknown> {
  const settled = await within(what, boundMs, work);
  expect(settled.ok, `${what} should have failed`).toBe(false);
  return settled.error;
}

async function call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const response = await fetch(`${coordinator!.url}${path}`, {
    method,
    headers: { ...TEST_API_HEADERS, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
}

function expectLogTimeout(answer: Awaited<ReturnType<typeof call>>, what: string): void {
  expect(answer.status, `${what}: ${JSON.stringify(answer.body)}`).toBe(503);
  expect(answer.body, what).toEqual({ code: 'LOG_UNAVAILABLE', message: expect.stringContaining('(timeout)') });
  expect(answer.headers.get('retry-after'), what).toMatch(/^\d+$/);
}

async function rowsOf(sql: string, values: unknown[] = []): Promise<RowDataPacket[]> {
  const [rows] = await admin!.query<RowDataPacket[]>(sql, values);
  return rows;
}

/**
 * Once the server runs again it reads what a closed connection had sent, then
 * its end, and only then drops the connection's thread: after that, whatever
 * that connection left is in the log or never will be.
 */
async function serverDone(connectionId: number): Promise<void> {
  await waitFor(async () => (await rowsOf('SELECT ID FROM information_schema.PROCESSLIST WHERE ID = ?', [connectionId])).length === 0, {
    what: `the server to end connection ${connectionId} after the thaw`,
    timeoutMs: 10_000,
  });
}

async function probeIds(): Promise<number[]> {
  return (await rowsOf('SELECT id FROM frozen_probe ORDER BY id')).map((row) => Number(row['id']));
}

const CONNECTION_ID: Statement = { sql: 'SELECT CONNECTION_ID() AS id', values: [] };
const connectionIdOf = (results: unknown[]) => Number((results[0] as { id: number }[])[0]!.id);
const insertProbe = (id: number): Statement => ({ sql: 'INSERT INTO frozen_probe (id) VALUES (?)', values: [id] });

describe('the coordinator on a frozen log database', () => {
  it('answers a begin 503 LOG_UNAVAILABLE within the statement bound; re-sent after the thaw, the log holds it once', { timeout: 90_000 }, async () => {
    // Warm both pools: their connections are idle and established when the server freezes.
    const warm = uniqueGid('frozen-warm');
    expect((await call('POST', '/v1/transactions', { gid: warm, timeoutMs: 60_000 })).status).toBe(201);
    expect((await call('GET', `/v1/transactions/${warm}`)).status).toBe(200);

    const gid = uniqueGid('frozen-begin');
    await mariadb!.freeze();
    try {
      const begin = await within('a begin', QUERY_TIMEOUT_MS + MARGIN_MS, call('POST', '/v1/transactions', { gid, timeoutMs: 60_000 }));
      expectLogTimeout(begin.value!, 'begin');

      const [query, ready] = await Promise.all([
        within('a query', QUERY_TIMEOUT_MS + MARGIN_MS, call('GET', `/v1/transactions/${warm}`)),
        within('readiness', READINESS_CHECK_MS + MARGIN_MS, call('GET', '/health/ready')),
      ]);
      expectLogTimeout(query.value!, 'query');
      expect(ready.value!.status).toBe(503);
      expect(ready.value!.body).toMatchObject({ code: 'NOT_READY', checks: { log: 'down' } });
      expect((await call('GET', '/health/live')).status).toBe(200);
    } finally {
      mariadb!.thaw();
    }

    await waitFor(async () => (await call('GET', '/health/ready')).status === 200, { what: 'readiness after the thaw', timeoutMs: 30_000, intervalMs: 100 });
    // The timed-out begin's COMMIT had reached the server with its statements: it may have landed.
    // The documented answer is to send it again: either way the transaction is there once.
    const again = await call('POST', '/v1/transactions', { gid, timeoutMs: 60_000 });
    expect([200, 201], JSON.stringify(again.body)).toContain(again.status);
    expect(again.body['created']).toBe(again.status === 201);
    expect(await rowsOf('SELECT gid FROM dtx_global WHERE gid = ?', [gid])).toHaveLength(1);
    const submit = await call('POST', `/v1/transactions/${gid}/submit`, { waitMs: 5_000 });
    expect(submit.status, JSON.stringify(submit.body)).toBe(200);
    expect(submit.body['status']).toBe('confirmed');
  });

  it('lets readiness, recovery and the reconciler give up within the bound, and run again after the thaw', { timeout: 90_000 }, async () => {
    const { coordinator: running } = coordinator!;
    const gid = uniqueGid('frozen-recover');
    expect((await call('POST', '/v1/transactions', { gid, timeoutMs: 60_000 })).status).toBe(201);

    await mariadb!.freeze();
    try {
      const failures = await Promise.all([
        rejectionWithin("readiness' log check", QUERY_TIMEOUT_MS + MARGIN_MS, running.store.ping()),
        rejectionWithin('a reconciler pass', QUERY_TIMEOUT_MS + MARGIN_MS, running.reconciler.pass()),
        rejectionWithin('a recovery of a transaction', QUERY_TIMEOUT_MS + MARGIN_MS, running.service.recover(gid)),
      ]);
      for (const error of failures) expect(classifyOutage(error)).toEqual({ dependency: 'log', kind: 'timeout' });
    } finally {
      mariadb!.thaw();
    }

    await waitFor(async () => (await call('GET', '/health/ready')).status === 200, { what: 'readiness after the thaw', timeoutMs: 30_000, intervalMs: 100 });
    await expect(running.reconciler.pass()).resolves.toBeDefined();
    const submit = await call('POST', `/v1/transactions/${gid}/submit`, { waitMs: 5_000 });
    expect(submit.status, JSON.stringify(submit.body)).toBe(200);
    expect(submit.body['status']).toBe('confirmed');
  });
});

describe("the store's pools: the statement bound", () => {
  it("cuts a statement that outlasts the bound, but not on the migrations' pool (a table rebuild takes minutes)", async () => {
    const bounded = connectMysql({ url: databaseUrl(), poolMax: 1, queryTimeoutMs: 300 });
    const migrations = connectMysql({ url: databaseUrl(), poolMax: 1, queryTimeoutMs: 300, boundStatements: false });
    try {
      // Connected first: on a busy machine a connect can outlast a 300 ms bound too, and then the
      // acquire, not the statement, would be what fails.
      for (const pool of [bounded, migrations]) {
        const connected = () =>
          pool.raw('SELECT 1').then(
            () => true,
            () => false,
          );
        await waitFor(connected, { what: 'a connection within the bound', timeoutMs: 20_000, intervalMs: 50 });
      }
      await expect(bounded.raw('SELECT SLEEP(1)')).rejects.toBeInstanceOf(StatementTimeoutError);
      await expect(migrations.raw('SELECT SLEEP(1) AS slept')).resolves.toEqual([[{ slept: 0 }], expect.anything()]);
    } finally {
      await Promise.all([bounded.destroy(), migrations.destroy()]);
    }
  });

  it('rolls back a transaction whose statement (not its COMMIT) timed out, and lends that connection never again', { timeout: 60_000 }, async () => {
    await admin!.query('DELETE FROM frozen_probe');
    const knex = connectMysql({ url: databaseUrl(), poolMax: 1, queryTimeoutMs: QUERY_TIMEOUT_MS });
    try {
      const writer = new MysqlWriter(knex);
      let connectionId = 0;
      const writing = writer.write(async (trx) => {
        const [rows] = (await trx.raw('SELECT CONNECTION_ID() AS id')) as unknown as [{ id: number }[]];
        connectionId = Number(rows[0]!.id);
        await trx('frozen_probe').insert({ id: 1 });
        await mariadb!.freeze();
        // Reaches the server's socket; the server runs it only after the thaw.
        await trx('frozen_probe').insert({ id: 2 });
      });
      let error: unknown;
      try {
        error = await rejectionWithin('a knex transaction', QUERY_TIMEOUT_MS + MARGIN_MS, writing);
      } finally {
        mariadb!.thaw();
      }
      expect(error).toBeInstanceOf(StatementTimeoutError);
      // knex answers with its ROLLBACK's failure: never sent, like the COMMIT.
      expect((error as StatementTimeoutError).sent).toBe(false);

      await serverDone(connectionId);
      expect(await probeIds()).toEqual([]);
      // The pool's one connection timed out: the next statement gets a new one, and at once.
      const next = await within('the next statement after the thaw', QUERY_TIMEOUT_MS, Promise.resolve(knex.raw('SELECT CONNECTION_ID() AS id')));
      const [rows] = next.value as [{ id: number }[]];
      expect(Number(rows[0]!.id)).not.toBe(connectionId);
    } finally {
      await knex.destroy();
    }
  });

  it('fails a batch in flight (its COMMIT sent: may land) and one waiting behind it (never sent: never lands)', { timeout: 60_000 }, async () => {
    await admin!.query('DELETE FROM frozen_probe');
    const knex = connectMysql({ url: databaseUrl(), poolMax: 1, queryTimeoutMs: QUERY_TIMEOUT_MS });
    const pool = connectBatchPool(databaseUrl(), 2, QUERY_TIMEOUT_MS);
    try {
      // One batch at a time: the second waits for the first, and gives up unsent after half the bound.
      const batch = new MysqlBatch(pool, new MysqlWriter(knex), { maxConcurrent: 1, maxGroup: 32, maxWaitMs: QUERY_TIMEOUT_MS / 2 });
      const connectionId = connectionIdOf(await batch.transaction([CONNECTION_ID]));
      // The warm-up's slot frees just after its caller resumes: until then a new batch would wait, and be grouped with the next.
      await new Promise((resolve) => setImmediate(resolve));
      await mariadb!.freeze();
      let failures: unknown[];
      try {
        failures = await Promise.all([
          rejectionWithin('a batch in flight', QUERY_TIMEOUT_MS + MARGIN_MS, batch.transaction([insertProbe(10)])),
          rejectionWithin('a batch waiting', QUERY_TIMEOUT_MS + MARGIN_MS, batch.transaction([insertProbe(11)])),
        ]);
      } finally {
        mariadb!.thaw();
      }
      const [inFlight, waiting] = failures as StatementTimeoutError[];
      expect(inFlight).toBeInstanceOf(StatementTimeoutError);
      expect(inFlight!.sent).toBe(true);
      expect(waiting).toBeInstanceOf(StatementTimeoutError);
      expect(waiting!.sent).toBe(false);

      await serverDone(connectionId);
      // 10 may have committed after the thaw (its COMMIT travelled with it); 11 never reached the server.
      expect(await probeIds()).not.toContain(11);
      const next = await within('the next batch after the thaw', QUERY_TIMEOUT_MS, batch.transaction([CONNECTION_ID]));
      expect(connectionIdOf(next.value!)).not.toBe(connectionId);
    } finally {
      await pool.end();
      await knex.destroy();
    }
  });

  it('fails every transaction of a group that timed out with its error, instead of running each again alone', { timeout: 60_000 }, async () => {
    const knex = connectMysql({ url: databaseUrl(), poolMax: 1, queryTimeoutMs: QUERY_TIMEOUT_MS });
    const pool = connectBatchPool(databaseUrl(), 2, QUERY_TIMEOUT_MS);
    try {
      const writer = new MysqlWriter(knex);
      // Two idle connections: the first batch and the group after it each get one.
      const warm = new MysqlBatch(pool, writer, { maxConcurrent: 2, maxGroup: 32 });
      await Promise.all([warm.transaction([{ sql: 'SELECT SLEEP(0.05)', values: [] }]), warm.transaction([{ sql: 'SELECT SLEEP(0.05)', values: [] }])]);
      const batch = new MysqlBatch(pool, writer, { maxConcurrent: 1, maxGroup: 32, maxWaitMs: 10 * QUERY_TIMEOUT_MS });
      await mariadb!.freeze();
      let failures: unknown[];
      try {
        // The first is sent alone; the two behind it wait for it, then go as one group.
        const bound = 2 * QUERY_TIMEOUT_MS + MARGIN_MS;
        failures = await Promise.all([
          rejectionWithin('the first batch', bound, batch.transaction([CONNECTION_ID])),
          rejectionWithin('a grouped batch', bound, batch.transaction([CONNECTION_ID])),
          rejectionWithin('the other grouped batch', bound, batch.transaction([CONNECTION_ID])),
        ]);
      } finally {
        mariadb!.thaw();
      }
      const [, grouped, otherGrouped] = failures;
      expect(grouped).toBeInstanceOf(StatementTimeoutError);
      expect(otherGrouped).toBe(grouped);
    } finally {
      await pool.end();
      await knex.destroy();
    }
  });
});
