/**
 * Polling helper with a deadline. Use it instead of fixed sleeps, in support
 * code and in tests alike.
 */

export interface WaitForOptions {
  /** Human readable description of what is awaited; it appears in the timeout error. */
  what: string;
  /** Give up after this many milliseconds (default 10 000). */
  timeoutMs?: number;
  /** Pause between two attempts (default 50 ms). */
  intervalMs?: number;
}

/** Thrown by {@link waitFor} when the deadline passes; `cause` holds the last error of the condition, if any. */
export class WaitTimeoutError extends Error {
  override name = 'WaitTimeoutError';
}

/** Calling `bail(error)` inside a condition stops waiting at once and makes waitFor reject with `error`. */
export type Bail = (error: Error) => never;

class Bailed {
  constructor(readonly error: Error) {}
}

/**
 * Calls `condition` until it returns a truthy value (which is then returned),
 * or until `timeoutMs` has elapsed, in which case it throws a WaitTimeoutError
 * naming `what`. An exception thrown by `condition` counts as "not yet" (the
 * last one is reported as the cause on timeout), except when it comes from
 * `bail(error)`, which aborts the wait immediately with `error`.
 */
export async function waitFor<T>(condition: (bail: Bail) => T | Promise<T>, options: WaitForOptions): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 50;
  const started = Date.now();
  const deadline = started + timeoutMs;
  const bail: Bail = (error) => {
    throw new Bailed(error);
  };
  let lastError: unknown;
  let attempts = 0;
  for (;;) {
    attempts++;
    try {
      // An attempt that hangs must not outlive the deadline.
      const value = await raceDeadline(condition(bail), deadline);
      if (value) return value;
      lastError = undefined;
    } catch (error) {
      if (error instanceof Bailed) throw error.error;
      lastError = error;
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    await new Promise((resolve) => setTimeout(resolve, Math.min(intervalMs, remaining)));
  }
  const detail = lastError === undefined ? '' : `; last error: ${lastError instanceof Error ? lastError.message : String(lastError)}`;
  throw new WaitTimeoutError(
    `Timed out after ${Date.now() - started} ms (${attempts} attempts) waiting for ${options.what}${detail}`,
    lastError === undefined ? undefined : { cause: lastError },
  );
}

const attemptTimedOut = new Error('attempt still pending at the deadline');

async function raceDeadline<T>(value: T | Promise<T>, deadline: number): Promise<T> {
  if (!(value instanceof Promise)) return value;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(attemptTimedOut), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([value, timeout]);
  } finally {
    clearTimeout(timer);
    value.catch(() => undefined);
  }
}
