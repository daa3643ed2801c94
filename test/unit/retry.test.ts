import { describe, expect, it } from 'vitest';
import { retry, retryDelayMs, type BackoffPolicy } from '../../protocol/index.ts';

const top = () => 1;
const bottom = () => 0;
const equal: BackoffPolicy = { baseDelayMs: 100, maxDelayMs: 1_000 };
const full: BackoffPolicy = { baseDelayMs: 200, maxDelayMs: 5_000, jitter: 'full' };

/** A sleep that records the delays instead of waiting. */
function recordingSleep(answer: boolean | void = undefined) {
  const delays: number[] = [];
  return { delays, sleep: async (ms: number) => (delays.push(ms), answer) };
}

describe('retryDelayMs', () => {
  it('equal jitter (the default) draws in [ceiling/2, ceiling], doubling and capped', () => {
    expect([1, 2, 3, 4, 5].map((n) => retryDelayMs(n, equal, top))).toEqual([100, 200, 400, 800, 1_000]);
    expect([1, 2, 3, 4, 5].map((n) => retryDelayMs(n, equal, bottom))).toEqual([50, 100, 200, 400, 500]);
    expect(retryDelayMs(1, { ...equal, jitter: 'equal' }, bottom)).toBe(50);
  });

  it('full jitter draws in [0, ceiling]', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => retryDelayMs(n, full, top))).toEqual([200, 400, 800, 1_600, 3_200, 5_000, 5_000]);
    expect(retryDelayMs(3, full, bottom)).toBe(0);
    expect(retryDelayMs(3, full, () => 0.5)).toBe(400);
  });

  it('returns whole milliseconds within bounds for any draw, and stays finite for huge counts', () => {
    for (const policy of [equal, full]) {
      for (const n of [1, 2, 5, 40, Number.MAX_SAFE_INTEGER]) {
        for (const r of [0, 0.1234, 0.5, 0.999_999]) {
          const delay = retryDelayMs(n, policy, () => r);
          expect(Number.isInteger(delay)).toBe(true);
          expect(delay).toBeGreaterThanOrEqual(0);
          expect(delay).toBeLessThanOrEqual(policy.maxDelayMs);
        }
      }
    }
  });
});

describe('retry', () => {
  it('returns the first success without waiting', async () => {
    const { delays, sleep } = recordingSleep();
    await expect(retry(async (attempt) => `ok ${attempt}`, { policy: equal, attempts: 3, sleep, random: top })).resolves.toBe('ok 1');
    expect(delays).toEqual([]);
  });

  it('retries failures with the policy delays, passing the attempt number, until one succeeds', async () => {
    const { delays, sleep } = recordingSleep();
    const seen: number[] = [];
    const result = await retry(
      async (attempt) => {
        seen.push(attempt);
        if (attempt < 3) throw new Error(`fail ${attempt}`);
        return 'done';
      },
      { policy: equal, attempts: 5, sleep, random: top },
    );
    expect(result).toBe('done');
    expect(seen).toEqual([1, 2, 3]);
    expect(delays).toEqual([100, 200]);
  });

  it('throws the last failure once the attempts are spent (policy.attempts when no option)', async () => {
    const { delays, sleep } = recordingSleep();
    let calls = 0;
    await expect(
      retry(
        async (attempt) => {
          calls++;
          throw new Error(`fail ${attempt}`);
        },
        { policy: { ...equal, attempts: 4 }, sleep, random: bottom },
      ),
    ).rejects.toThrow('fail 4');
    expect(calls).toBe(4);
    expect(delays).toEqual([50, 100, 200]);
  });

  it('makes one attempt when no attempts are given anywhere', async () => {
    let calls = 0;
    await expect(retry(async () => (calls++, Promise.reject(new Error('no'))), { policy: equal })).rejects.toThrow('no');
    expect(calls).toBe(1);
  });

  it('throws at once a failure shouldRetry refuses', async () => {
    const { delays, sleep } = recordingSleep();
    class Refused extends Error {}
    let calls = 0;
    const outcome = retry(
      async (attempt) => {
        calls++;
        throw attempt === 2 ? new Refused('refused') : new Error('transient');
      },
      { policy: equal, attempts: 10, shouldRetry: (error) => !(error instanceof Refused), sleep, random: top },
    );
    await expect(outcome).rejects.toBeInstanceOf(Refused);
    expect(calls).toBe(2);
    expect(delays).toEqual([100]);
  });

  it('waits at least the delay hint, but never more than the cap', async () => {
    const { delays, sleep } = recordingSleep();
    const hints = [3_000, 20, 60_000];
    await expect(
      retry(async () => Promise.reject(new Error('busy')), { policy: full, attempts: 4, delayHint: () => hints.shift() ?? 0, sleep, random: bottom }),
    ).rejects.toThrow('busy');
    // Backoff 0 (full jitter, random 0): hint 3 s wins; hint 20 ms wins over 0; hint 60 s is capped at 5 s.
    expect(delays).toEqual([3_000, 20, 5_000]);
  });

  it('gives up with the last failure when sleep answers false (shutdown)', async () => {
    const { delays, sleep } = recordingSleep(false);
    let calls = 0;
    await expect(
      retry(
        async () => {
          calls++;
          throw new Error('down');
        },
        { policy: equal, attempts: 5, sleep, random: top },
      ),
    ).rejects.toThrow('down');
    expect(calls).toBe(1);
    expect(delays).toEqual([100]);
  });

  it('reports each retry to onRetry with the failure, attempt and delay', async () => {
    const { sleep } = recordingSleep();
    const reports: [string, number, number][] = [];
    await retry(
      async (attempt) => {
        if (attempt < 3) throw new Error(`fail ${attempt}`);
      },
      { policy: equal, attempts: 3, sleep, random: top, onRetry: (error, attempt, delay) => reports.push([(error as Error).message, attempt, delay]) },
    );
    expect(reports).toEqual([
      ['fail 1', 1, 100],
      ['fail 2', 2, 200],
    ]);
  });

  it('really waits with the default sleep', async () => {
    const started = Date.now();
    let calls = 0;
    await retry(
      async () => {
        if (++calls < 2) throw new Error('once');
      },
      { policy: { baseDelayMs: 40, maxDelayMs: 40 }, attempts: 2, random: top },
    );
    expect(calls).toBe(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(35);
  });
});
