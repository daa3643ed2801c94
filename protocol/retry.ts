/**
 * One retry policy and one delay function for every retry in dtx: the
 * initiator's transport retries of coordinator calls, the coordinator's
 * phase-two rounds and its alert deliveries. Pure apart from the `retry`
 * runner, which takes its sleep and randomness as options so that tests can
 * inject both.
 *
 * Lives in the protocol module because the participant SDK must not import
 * from the coordinator, while the coordinator may import the protocol.
 */

/**
 * How the delay is spread below its exponential ceiling:
 * - `equal`: uniform in [ceiling/2, ceiling], so it never collapses to zero
 *   (phase two, alerts);
 * - `full`: uniform in [0, ceiling] (the initiator's transport retries).
 */
export type Jitter = 'equal' | 'full';

/** How delays between retries grow: exponential from a base, capped, with jitter. */
export interface BackoffPolicy {
  /** Ceiling of the first retry's delay; the ceiling doubles with each retry. */
  baseDelayMs: number;
  /** No delay grows beyond this (a delay hint included). */
  maxDelayMs: number;
  /** Default `equal`. */
  jitter?: Jitter;
  /** Attempts in all, the first one included, where the user bounds them. */
  attempts?: number;
}

/**
 * Delay before retry number `retryCount` (1 = first retry): the exponential
 * ceiling is `base * 2^(retryCount-1)`, capped at `maxDelayMs`; the result is
 * drawn under it according to `policy.jitter`, and rounded to a millisecond.
 * A `retryCount` of 0 or less counts as the first retry.
 *
 * @param retryCount - which retry this is, from 1
 * @param policy - base, cap and jitter
 * @param random - a source of [0, 1) numbers (Math.random, or a seeded one in tests)
 * @returns the delay in milliseconds
 */
export function retryDelayMs(retryCount: number, policy: BackoffPolicy, random: () => number): number {
  const exponent = Math.max(0, Math.min(retryCount - 1, 30));
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** exponent);
  if (policy.jitter === 'full') return Math.round(random() * ceiling);
  const half = ceiling / 2;
  return Math.round(half + random() * half);
}

/** How {@link retry} runs: the policy, how many attempts, which failures to retry, and its injectable sleep and randomness. */
export interface RetryOptions {
  /** How the delays between attempts grow. */
  policy: BackoffPolicy;
  /** Attempts in all, the first one included; default `policy.attempts`, else 1. */
  attempts?: number;
  /** Whether a failure may be retried; default every failure. A refused one is thrown at once. */
  shouldRetry?: (error: unknown, attempt: number) => boolean;
  /**
   * The least delay the other side asked for after this failure (e.g. a
   * `retry-after`), in ms; the delay is the larger of it and the backoff,
   * still capped at `policy.maxDelayMs`.
   */
  delayHint?: (error: unknown) => number;
  /** Called before each wait (for logs). */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  /** Waits; resolving to `false` gives up (e.g. on shutdown) and throws the last failure. Default setTimeout. */
  sleep?: (ms: number) => Promise<boolean | void>;
  /** Default Math.random. */
  random?: () => number;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs `work` (given the attempt number, from 1) until it resolves, a failure
 * may not be retried, the attempts are spent, or `sleep` gives up; then
 * resolves with its value or throws its last failure.
 *
 * @param work - one attempt
 * @param options - policy, attempts, retry predicate, hooks
 * @returns `work`'s value, from the first attempt that resolved
 * @throws the last failure of `work`, unchanged
 *
 * @example
 * ```ts
 * import { retry } from '@dtx/protocol';
 *
 * const reply = await retry(() => fetch('http://bank-a:4001/health'), {
 *   policy: { baseDelayMs: 200, maxDelayMs: 5_000, jitter: 'full' },
 *   attempts: 4,
 * });
 * ```
 */
export async function retry<T>(work: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const attempts = Math.max(1, options.attempts ?? options.policy.attempts ?? 1);
  const random = options.random ?? Math.random;
  const sleep = options.sleep ?? defaultSleep;
  for (let attempt = 1; ; attempt++) {
    try {
      return await work(attempt);
    } catch (error) {
      if (attempt >= attempts || (options.shouldRetry && !options.shouldRetry(error, attempt))) throw error;
      const hint = options.delayHint?.(error) ?? 0;
      const delay = Math.min(options.policy.maxDelayMs, Math.max(retryDelayMs(attempt, options.policy, random), hint));
      options.onRetry?.(error, attempt, delay);
      if ((await sleep(delay)) === false) throw error;
    }
  }
}
