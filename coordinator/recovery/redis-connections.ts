/**
 * Redis connections for the recovery queue. The producer fails fast when
 * Redis is away (the caller falls back on MySQL); the worker's blocking
 * connection retries forever, as BullMQ requires.
 */
import { Redis } from 'ioredis';

export function producerConnection(url: string): Redis {
  return new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: false });
}

export function workerConnection(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true });
}
