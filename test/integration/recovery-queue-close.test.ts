/**
 * Stopping with Redis unreachable: the recovery queue's and worker's Redis
 * connections may report their failed connect after they were closed (the
 * stop disconnects the client while BullMQ still waits for it to be ready).
 * That must not surface as an unhandled rejection, which would end the
 * coordinator's process with an error instead of a clean exit.
 *
 * The late failure is played on the real ioredis clients, pointed at a port
 * nothing listens on: an 'error' then 'end' while they are still connecting,
 * after the queue and the worker were closed.
 */
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { producerConnection, workerConnection } from '../../coordinator/recovery/redis-connections.ts';
import { RecoveryQueue, startRecoveryWorker } from '../../coordinator/recovery/recovery-queue.ts';
import { pickFreePort } from '../../tools/free-port.ts';

const logger = pino({ level: 'silent' });

describe('recovery queue and worker closed while Redis is unreachable', () => {
  let unhandled: unknown[];
  const collect = (reason: unknown) => unhandled.push(reason);
  let clients: Redis[];

  beforeEach(() => {
    unhandled = [];
    clients = [];
    process.on('unhandledRejection', collect);
  });

  afterEach(() => {
    process.off('unhandledRejection', collect);
    for (const client of clients) client.disconnect();
  });

  /** A connect failure reported after the close, then the client's end: what a stop with Redis down produces. */
  async function failLate(client: Redis): Promise<void> {
    expect(client.status).not.toBe('ready');
    client.emit('error', Object.assign(new Error('connect ECONNREFUSED (late)'), { code: 'ECONNREFUSED' }));
    client.emit('end');
    // The connection's promise handlers run as microtasks, and Node reports a rejection left unhandled once
    // they are drained: both are done before the next turn of the event loop.
    await new Promise((resolve) => setImmediate(resolve));
  }

  it('the worker: a late connect failure is no unhandled rejection', async () => {
    const client = workerConnection(`redis://127.0.0.1:${await pickFreePort()}`);
    client.on('error', () => undefined);
    clients.push(client);
    const worker = startRecoveryWorker({ connection: client, prefix: 'dtx-test', concurrency: 1, logger, recover: async () => undefined });
    await worker.close(1_000);
    await failLate(client);
    expect(unhandled).toEqual([]);
  });

  it('the queue: a late connect failure is no unhandled rejection', async () => {
    const client = producerConnection(`redis://127.0.0.1:${await pickFreePort()}`);
    client.on('error', () => undefined);
    clients.push(client);
    const queue = new RecoveryQueue({ connection: client, prefix: 'dtx-test', now: Date.now, logger });
    await queue.close();
    await failLate(client);
    expect(unhandled).toEqual([]);
  });
});
