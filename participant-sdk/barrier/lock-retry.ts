/**
 * Bounded retry of a whole local transaction on lock conflicts.
 *
 * The database resolves a deadlock by rolling back one transaction, and
 * concurrent claims of neighbouring keys can deadlock even at READ
 * COMMITTED (InnoDB's INSERT IGNORE takes shared locks on duplicates). A
 * lock wait timeout (InnoDB), a lock_timeout or a serialization failure
 * (PostgreSQL) end the transaction's work as well. The victim is harmless to
 * replay because nothing of it was committed. Errors are recognised by the
 * dialect (error number, SQLSTATE, driver code), never by their message.
 */
import type { BarrierDialect } from './dialect.ts';
import { mysqlDialect } from './mysql-dialect.ts';

/** A deadlock on MySQL/MariaDB: InnoDB rolled the victim's whole transaction back (XA replays only these). */
export function isDeadlock(error: unknown): boolean {
  return mysqlDialect.classifyError(error) === 'deadlock';
}

/** A deadlock, a lock wait timeout or a serialization failure on `dialect`'s database (default MySQL). */
export function isRetryableLockError(error: unknown, dialect: BarrierDialect = mysqlDialect): boolean {
  const kind = dialect.classifyError(error);
  return kind === 'deadlock' || kind === 'lock-conflict';
}

export interface LockRetryOptions {
  /** Total attempts, the first included. */
  maxAttempts: number;
  /** Upper bound of the first delay; doubles per attempt. */
  baseDelayMs: number;
  /** Injected for tests; defaults to Math.random. */
  random?: () => number;
  /** Which errors are replayed; default both lock conflicts on MySQL (isRetryableLockError). */
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
