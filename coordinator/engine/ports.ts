/** What the engine needs from the outside, as narrow interfaces. */

/** Time and chance, injected so decisions can be tested. */
export interface Clock {
  now(): number;
}

/** Schedules a recovery look at a transaction; a lost schedule is recovered by the reconciler from MySQL. */
export interface RetryScheduler {
  schedule(gid: string, at: number): Promise<void>;
}

export const systemClock: Clock = { now: () => Date.now() };
