/**
 * The MySQL store's outage classification (coordinator/store/mysql/mysql-outage.ts):
 * errors as the drivers really raise them (mysql2 against a closed port or a
 * server that hangs up, knex's pool acquire timeout) and the server errnos of
 * an overloaded, stopping, contended or read-only database, each the engine's
 * StoreUnavailableError with its kind; anything else left as it is.
 */
import net from 'node:net';
import Fastify from 'fastify';
import knexFactory from 'knex';
import { createConnection } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installErrorHandling } from '../../coordinator/api/error-handler.ts';
import { classifyOutage, DependencyUnavailableError, type Outage } from '../../coordinator/api/outage.ts';
import { TransactionRefusedError } from '../../coordinator/domain/refusal.ts';
import { mysqlOutageKind, translateMysqlError } from '../../coordinator/store/mysql/mysql-outage.ts';
import { StatementTimeoutError, StoreUnavailableError } from '../../coordinator/store/ports/store-errors.ts';
import { pickFreePort } from '../../tools/free-port.ts';

/** What a driver call rejected with. */
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

/** A mysql2 server error as the driver builds it (errno, code, sqlState), not fatal. */
function serverError(errno: number, code: string): Error {
  return Object.assign(new Error(`${code} from the server`), { errno, code, sqlState: 'HY000', fatal: false });
}

describe('mysqlOutageKind: errors the log database drivers really raise', () => {
  let hangUp: Awaited<ReturnType<typeof tcpServer>>;
  let silent: Awaited<ReturnType<typeof tcpServer>>;

  beforeAll(async () => {
    [hangUp, silent] = await Promise.all([tcpServer('hang-up'), tcpServer('silent')]);
  });
  afterAll(async () => {
    await Promise.all([hangUp?.close(), silent?.close()]);
  });

  it('mysql2 connecting to a port nobody listens on: log unreachable', async () => {
    const port = await pickFreePort();
    const error = await rejection(() => createConnection({ host: '127.0.0.1', port, user: 'x', connectTimeout: 2_000 }));
    expect(mysqlOutageKind(error)).toBe('unreachable');
  });

  it('mysql2 whose server hangs up during the handshake: log connection lost', async () => {
    const error = await rejection(() => createConnection({ host: '127.0.0.1', port: hangUp.port, user: 'x', connectTimeout: 2_000 }));
    expect(mysqlOutageKind(error)).toBe('connection-lost');
  });

  it("knex's pool acquire timeout (the server accepts but never answers): log timeout", async () => {
    const knex = knexFactory({
      client: 'mysql2',
      connection: { host: '127.0.0.1', port: silent.port, user: 'x', connectTimeout: 400 },
      pool: { min: 0, max: 1 },
      acquireConnectionTimeout: 200,
      log: { warn: () => undefined, error: () => undefined, debug: () => undefined, deprecate: () => undefined },
    });
    try {
      const error = await rejection(() => knex.raw('SELECT 1'));
      expect((error as Error).name).toBe('KnexTimeoutError');
      expect(mysqlOutageKind(error)).toBe('timeout');
    } finally {
      await knex.destroy();
    }
  });
});

describe('mysqlOutageKind: server errnos and driver codes', () => {
  it.each([
    [1040, 'ER_CON_COUNT_ERROR', 'overloaded'],
    [1053, 'ER_SERVER_SHUTDOWN', 'shutting-down'],
    [1213, 'ER_LOCK_DEADLOCK', 'conflict'],
    [1205, 'ER_LOCK_WAIT_TIMEOUT', 'conflict'],
    [1290, 'ER_OPTION_PREVENTS_STATEMENT', 'read-only'],
    [1836, 'ER_READ_ONLY_MODE', 'read-only'],
    [1927, 'ER_CONNECTION_KILLED', 'connection-lost'],
    [2013, 'CR_SERVER_LOST', 'connection-lost'],
  ] as const)('errno %i (%s) is a log outage: %s', (errno, code, kind) => {
    expect(mysqlOutageKind(serverError(errno, code))).toBe(kind);
  });

  it.each([
    ['ECONNRESET', 'connection-lost'],
    ['EPIPE', 'connection-lost'],
    ['PROTOCOL_CONNECTION_LOST', 'connection-lost'],
    ['ETIMEDOUT', 'timeout'],
  ] as const)('code %s is a log outage: %s', (code, kind) => {
    expect(mysqlOutageKind(Object.assign(new Error('x'), { code, fatal: true }))).toBe(kind);
  });

  it('any other error mysql2 marks fatal (its connection is unusable) is a lost connection', () => {
    expect(mysqlOutageKind(Object.assign(new Error('x'), { code: 'PROTOCOL_PACKETS_OUT_OF_ORDER', fatal: true }))).toBe('connection-lost');
  });

  it("the store's statement bound (sent or not, alone or as a cause) is a log timeout, whatever knex wrote into its message", () => {
    const sent = new StatementTimeoutError(10_000, true);
    const refused = new StatementTimeoutError(10_000, false, { cause: sent });
    refused.message = `ROLLBACK - ${refused.message}`;
    for (const error of [sent, refused, new Error('wrapped', { cause: sent })]) {
      expect(mysqlOutageKind(error)).toBe('timeout');
    }
  });

  it('follows causes and the errors of an AggregateError', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(mysqlOutageKind(new Error('wrapped', { cause: refused }))).toBe('unreachable');
    expect(mysqlOutageKind(new AggregateError([new Error('other'), refused]))).toBe('unreachable');
  });

  it('turns an outage into the engine’s StoreUnavailableError, keeping the driver’s error as its cause, and leaves any other error as it is', () => {
    const lost = Object.assign(new Error('x'), { code: 'PROTOCOL_CONNECTION_LOST', fatal: true });
    const translated = translateMysqlError(lost);
    expect(translated).toBeInstanceOf(StoreUnavailableError);
    expect(translated).toMatchObject({ kind: 'connection-lost', cause: lost });
    const duplicate = serverError(1062, 'ER_DUP_ENTRY');
    expect(translateMysqlError(duplicate)).toBe(duplicate);
  });

  it('is not fooled by message text, and leaves bugs and request errors alone', () => {
    expect(mysqlOutageKind(new Error('connect ECONNREFUSED 127.0.0.1:3306 — Connection lost: too many connections'))).toBeNull();
    expect(mysqlOutageKind(serverError(1062, 'ER_DUP_ENTRY'))).toBeNull();
    expect(mysqlOutageKind(serverError(1064, 'ER_PARSE_ERROR'))).toBeNull();
    expect(mysqlOutageKind(serverError(1406, 'ER_DATA_TOO_LONG'))).toBeNull();
    expect(mysqlOutageKind(new TypeError("Cannot read properties of undefined (reading 'x')"))).toBeNull();
    expect(mysqlOutageKind('ECONNREFUSED')).toBeNull();
    expect(mysqlOutageKind(null)).toBeNull();
  });
});

