/** What the engine needs from the outside, as narrow interfaces. */

/** Time and chance, injected so decisions can be tested. */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}

/** Schedules a recovery look at a transaction; a lost schedule is recovered by the reconciler from MySQL. */
export interface RetryScheduler {
  /** Look at `gid` again at `at` (epoch ms): something then calls the engine's `service.recover(gid)`. */
  schedule(gid: string, at: number): Promise<void>;
}

/** The real clock (`Date.now`). */
export const systemClock: Clock = { now: () => Date.now() };
