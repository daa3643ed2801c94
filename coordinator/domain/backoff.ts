/**
 * Retry delays for phase two: exponential, capped, with jitter.
 * The cap keeps recovery prompt after a long outage; the jitter spreads a
 * herd of transactions that failed together.
 */
export interface BackoffPolicy {
  /** Delay of the first retry, and the fixed interval for an `ongoing` reply. */
  baseDelayMs: number;
  /** No delay grows beyond this. */
  maxDelayMs: number;
}

export interface RetryPolicy extends BackoffPolicy {
  /** Failed rounds after which the transaction is flagged needs-attention (and still retried). */
  attentionAfterRetries: number;
  /**
   * Age of the decision after which a transaction still in phase two is
   * flagged needs-attention (and still retried): catches branches that never
   * fail a round, such as one answering `ongoing` forever.
   */
  attentionAfterMs: number;
}

/**
 * Delay before retry number `retryCount` (1 = first retry): the exponential
 * value is `base * 2^(retryCount-1)`, capped; the result is drawn uniformly
 * in [value/2, value] ("equal jitter"), so it never collapses to zero.
 */
export function retryDelayMs(retryCount: number, policy: BackoffPolicy, random: () => number): number {
  const exponent = Math.max(0, Math.min(retryCount - 1, 30));
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** exponent);
  const half = ceiling / 2;
  return Math.round(half + random() * half);
}
