/**
 * Recovery looks on BullMQ (Redis): the production backend. Every instance
 * enqueues and works the same queue, so a look scheduled by an instance that
 * died is run by another; a job carries only the gid.
 */
import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import { redactUrl } from '../redact-url.ts';
import type { RecoveryBackend } from './recovery-backend.ts';
import { RecoveryQueue, startRecoveryWorker, type RecoveryWorker } from './recovery-queue.ts';
import { producerConnection, workerConnection } from './redis-connections.ts';

export interface BullmqRecoveryOptions {
  redisUrl: string;
  /** Key prefix of the queue. */
  prefix: string;
  /** Jobs run at once by this instance. */
  concurrency: number;
  now: () => number;
  logger: Logger;
}

/** Opens the queue (its producer connects at once, failing fast while Redis is away); the worker starts with `start()`. */
export function openBullmqRecovery(options: BullmqRecoveryOptions): RecoveryBackend {
  const { logger } = options;
  const producer = producerConnection(options.redisUrl);
  producer.on('error', (error) => logger.debug({ err: error }, 'redis (producer) connection error'));
  const queue = new RecoveryQueue({ connection: producer, prefix: options.prefix, now: options.now, logger });
  let workerRedis: Redis | null = null;
  let worker: RecoveryWorker | null = null;
  return {
    kind: 'bullmq',
    scheduler: queue,
    description: redactUrl(options.redisUrl),
    start(recover) {
      workerRedis = workerConnection(options.redisUrl);
      workerRedis.on('error', (error) => logger.debug({ err: error }, 'redis (worker) connection error'));
      worker = startRecoveryWorker({ connection: workerRedis, prefix: options.prefix, concurrency: options.concurrency, logger, recover });
    },
    async close(graceMs) {
      const settled = worker ? await worker.close(graceMs) : true;
      await queue.close().catch(() => undefined);
      producer.disconnect();
      workerRedis?.disconnect();
      return settled;
    },
    depth: () => queue.depth(),
    // The producer's connection fails fast while Redis is away (no offline queue).
    check: async () => void (await producer.ping()),
  };
}
