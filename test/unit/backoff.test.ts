import { describe, expect, it } from 'vitest';
import { retryDelayMs, type RetryPolicy } from '../../coordinator/domain/backoff.ts';

const policy: RetryPolicy = { baseDelayMs: 1_000, maxDelayMs: 60_000, attentionAfterRetries: 10, attentionAfterMs: 600_000 };
const top = () => 1;
const bottom = () => 0;
/** The largest value Math.random() can return. */
const almostOne = () => 1 - Number.EPSILON;

describe('retryDelayMs', () => {
  it('doubles with each retry (at the top of the jitter range)', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => retryDelayMs(n, policy, top))).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000]);
  });

  it('caps at maxDelayMs', () => {
    expect(retryDelayMs(7, policy, top)).toBe(60_000); // 64 000 capped
    expect(retryDelayMs(8, policy, top)).toBe(60_000);
    expect(retryDelayMs(30, policy, top)).toBe(60_000);
  });

  it('jitter spans [ceiling/2, ceiling]', () => {
    expect(retryDelayMs(1, policy, bottom)).toBe(500);
    expect(retryDelayMs(1, policy, almostOne)).toBe(1_000);
    expect(retryDelayMs(3, policy, bottom)).toBe(2_000);
    expect(retryDelayMs(3, policy, almostOne)).toBe(4_000);
    expect(retryDelayMs(3, policy, () => 0.5)).toBe(3_000);
    expect(retryDelayMs(100, policy, bottom)).toBe(30_000);
    expect(retryDelayMs(100, policy, almostOne)).toBe(60_000);
  });

  it('stays within bounds for many random draws', () => {
    let seed = 42;
    const lcg = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let n = 1; n <= 40; n++) {
      const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (n - 1));
      for (let i = 0; i < 50; i++) {
        const delay = retryDelayMs(n, policy, lcg);
        expect(delay).toBeGreaterThanOrEqual(ceiling / 2);
        expect(delay).toBeLessThanOrEqual(ceiling);
        expect(Number.isInteger(delay)).toBe(true);
      }
    }
  });

  it('is never 0, even with a 1 ms base and random() = 0', () => {
    const tiny: RetryPolicy = { baseDelayMs: 1, maxDelayMs: 1, attentionAfterRetries: 1, attentionAfterMs: 1 };
    expect(retryDelayMs(1, tiny, bottom)).toBeGreaterThan(0);
    expect(retryDelayMs(1, policy, bottom)).toBeGreaterThan(0);
    expect(retryDelayMs(50, tiny, bottom)).toBeGreaterThan(0);
  });

  it('treats retryCount 0 or negative like the first retry', () => {
    expect(retryDelayMs(0, policy, top)).toBe(1_000);
    expect(retryDelayMs(-5, policy, top)).toBe(1_000);
  });

  it('does not overflow for huge retry counts', () => {
    for (const n of [31, 100, 1_000, 1_000_000, Number.MAX_SAFE_INTEGER]) {
      const delay = retryDelayMs(n, policy, top);
      expect(Number.isFinite(delay)).toBe(true);
      expect(delay).toBe(60_000);
      expect(retryDelayMs(n, policy, bottom)).toBe(30_000);
    }
  });

  it('does not overflow with a large base and cap', () => {
    const big: RetryPolicy = { baseDelayMs: 3_600_000, maxDelayMs: 24 * 3_600_000, attentionAfterRetries: 1, attentionAfterMs: 1 };
    expect(retryDelayMs(1_000, big, top)).toBe(24 * 3_600_000);
    expect(retryDelayMs(2, big, top)).toBe(7_200_000);
  });
});
