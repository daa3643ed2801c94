/**
 * Retry delays for phase two: exponential, capped, with jitter.
 * The cap keeps recovery prompt after a long outage; the jitter spreads a
 * herd of transactions that failed together.
 *
 * The policy type and the delay function are the protocol's (one for every
 * retry in dtx); phase two uses its default "equal" jitter, so a delay is
 * drawn in [ceiling/2, ceiling] and never collapses to zero.
 */
import type { BackoffPolicy } from '@dtx/protocol';

export { retryDelayMs, type BackoffPolicy } from '@dtx/protocol';

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
