/**
 * Bounded retry of a whole local transaction on lock conflicts.
 *
 * InnoDB resolves a deadlock by rolling back one transaction, and concurrent
 * INSERT IGNOREs on neighbouring keys can deadlock even at READ COMMITTED
 * (they take shared locks on duplicates). The victim is harmless to replay
 * because nothing of it was committed. Errors are recognised by errno or
 * driver code only, never by their message.
 */

const RETRYABLE_ERRNOS = new Set([1213 /* ER_LOCK_DEADLOCK */, 1205 /* ER_LOCK_WAIT_TIMEOUT */]);
const RETRYABLE_CODES = new Set(['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT']);

export function isRetryableLockError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { errno, code } = error as { errno?: unknown; code?: unknown };
  return (typeof errno === 'number' && RETRYABLE_ERRNOS.has(errno)) || (typeof code === 'string' && RETRYABLE_CODES.has(code));
}

export interface LockRetryOptions {
  /** Total attempts, the first included. */
  maxAttempts: number;
  /** Upper bound of the first delay; doubles per attempt. */
  baseDelayMs: number;
  /** Injected for tests; defaults to Math.random. */
  random?: () => number;
  onRetry?: (error: unknown, attempt: number) => void;
}

/** Delay before retry number `attempt` (1-based): full jitter in [0, base·2^(attempt-1)). */
export function lockRetryDelay(attempt: number, baseDelayMs: number, random: () => number): number {
  return Math.floor(random() * baseDelayMs * 2 ** (attempt - 1));
}

export async function withLockRetry<T>(run: () => Promise<T>, options: LockRetryOptions): Promise<T> {
  const random = options.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      if (attempt >= options.maxAttempts || !isRetryableLockError(error)) throw error;
      options.onRetry?.(error, attempt);
      await new Promise((resolve) => setTimeout(resolve, lockRetryDelay(attempt, options.baseDelayMs, random)));
    }
  }
}
