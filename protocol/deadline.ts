/**
 * A deadline for one call that goes away with the call.
 *
 * Why not `AbortSignal.timeout(ms)`: its timer cannot be cleared. It stays
 * in the timer list until it fires or its signal is collected (through a
 * FinalizationRegistry, i.e. at a full collection), so a client making a
 * thousand calls a second with a 10 s timeout carries ten thousand live
 * timers and signals — garbage that lengthens the collections which make a
 * latency tail (docs/performance.md).
 */

/**
 * Runs `work` with a signal that aborts after `ms` (reason: a DOMException
 * named `TimeoutError`, as AbortSignal.timeout gives), and clears the timer
 * as soon as `work` settles.
 */
export async function withDeadline<T>(ms: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException(`timed out after ${ms} ms`, 'TimeoutError')), ms);
  try {
    return await work(controller.signal);
  } finally {
    clearTimeout(timer);
  }
}
