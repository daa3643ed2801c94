import { describe, expect, it } from 'vitest';
import { withDeadline } from '../../protocol/deadline.ts';

const activeTimers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;

describe('withDeadline', () => {
  it('aborts the signal with a TimeoutError once the deadline passes', async () => {
    const reason = await withDeadline(
      5,
      (signal) =>
        new Promise<unknown>((resolve) => {
          signal.addEventListener('abort', () => resolve(signal.reason));
        }),
    );
    expect(reason).toBeInstanceOf(DOMException);
    expect((reason as DOMException).name).toBe('TimeoutError');
  });

  it('returns what the work returns and leaves no timer behind', async () => {
    const before = activeTimers();
    let seen: AbortSignal | undefined;
    const value = await withDeadline(60_000, async (signal) => {
      seen = signal;
      expect(activeTimers()).toBe(before + 1);
      return 42;
    });
    expect(value).toBe(42);
    expect(activeTimers()).toBe(before);
    expect(seen?.aborted).toBe(false);
  });

  it('clears the timer when the work fails, and rethrows its error', async () => {
    const before = activeTimers();
    const failure = new Error('refused');
    await expect(
      withDeadline(60_000, async () => {
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(activeTimers()).toBe(before);
  });
});
