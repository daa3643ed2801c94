/**
 * The BullMQ queue of recovery work. A job carries only the gid: MySQL holds
 * everything else, so losing the queue loses no transaction (the reconciler
 * re-enqueues due work from MySQL).
 */
import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { RetryScheduler } from '../engine/ports.ts';
import { dropErrorsAfterClose } from './late-connection-errors.ts';
import { settlesWithin } from '../engine/settles-within.ts';

export const RECOVERY_QUEUE = 'dtx-recovery';

interface RecoveryJob {
  gid: string;
}

export interface RecoveryQueueOptions {
  connection: Redis;
  prefix: string;
  now: () => number;
  logger: Logger;
}

export class RecoveryQueue implements RetryScheduler {
  readonly #queue: Queue<RecoveryJob>;

  constructor(private readonly options: RecoveryQueueOptions) {
    this.#queue = new Queue<RecoveryJob>(RECOVERY_QUEUE, { connection: options.connection, prefix: options.prefix });
    // Redis going away is expected; without a listener the event would crash the process.
    this.#queue.on('error', (error) => options.logger.debug({ err: error }, 'recovery queue error'));
    dropErrorsAfterClose(this.#queue);
  }

  /**
   * Enqueue a look at `gid` at `at`. The job id names the gid and the time,
   * so the same schedule enqueued by several instances (or again by the
   * reconciler) runs once, while a new schedule gets a new job.
   */
  async schedule(gid: string, at: number): Promise<void> {
    await this.#queue.add(
      'recover',
      { gid },
      {
        jobId: `${gid}@${at}`,
        delay: Math.max(0, at - this.options.now()),
        removeOnComplete: true,
        removeOnFail: true,
      },
    );
  }

  /** Jobs waiting, delayed or active (for metrics and tests). */
  async depth(): Promise<number> {
    const counts = await this.#queue.getJobCounts('waiting', 'delayed', 'active', 'prioritized');
    return Object.values(counts).reduce((sum, n) => sum + n, 0);
  }

  async close(): Promise<void> {
    await this.#queue.close();
  }
}

export interface RecoveryWorkerOptions {
  connection: Redis;
  prefix: string;
  concurrency: number;
  logger: Logger;
  recover: (gid: string) => Promise<unknown>;
}

/** The running worker, as the coordinator stops it. */
export interface RecoveryWorker {
  /**
   * Stops taking jobs at once, then waits up to `graceMs` for the jobs
   * running here; false when some were still running. A job cut short is
   * safe: its transaction's lease runs out and recovery picks it up again.
   */
  close(graceMs: number): Promise<boolean>;
}

/** Runs recovery jobs; a failed job is dropped, the transaction stays due in MySQL and is found again. */
export function startRecoveryWorker(options: RecoveryWorkerOptions): RecoveryWorker {
  const running = new Set<Promise<unknown>>();
  const worker = new Worker<RecoveryJob>(
    RECOVERY_QUEUE,
    async (job: Job<RecoveryJob>) => {
      const recovering = options.recover(job.data.gid);
      running.add(recovering);
      try {
        await recovering;
      } finally {
        running.delete(recovering);
      }
    },
    { connection: options.connection, prefix: options.prefix, concurrency: options.concurrency },
  );
  worker.on('failed', (job, error) => {
    options.logger.warn({ gid: job?.data.gid, err: error }, 'recovery job failed; the reconciler will retry it');
  });
  worker.on('error', (error) => {
    options.logger.warn({ err: error }, 'recovery worker error');
  });
  dropErrorsAfterClose(worker);
  return {
    async close(graceMs) {
      // Forced: BullMQ's graceful close waits for its blocking connection to
      // end, and a connection between two reconnect attempts (Redis down, or
      // just restarted) never does, so the stop would never return. The jobs
      // still running are ours, and waited for here instead.
      await worker.close(true);
      return settlesWithin(Promise.allSettled([...running]), graceMs);
    },
  };
}
