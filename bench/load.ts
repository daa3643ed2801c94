/**
 * Load generators: closed loop (N workers, each starts its next transaction
 * when the previous one ends — finds the peak) and fixed rate (open loop:
 * transactions start on a schedule whatever the latency — gives latency
 * figures without coordinated omission, measured from the scheduled start).
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

/** One unit of work: a whole transaction, begin to terminal answer. Throws when it did not succeed. */
export type Work = () => Promise<void>;

export interface LoadResult {
  /** Transactions started. */
  started: number;
  /** Transactions that ended without an error. */
  succeeded: number;
  errors: number;
  /** A few error texts, for the report. */
  sampleErrors: string[];
  /** Errors by their code (a DtxError's, e.g. FMT_LOCK_CONFLICT), or by name without one (see errorCode). */
  errorCodes: Record<string, number>;
  /** Latency of each succeeded transaction, ms. */
  latenciesMs: number[];
  /** performance.now() at the first start and at the last end. */
  startedAt: number;
  endedAt: number;
  /** Fixed rate only: starts skipped because too many transactions were already in flight. */
  skipped: number;
}

function emptyResult(): LoadResult {
  return {
    started: 0,
    succeeded: 0,
    errors: 0,
    sampleErrors: [],
    errorCodes: {},
    latenciesMs: [],
    startedAt: performance.now(),
    endedAt: performance.now(),
    skipped: 0,
  };
}

/** What an error of a transaction is counted as: its string `code` (the SDK's errors carry one), else its name. */
export function errorCode(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && code !== '') return code;
    if (error instanceof Error) return error.name;
  }
  return 'unknown';
}

async function runOne(work: Work, result: LoadResult, startedAt: number): Promise<void> {
  result.started++;
  try {
    await work();
    result.succeeded++;
    result.latenciesMs.push(performance.now() - startedAt);
  } catch (error) {
    result.errors++;
    const code = errorCode(error);
    const firstOfItsCode = result.errorCodes[code] === undefined;
    result.errorCodes[code] = (result.errorCodes[code] ?? 0) + 1;
    // The first five, and the first of every other code (up to ten in all).
    if (result.sampleErrors.length < 5 || (firstOfItsCode && result.sampleErrors.length < 10))
      result.sampleErrors.push(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
  } finally {
    result.endedAt = performance.now();
  }
}

/** `concurrency` workers for `durationMs`; transactions in flight at the end are waited for. */
export async function closedLoop(work: Work, concurrency: number, durationMs: number): Promise<LoadResult> {
  const result = emptyResult();
  const end = result.startedAt + durationMs;
  const worker = async () => {
    while (performance.now() < end) await runOne(work, result, performance.now());
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return result;
}

/**
 * Starts `ratePerSecond` transactions a second for `durationMs`, on schedule;
 * latency counts from the scheduled start. Never more than `maxInFlight` at
 * once (a start beyond that is skipped and counted).
 */
export async function fixedRate(work: Work, ratePerSecond: number, durationMs: number, maxInFlight = 5_000): Promise<LoadResult> {
  const result = emptyResult();
  const t0 = result.startedAt;
  const total = Math.floor((ratePerSecond * durationMs) / 1000);
  const inFlight = new Set<Promise<void>>();
  let issued = 0;
  while (issued < total) {
    const due = Math.min(total, Math.floor(((performance.now() - t0) * ratePerSecond) / 1000) + 1);
    for (; issued < due; issued++) {
      if (inFlight.size >= maxInFlight) {
        result.skipped++;
        continue;
      }
      const scheduled = t0 + (issued * 1000) / ratePerSecond;
      const p = runOne(work, result, scheduled);
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    }
    // Sleep until the next start is due rather than polling: a generator waking every millisecond
    // would itself compete for the cores with the system it measures.
    const nextDue = t0 + (issued * 1000) / ratePerSecond;
    await sleep(Math.max(0, nextDue - performance.now()));
  }
  await Promise.all(inFlight);
  return result;
}

/**
 * One transaction at a time, started on the schedule of `ratePerSecond`
 * (a start whose slot passed while the previous one ran waits for it):
 * the same work and rate as fixedRate, but transactions never overlap.
 * Latency counts from each actual start. Compared with fixedRate at the same
 * rate it tells how much of the tail comes from transactions meeting each
 * other on the machine (bench/tail.ts).
 */
export async function paced(work: Work, ratePerSecond: number, durationMs: number): Promise<LoadResult> {
  const result = emptyResult();
  const total = Math.floor((ratePerSecond * durationMs) / 1000);
  for (let i = 0; i < total; i++) {
    const slot = result.startedAt + (i * 1000) / ratePerSecond;
    const wait = slot - performance.now();
    if (wait > 0) await sleep(wait);
    await runOne(work, result, performance.now());
  }
  return result;
}

export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export function summariseLatency(latenciesMs: readonly number[]): LatencySummary {
  if (latenciesMs.length === 0) return { p50: Number.NaN, p90: Number.NaN, p99: Number.NaN, max: Number.NaN, mean: Number.NaN };
  const sorted = Float64Array.from(latenciesMs).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  const sum = sorted.reduce((a, b) => a + b, 0);
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted[sorted.length - 1]!, mean: sum / sorted.length };
}
