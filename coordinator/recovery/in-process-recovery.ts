/**
 * Recovery looks scheduled and run in this process, with timers: no Redis.
 * For the development coordinator and an application that runs the engine
 * itself. What a restart loses here is found again by the reconciler, which
 * polls the store for due work and schedules it; with several processes on
 * one log, each schedules its own work and the store's leases keep any
 * transaction driven by one of them at a time.
 */
import type { Logger } from 'pino';
import type { RetryScheduler } from '../engine/ports.ts';
import { settlesWithin } from '../engine/settles-within.ts';
import type { RecoveryBackend } from './recovery-backend.ts';

export interface InProcessRecoveryOptions {
  /** Most looks running at once. */
  concurrency: number;
  now: () => number;
  logger: Logger;
}

/** The longest a single timer waits before the queue looks again (setTimeout's bound, and a bound on drift). */
const MAX_TIMER_MS = 60_000;

/**
 * A time-ordered set of (gid, time) looks: one entry per distinct pair, as
 * the BullMQ backend keeps one job per `<gid>@<time>`; one timer armed for
 * the earliest; due looks run up to `concurrency` at a time.
 */
export class InProcessRecovery implements RecoveryBackend {
  readonly kind = 'in-process' as const;
  readonly description = 'in-process timers';
  readonly check = null;
  readonly scheduler: RetryScheduler;
  /** `<gid>@<at>` → the look. */
  readonly #pending = new Map<string, { gid: string; at: number }>();
  readonly #running = new Set<Promise<unknown>>();
  /** The keys of the looks running: one scheduled again meanwhile is the same look (as a BullMQ job id still active). */
  readonly #runningKeys = new Set<string>();
  #recover: ((gid: string) => Promise<unknown>) | null = null;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(private readonly options: InProcessRecoveryOptions) {
    this.scheduler = { schedule: async (gid, at) => this.#schedule(gid, at) };
  }

  start(recover: (gid: string) => Promise<unknown>): void {
    this.#recover = recover;
    this.#arm();
  }

  async close(graceMs: number): Promise<boolean> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#pending.clear();
    return settlesWithin(Promise.allSettled([...this.#running]), graceMs);
  }

  async depth(): Promise<number> {
    return this.#pending.size + this.#running.size;
  }

  #schedule(gid: string, at: number): void {
    const key = `${gid}@${at}`;
    if (this.#closed || this.#runningKeys.has(key)) return;
    this.#pending.set(key, { gid, at });
    this.#arm();
  }

  /** Runs what is due (within the concurrency), then sets the timer for the next look. */
  #arm(): void {
    if (this.#closed || !this.#recover) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const now = this.options.now();
    let next = Infinity;
    for (const [key, look] of this.#pending) {
      if (look.at > now) {
        next = Math.min(next, look.at);
        continue;
      }
      if (this.#running.size >= this.options.concurrency) break;
      this.#pending.delete(key);
      this.#run(key, look.gid);
    }
    // Full: the next look starts when a running one ends (#run re-arms); otherwise at the earliest time.
    if (this.#running.size >= this.options.concurrency) return;
    if (next !== Infinity) {
      this.#timer = setTimeout(() => this.#arm(), Math.min(Math.max(0, next - now), MAX_TIMER_MS));
      this.#timer.unref();
    }
  }

  #run(key: string, gid: string): void {
    this.#runningKeys.add(key);
    const running: Promise<unknown> = this.#recover!(gid)
      .catch((error: unknown) => this.options.logger.warn({ gid, err: error }, 'recovery look failed; the reconciler will find it again'))
      .finally(() => {
        this.#running.delete(running);
        this.#runningKeys.delete(key);
        this.#arm();
      });
    this.#running.add(running);
  }
}