describe('classifyOutage: the engine’s errors, whatever the store', () => {
  it('takes a StoreUnavailableError as a log outage of its kind, alone or as a cause', () => {
    const down = new StoreUnavailableError('read-only', 'read-only');
    expect(classifyOutage(down)).toEqual<Outage>({ dependency: 'log', kind: 'read-only' });
    expect(classifyOutage(new Error('wrapped', { cause: down }))).toEqual<Outage>({ dependency: 'log', kind: 'read-only' });
    expect(classifyOutage(new AggregateError([new Error('other'), down]))).toEqual<Outage>({ dependency: 'log', kind: 'read-only' });
  });

  it('takes the dependency a DependencyUnavailableError names (the queue)', () => {
    expect(classifyOutage(new DependencyUnavailableError('queue', 'unreachable', 'redis down'))).toEqual({ dependency: 'queue', kind: 'unreachable' });
  });

  it('reads no driver error: a raw socket or server error is no outage above the store', () => {
    expect(classifyOutage(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBeNull();
    expect(classifyOutage(serverError(1040, 'ER_CON_COUNT_ERROR'))).toBeNull();
  });
});

describe('the error handler', () => {
  async function answer(error: unknown, statusCode?: number) {
    const app = Fastify({ logger: false });
    installErrorHandling(app);
    app.get('/boom', async () => {
      throw statusCode === undefined ? error : Object.assign(error as Error, { statusCode });
    });
    try {
      return await app.inject({ method: 'GET', url: '/boom' });
    } finally {
      await app.close();
    }
  }

  it('answers a log outage 503 LOG_UNAVAILABLE with retry-after, as JSON {code, message}', async () => {
    const response = await answer(new StoreUnavailableError('connection-lost', 'the log is unavailable'));
    expect(response.statusCode).toBe(503);
    expect(response.headers['retry-after']).toBe('1');
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    const body = response.json() as { code: string; message: string };
    expect(body.code).toBe('LOG_UNAVAILABLE');
    expect(body.message).toMatch(/retry/);
    expect(Object.keys(body).sort()).toEqual(['code', 'message']);
  });

  it('answers a queue outage 503 QUEUE_UNAVAILABLE', async () => {
    const response = await answer(new DependencyUnavailableError('queue', 'timeout', 'redis did not answer'));
    expect(response.statusCode).toBe(503);
    expect(response.json()).toMatchObject({ code: 'QUEUE_UNAVAILABLE' });
  });

  it('still answers anything unexpected with a bare 500, and refusals with their 4xx', async () => {
    const internal = await answer(new TypeError('a bug'));
    expect(internal.statusCode).toBe(500);
    expect(internal.json()).toEqual({ code: 'INTERNAL', message: expect.any(String) });
    const refused = await answer(new TransactionRefusedError('NOT_FOUND', 'no transaction with gid g', 'g'));
    expect(refused.statusCode).toBe(404);
  });

  it('keeps a client error a client error even when its code looks like a socket failure', async () => {
    const response = await answer(Object.assign(new Error('request aborted'), { code: 'ECONNRESET' }), 400);
    expect(response.statusCode).toBe(400);
  });
});
