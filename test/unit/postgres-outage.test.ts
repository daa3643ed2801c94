/**
 * The PostgreSQL and embedded stores' outage classification
 * (coordinator/store/postgres/postgres-outage.ts): errors as the drivers and
 * the store's adapters really raise them — node-postgres against a closed
 * port, a server that hangs up or never answers, the server's own errors
 * (statement timeout, read-only, too many connections, a terminated
 * session, a deadlock, a serialization failure) and PGlite closed — each the
 * engine's StoreUnavailableError with its kind; anything else left as it is.
 */
import net from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openPglite } from '../../coordinator/store/embedded/pglite-database.ts';
import { StatementTimeoutError, StoreUnavailableError } from '../../coordinator/store/ports/store-errors.ts';
import { DatabaseClosedError, PostgresConnectionLostError } from '../../coordinator/store/postgres/client-errors.ts';
import { openPostgresLog } from '../../coordinator/store/postgres/open-postgres-log.ts';
import { connectPostgres } from '../../coordinator/store/postgres/pg-database.ts';
import { postgresOutageKind, translatePostgresError } from '../../coordinator/store/postgres/postgres-outage.ts';
import { isRetryableConflict, isUniqueViolation } from '../../coordinator/store/postgres/sqlstate.ts';
import { pickFreePort } from '../../tools/free-port.ts';
import { waitFor } from '../../tools/wait.ts';
import { createTestPostgresDatabase, type TestDatabase } from '../support/databases.ts';

