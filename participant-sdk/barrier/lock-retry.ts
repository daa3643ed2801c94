/**
 * Bounded retry of a whole local transaction on lock conflicts.
 *
 * InnoDB resolves a deadlock by rolling back one transaction, and concurrent
 * INSERT IGNOREs on neighbouring keys can deadlock even at READ COMMITTED
 * (they take shared locks on duplicates). The victim is harmless to replay
 * because nothing of it was committed. Errors are recognised by errno or
 * driver code only, never by their message.
 */

const DEADLOCK = { errno: 1213, code: 'ER_LOCK_DEADLOCK' } as const;
const LOCK_WAIT_TIMEOUT = { errno: 1205, code: 'ER_LOCK_WAIT_TIMEOUT' } as const;

function isMysqlError(error: unknown, which: { errno: number; code: string }): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { errno, code } = error as { errno?: unknown; code?: unknown };
  return errno === which.errno || code === which.code;
}

/** A deadlock: InnoDB rolled the victim's whole transaction back. */
export function isDeadlock(error: unknown): boolean {
  return isMysqlError(error, DEADLOCK);
}

export function isRetryableLockError(error: unknown): boolean {
  return isDeadlock(error) || isMysqlError(error, LOCK_WAIT_TIMEOUT);
}

export interface LockRetryOptions {
  /** Total attempts, the first included. */
  maxAttempts: number;
  /** Upper bound of the first delay; doubles per attempt. */
  baseDelayMs: number;
  /** Injected for tests; defaults to Math.random. */
  random?: () => number;
  /** Which errors are replayed; default both lock conflicts (isRetryableLockError). */
  retryable?: (error: unknown) => boolean;
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
      if (attempt >= options.maxAttempts || !(options.retryable ?? isRetryableLockError)(error)) throw error;
      options.onRetry?.(error, attempt);
      await new Promise((resolve) => setTimeout(resolve, lockRetryDelay(attempt, options.baseDelayMs, random)));
    }
  }
}
