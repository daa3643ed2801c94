/**
 * Finds due work in MySQL (the source of truth) and hands it to the queue.
 * This is what makes Redis disposable: after a FLUSHALL or a restart without
 * persistence, every open transaction is still found here. If the queue
 * itself is unreachable, due work is recovered in-process instead.
 */
import type { Logger } from 'pino';
import type { Clock, RetryScheduler } from '../engine/ports.ts';
import type { TransactionStore } from '../store/transaction-store.ts';

export interface ReconcilerOptions {
  store: TransactionStore;
  scheduler: RetryScheduler;
  clock: Clock;
  /** How often MySQL is polled; also how far ahead work is enqueued. */
  intervalMs: number;
  /** Most transactions handled per pass. */
  batchSize: number;
  /** In-process fallback when the queue cannot be reached. */
  recoverDirectly: (gid: string) => Promise<unknown>;
  logger: Logger;
}

export class Reconciler {
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;

  constructor(private readonly options: ReconcilerOptions) {}

  start(): void {
    if (this.#timer) return;
    const loop = () => {
      this.#running = this.pass()
        .then(() => undefined)
        .catch((error: unknown) => this.options.logger.warn({ err: error }, 'reconciler pass failed'))
        .finally(() => {
          this.#running = null;
          if (this.#timer) this.#timer = setTimeout(loop, this.options.intervalMs);
        });
    };
    this.#timer = setTimeout(loop, 0);
  }

  async stop(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#running;
  }

  /** One pass; returns how many transactions were enqueued and how many recovered directly. */
  async pass(): Promise<{ enqueued: number; recoveredDirectly: number }> {
    const { store, scheduler, clock, intervalMs, batchSize } = this.options;
    const now = clock.now();
    const due = await store.findDue(now + intervalMs, batchSize);
    const unqueued: string[] = [];
    let enqueued = 0;
    for (const item of due) {
      try {
        await scheduler.schedule(item.gid, item.nextRetryAt);
        enqueued++;
      } catch {
        if (item.nextRetryAt <= now) unqueued.push(item.gid);
      }
    }
    if (unqueued.length > 0) {
      this.options.logger.warn({ count: unqueued.length }, 'queue unreachable: recovering due transactions in-process');
      await Promise.allSettled(unqueued.map((gid) => this.options.recoverDirectly(gid)));
    }
    return { enqueued, recoveredDirectly: unqueued.length };
  }
}
