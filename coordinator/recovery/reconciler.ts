/**
 * Finds due work in MySQL (the source of truth) and hands it to the queue.
 * This is what makes Redis disposable: after a FLUSHALL or a restart without
 * persistence, every open transaction is still found here. If the queue
 * itself is unreachable, due work is recovered in-process instead.
 */
import type { Logger } from 'pino';
import type { Clock, RetryScheduler } from '../engine/ports.ts';
import type { TransactionStore } from '../store/ports/transaction-store.ts';

export interface ReconcilerOptions {
  store: TransactionStore;
  scheduler: RetryScheduler;
  clock: Clock;
  /** How often MySQL is polled; also how far ahead work is enqueued. */
  intervalMs: number;
  /** Most transactions handled per pass. */
  batchSize: number;
  /** In-process fallback when the queue cannot be reached, or has not delivered overdue work. */
  recoverDirectly: (gid: string) => Promise<unknown>;
  /**
   * Work still due this long after its time has not been delivered by the
   * queue, and is recovered in-process. Re-enqueuing does not help there: a
   * job taken by a worker that then died stays active under its id
   * (`<gid>@<due>`), so BullMQ ignores the same job again until it declares
   * the dead one stalled (its 30 s lock, plus up to one stalled-check
   * interval). Default: 10 reconcile intervals, at least 2 s.
   */
  overdueAfterMs?: number;
  logger: Logger;
}

/** Overdue transactions recovered in-process per pass, oldest first (the queue keeps the rest). */
const OVERDUE_PER_PASS = 32;

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
    const overdueBefore = now - (this.options.overdueAfterMs ?? Math.max(10 * intervalMs, 2_000));
    const overdue: string[] = [];
    const unqueued: string[] = [];
    let enqueued = 0;
    for (const item of due) {
      // findDue is ordered by due time: the oldest come first. Claiming is a
      // compare-and-set, so an instance racing this one (or the late job) is harmless.
      if (item.nextRetryAt <= overdueBefore && overdue.length < OVERDUE_PER_PASS) {
        overdue.push(item.gid);
        continue;
      }
      try {
        await scheduler.schedule(item.gid, item.nextRetryAt);
        enqueued++;
      } catch {
        if (item.nextRetryAt <= now) unqueued.push(item.gid);
      }
    }
    if (unqueued.length > 0) {
      this.options.logger.warn({ count: unqueued.length }, 'queue unreachable: recovering due transactions in-process');
    }
    if (overdue.length > 0) {
      this.options.logger.warn({ count: overdue.length }, 'queue has not delivered overdue transactions: recovering them in-process');
    }
    await Promise.allSettled([...overdue, ...unqueued].map((gid) => this.options.recoverDirectly(gid)));
    return { enqueued, recoveredDirectly: overdue.length + unqueued.length };
  }
}