/** What a call rejected with. */
async function rejection(work: () => Promise<unknown>): Promise<unknown> {
  try {
    await work();
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

/** A TCP server that accepts and then either hangs up at once or never says a word. */
async function tcpServer(behaviour: 'hang-up' | 'silent'): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    if (behaviour === 'hang-up') socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A client of the test server's database `url` (its own connection). */
async function client(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

describe('postgresOutageKind: node-postgres and the adapter, without a server', () => {
  let hangUp: Awaited<ReturnType<typeof tcpServer>>;
  let silent: Awaited<ReturnType<typeof tcpServer>>;

  beforeAll(async () => {
    [hangUp, silent] = await Promise.all([tcpServer('hang-up'), tcpServer('silent')]);
  });
  afterAll(async () => {
    await Promise.all([hangUp?.close(), silent?.close()]);
  });

  it('connecting to a port nobody listens on: log unreachable', async () => {
    const port = await pickFreePort();
    const direct = await rejection(() => new pg.Client({ host: '127.0.0.1', port, user: 'x', connectionTimeoutMillis: 2_000 }).connect());
    expect(postgresOutageKind(direct)).toBe('unreachable');
    const db = connectPostgres({ url: `postgres://x@127.0.0.1:${port}/x`, poolMax: 1, queryTimeoutMs: 2_000 });
    try {
      expect(postgresOutageKind(await rejection(() => db.query('SELECT 1')))).toBe('unreachable');
    } finally {
      await db.close();
    }
  });

  it('a server that hangs up during the handshake: log connection lost (node-postgres says so only in its message)', async () => {
    const db = connectPostgres({ url: `postgres://x@127.0.0.1:${hangUp.port}/x`, poolMax: 1, queryTimeoutMs: 2_000 });
    try {
      const error = await rejection(() => db.query('SELECT 1'));
      expect(error).toBeInstanceOf(PostgresConnectionLostError);
      expect(postgresOutageKind(error)).toBe('connection-lost');
    } finally {
      await db.close();
    }
  });

  it('a server that accepts and never answers: a timeout within the bound, nothing sent', async () => {
    const db = connectPostgres({ url: `postgres://x@127.0.0.1:${silent.port}/x`, poolMax: 1, queryTimeoutMs: 300 });
    try {
      const started = Date.now();
      const error = await rejection(() => db.query('SELECT 1'));
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(error).toBeInstanceOf(StatementTimeoutError);
      expect((error as StatementTimeoutError).sent).toBe(false);
      expect(postgresOutageKind(error)).toBe('timeout');
    } finally {
      await db.close();
    }
  });
});

describe("postgresOutageKind: the server's own errors", () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestPostgresDatabase(inject('postgresUrl'), 'outage_unit');
  });
  afterAll(async () => {
    await database?.drop();
  });

  it('statement_timeout (57014): log timeout', async () => {
    const c = await client(database.url);
    try {
      await c.query('SET statement_timeout = 50');
      const error = await rejection(() => c.query('SELECT pg_sleep(2)'));
      expect(error).toMatchObject({ code: '57014' });
      expect(postgresOutageKind(error)).toBe('timeout');
    } finally {
      await c.end();
    }
  });

  it('a write in a read-only transaction, as on a standby (25006): log read-only', async () => {
    const c = await client(database.url);
    try {
      await c.query('BEGIN READ ONLY');
      const error = await rejection(() => c.query('CREATE TABLE read_only_probe (id int)'));
      expect(error).toMatchObject({ code: '25006' });
      expect(postgresOutageKind(error)).toBe('read-only');
    } finally {
      await c.end();
    }
  });

  it('too many connections (53300): log overloaded', async () => {
    const role = `dtx_limited_${process.pid}`;
    const admin = await client(database.url);
    try {
      await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD 'limited' CONNECTION LIMIT 1`);
      const url = new URL(database.url);
      url.username = role;
      url.password = 'limited';
      const first = await client(url.toString());
      try {
        const error = await rejection(() => client(url.toString()));
        expect(error).toMatchObject({ code: '53300' });
        expect(postgresOutageKind(error)).toBe('overloaded');
      } finally {
        await first.end();
      }
    } finally {
      await admin.query(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
      await admin.end();
    }
  });

  it("the session ended under a statement by the server (57P01): log shutting down, and the pool's next statement runs", async () => {
    const db = connectPostgres({ url: database.url, poolMax: 1, queryTimeoutMs: 10_000 });
    const admin = await client(database.url);
    try {
      const sleeping = rejection(() => db.query('SELECT pg_sleep(30) AS victim'));
      await waitFor(
        // Once it sleeps: a session ended before it runs its statement may close without a word.
        async () =>
          (await admin.query(`SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE query LIKE '%AS victim' AND wait_event = 'PgSleep'`))
            .rowCount === 1,
        { what: 'the sleeping statement to be ended' },
      );
      const error = await sleeping;
      expect(error).toMatchObject({ code: '57P01' });
      expect(postgresOutageKind(error)).toBe('shutting-down');
      expect((await db.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await admin.end();
      await db.close();
    }
  });

  it('a deadlock (40P01) and a serialization failure (40001): re-run by the store, and log conflict once it gives up', async () => {
    const [a, b] = await Promise.all([client(database.url), client(database.url)]);
    try {
      await a.query('CREATE TABLE conflict_probe (id int PRIMARY KEY, n int)');
      await a.query('INSERT INTO conflict_probe VALUES (1, 0), (2, 0)');
      await a.query('BEGIN');
      await b.query('BEGIN');
      await a.query('UPDATE conflict_probe SET n = 1 WHERE id = 1');
      await b.query('UPDATE conflict_probe SET n = 1 WHERE id = 2');
      // Each waits for the other's row: the deadlock detector ends one of them (after deadlock_timeout).
      const outcomes = await Promise.allSettled([
        a.query('UPDATE conflict_probe SET n = 2 WHERE id = 2'),
        b.query('UPDATE conflict_probe SET n = 2 WHERE id = 1'),
      ]);
      const victim = outcomes.find((outcome) => outcome.status === 'rejected')?.reason as unknown;
      await Promise.all([a.query('ROLLBACK'), b.query('ROLLBACK')]);
      expect(victim).toMatchObject({ code: '40P01' });
      expect(isRetryableConflict(victim)).toBe(true);
      expect(postgresOutageKind(victim)).toBe('conflict');

      await a.query('BEGIN ISOLATION LEVEL SERIALIZABLE');
      await b.query('BEGIN ISOLATION LEVEL SERIALIZABLE');
      await a.query('SELECT sum(n) FROM conflict_probe');
      await b.query('SELECT sum(n) FROM conflict_probe');
      await a.query('INSERT INTO conflict_probe VALUES (3, 0)');
      await b.query('INSERT INTO conflict_probe VALUES (4, 0)');
      await a.query('COMMIT');
      const serialization = await rejection(() => b.query('COMMIT'));
      expect(serialization).toMatchObject({ code: '40001' });
      expect(isRetryableConflict(serialization)).toBe(true);
      expect(postgresOutageKind(serialization)).toBe('conflict');
    } finally {
      await Promise.all([a.end(), b.end()]);
    }
  });

  it('a refused statement is no outage: a unique violation, a syntax error, an unknown database', async () => {
    const c = await client(database.url);
    try {
      await c.query('CREATE TABLE unique_probe (id int PRIMARY KEY)');
      await c.query('INSERT INTO unique_probe VALUES (1)');
      const duplicate = await rejection(() => c.query('INSERT INTO unique_probe VALUES (1)'));
      expect(isUniqueViolation(duplicate)).toBe(true);
      expect(postgresOutageKind(duplicate)).toBeNull();
      expect(postgresOutageKind(await rejection(() => c.query('SELEC 1')))).toBeNull();
    } finally {
      await c.end();
    }
    const missing = new URL(database.url);
    missing.pathname = '/dtx_no_such_database';
    const error = await rejection(() => client(missing.toString()));
    expect(error).toMatchObject({ code: '3D000' });
    expect(postgresOutageKind(error)).toBeNull();
  });
});

describe('postgresOutageKind: PGlite', () => {
  it('PGlite closed: log shutting down; its own refusals are no outage', { timeout: 60_000 }, async () => {
    const db = openPglite({ dataDir: null, waitBoundMs: 10_000 });
    await db.query('CREATE TABLE unique_probe (id int PRIMARY KEY)');
    await db.query('INSERT INTO unique_probe VALUES (1)');
    const duplicate = await rejection(() => db.query('INSERT INTO unique_probe VALUES (1)'));
    expect(isUniqueViolation(duplicate)).toBe(true);
    expect(postgresOutageKind(duplicate)).toBeNull();
    await db.close();
    const closed = await rejection(() => db.query('SELECT 1'));
    expect(closed).toBeInstanceOf(DatabaseClosedError);
    expect(postgresOutageKind(closed)).toBe('shutting-down');
  });
});

describe('the PostgreSQL log: outages as the engine sees them', () => {
  it("throws StoreUnavailableError with the driver's error as its cause, and anything else as it was", async () => {
    const port = await pickFreePort();
    const log = openPostgresLog({ url: `postgres://x@127.0.0.1:${port}/x`, poolMax: 1, queryTimeoutMs: 2_000 });
    try {
      const error = await rejection(() => log.store.ping());
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect(error).toMatchObject({ kind: 'unreachable', message: 'the PostgreSQL log is unavailable (unreachable)' });
      expect(postgresOutageKind((error as Error).cause)).toBe('unreachable');
    } finally {
      await log.close();
    }
    const bug = new TypeError('not an outage');
    expect(translatePostgresError(bug)).toBe(bug);
  });
});
