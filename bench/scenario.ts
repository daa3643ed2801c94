/**
 * One scenario: warm up, a closed-loop sweep over concurrency levels to find
 * the peak, then a fixed-rate run at half of the peak for the latency
 * figures. Each step measures terminal transactions per second over its wall
 * time including the drain, latency, server counters and CPU per process.
 */
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import { waitFor } from '../tools/wait.ts';
import type { CoordinatorLogReader } from './coordinator-log.ts';
import { phaseDelta, type PhaseTotals } from './fmt-phases.ts';
import { closedLoop, fixedRate, summariseLatency, type LatencySummary, type LoadResult, type Work } from './load.ts';
import { statusDelta, type MysqlProbe, type ServerStatus } from './mysql-probe.ts';
import type { PostgresWriteCounters } from './postgres-probe.ts';
import { sampleMachine, snapshot, usageBetween, type WatchedProcess } from './proc-stats.ts';

export interface StepResult {
  kind: 'warmup' | 'closed' | 'fixed';
  concurrency: number | null;
  /** Target rate of a fixed-rate step. */
  rate: number | null;
  /** A fixed-rate step's rate as a share of the scenario's peak (0.5 = half of peak). */
  fractionOfPeak: number | null;
  /** Terminal transactions (coordinator's log for a/c — committed ones only for fa, fh; succeeded calls for b). */
  terminal: number;
  succeeded: number;
  errors: number;
  /** The errors by code (load.ts errorCode); absent in results written before it existed. */
  errorCodes?: Record<string, number>;
  /** Time spent per phase in the FMT banks during the step (fmt-bank.ts), summed over both banks; absent for other scenarios. */
  phases?: PhaseTotals;
  skipped: number;
  sampleErrors: string[];
  /** Load time + drain time. */
  wallMs: number;
  drainMs: number;
  tps: number;
  latencyMs: LatencySummary;
  mysql: ServerStatus;
  /** What the coordinator's log server wrote during the step, when the bench can read it (a log on PostgreSQL); else null. */
  logWrites: PostgresWriteCounters | null;
  redisCommands: number;
  /** CPU seconds used during the step, per process. */
  cpuSeconds: Record<string, number>;
  /**
   * Cores kept busy during the step by processes that are not part of the
   * benchmark (anything else on the machine), and hypervisor steal. Figures
   * taken while these are not near zero are not those of an idle machine.
   */
  foreignCores: number;
  stealCores: number;
}

export interface ScenarioContext {
  work: Work;
  probe: MysqlProbe;
  redis: Redis;
  /** The coordinator's log, for the drain, the terminal count and its server's writes; null without a coordinator (b, c0, …). */
  coordinatorLog: CoordinatorLogReader | null;
  /**
   * Count only committed transactions as the step's throughput, not rolled-back ones (fa, fh: a transfer
   * refused for a lock conflict is rolled back, terminal but no transfer); default false.
   */
  committedOnly?: boolean;
  /** The phase totals of the system's FMT banks so far (fmt-bank.ts GET /bench/phases), read around each step; absent for other systems. */
  phases?: () => Promise<PhaseTotals>;
  processes: () => WatchedProcess[];
  log: (line: string) => void;
}

/** A level counts as still climbing when it beats the best level before it by this much. */
const CLIMB_MIN_GAIN = 0.03;

/** Whether the last closed-loop level beat every earlier one by CLIMB_MIN_GAIN: the peak may lie further up. */
export function stillClimbing(steps: readonly StepResult[]): boolean {
  const closed = steps.filter((s) => s.kind === 'closed');
  const last = closed[closed.length - 1];
  if (!last || closed.length < 2) return false;
  const bestBefore = Math.max(...closed.slice(0, -1).map((s) => s.tps));
  return last.tps > bestBefore * (1 + CLIMB_MIN_GAIN);
}

/** The share of the peak whose fixed-rate step gives the headline latency (half of peak). */
export const HEADLINE_FRACTION = 0.5;

export interface SweepOptions {
  /** Closed-loop concurrency levels of the sweep that finds the peak. */
  concurrencies: number[];
  /** Levels beyond `concurrencies` (doubling) are tried while a scenario still climbs, up to this. */
  maxConcurrency: number;
  /** Measured length of one closed-loop level. */
  stepMs: number;
  /** Unmeasured load before the sweep (JIT, pools, buffer pool). */
  warmupMs: number;
  /** Length of each fixed-rate run. */
  fixedRateMs: number;
  /** Shares of the peak at which a fixed-rate step measures latency; must include HEADLINE_FRACTION. */
  fixedFractions: number[];
  /**
   * Unmeasured run at the fixed rate just before each measured one, so that
   * the figures are those of the steady state at that rate, not of the
   * previous step's aftermath (InnoDB purge, GC of the burst before).
   */
  leadInMs: number;
}

export interface ScenarioMeasurements {
  steps: StepResult[];
  peak: StepResult;
  /** The fixed-rate step at HEADLINE_FRACTION of the peak. */
  fixed: StepResult;
  /** Every fixed-rate step, in the order of SweepOptions.fixedFractions. */
  latencySteps: StepResult[];
  /** Peak RSS per process at the end of the scenario (since each process started). */
  peakRssMb: Record<string, number>;
}

async function redisCommands(redis: Redis): Promise<number> {
  const info = await redis.info('stats');
  const match = /total_commands_processed:(\d+)/.exec(info);
  return match ? Number(match[1]) : 0;
}

const DRAIN_TIMEOUT_MS = 120_000;

export async function measureStep(
  ctx: ScenarioContext,
  kind: StepResult['kind'],
  load: () => Promise<LoadResult>,
  setting: { concurrency: number | null; rate: number | null; fractionOfPeak?: number },
): Promise<StepResult> {
  const log = ctx.coordinatorLog;
  const countTerminal = log ? await log.startCount(ctx.committedOnly ?? false) : null;
  const phasesBefore = ctx.phases ? await ctx.phases() : null;
  const procBefore = snapshot(ctx.processes());
  const machineBefore = sampleMachine();
  const statusBefore = await ctx.probe.status();
  const writesBefore = log?.writeCounters ? await log.writeCounters() : null;
  const redisBefore = await redisCommands(ctx.redis);

  const result = await load();

  const drainStart = performance.now();
  let terminal = result.succeeded;
  if (log && countTerminal) {
    await waitFor(async () => (await log.openTransactions()) === 0, {
      what: 'the coordinator to finish every open transaction',
      timeoutMs: DRAIN_TIMEOUT_MS,
      intervalMs: 20,
    });
    terminal = await countTerminal();
  }
  const end = Math.max(performance.now(), result.endedAt);
  const drainMs = log ? end - drainStart : 0;
  const wallMs = (log ? end : result.endedAt) - result.startedAt;

  const statusAfter = await ctx.probe.status();
  const phasesAfter = ctx.phases ? await ctx.phases() : null;
  const writesAfter = log?.writeCounters ? await log.writeCounters() : null;
  const redisAfter = await redisCommands(ctx.redis);
  const usage = usageBetween(procBefore, snapshot(ctx.processes()));
  const machineAfter = sampleMachine();
  const ownSeconds = Object.values(usage).reduce((sum, u) => sum + u.cpuSeconds, 0);
  const wallSeconds = (performance.now() - result.startedAt) / 1000;

  return {
    kind,
    concurrency: setting.concurrency,
    rate: setting.rate,
    fractionOfPeak: setting.fractionOfPeak ?? null,
    terminal,
    succeeded: result.succeeded,
    errors: result.errors,
    errorCodes: result.errorCodes,
    ...(phasesBefore && phasesAfter ? { phases: phaseDelta(phasesBefore, phasesAfter) } : {}),
    skipped: result.skipped,
    sampleErrors: result.sampleErrors,
    wallMs,
    drainMs,
    tps: wallMs > 0 ? (terminal * 1000) / wallMs : 0,
    latencyMs: summariseLatency(result.latenciesMs),
    mysql: statusDelta(statusBefore, statusAfter),
    logWrites:
      writesBefore && writesAfter
        ? { writeTransactions: writesAfter.writeTransactions - writesBefore.writeTransactions, walBytes: writesAfter.walBytes - writesBefore.walBytes }
        : null,
    redisCommands: redisAfter - redisBefore,
    cpuSeconds: Object.fromEntries(Object.entries(usage).map(([name, u]) => [name, u.cpuSeconds])),
    foreignCores: Math.max(0, machineAfter.busySeconds - machineBefore.busySeconds - ownSeconds) / wallSeconds,
    stealCores: (machineAfter.stealSeconds - machineBefore.stealSeconds) / wallSeconds,
  };
}

function headline(steps: StepResult[]): StepResult {
  const step = steps.find((s) => s.fractionOfPeak === HEADLINE_FRACTION);
  if (!step) throw new Error(`no fixed-rate step at ${HEADLINE_FRACTION} of the peak; fixedFractions must include it`);
  return step;
}

/** Cores the scenario's processes (servers and load generator included) kept busy during the step. */
export function coresBusy(s: StepResult): number {
  return s.wallMs > 0 ? Object.values(s.cpuSeconds).reduce((sum, v) => sum + v, 0) / (s.wallMs / 1000) : Number.NaN;
}

export function fractionName(fraction: number | null): string {
  if (fraction === 0.5) return 'half of peak';
  if (fraction === 0.25) return 'quarter of peak';
  return fraction === null ? '-' : `${Math.round(fraction * 100)} % of peak`;
}

/** `FMT_LOCK_CONFLICT 4, TRY_FAILED 12; ` — the step's errors by code, when it has them. */
function errorCodesText(s: StepResult): string {
  const codes = Object.entries(s.errorCodes ?? {});
  return codes.length === 0 ? '' : `${codes.map(([code, n]) => `${code} ${n}`).join(', ')}; `;
}

function describe(s: StepResult): string {
  return (
    `${s.kind === 'fixed' ? `rate ${s.rate}/s (${fractionName(s.fractionOfPeak)})` : `concurrency ${s.concurrency}`}: ${s.tps.toFixed(0)} tx/s, ` +
    `p50 ${s.latencyMs.p50.toFixed(1)} ms, p99 ${s.latencyMs.p99.toFixed(1)} ms, ${coresBusy(s).toFixed(2)} cores busy` +
    `${s.errors ? `, ${s.errors} errors (${errorCodesText(s)}${s.sampleErrors[0]})` : ''}${s.skipped ? `, ${s.skipped} skipped` : ''}` +
    `${s.drainMs > 50 ? `, drain ${s.drainMs.toFixed(0)} ms` : ''}` +
    `${s.foreignCores > 0.1 ? ` [machine not idle: ${s.foreignCores.toFixed(2)} cores used by other processes]` : ''}`
  );
}

/**
 * Runs the scenarios in turns, level by level: warm-up of each, then each
 * concurrency level for every scenario before the next level, then the
 * fixed-rate runs. All systems are up at once (an idle one costs nothing but
 * memory), so that a change in other load on the machine hits every scenario
 * alike instead of only the one that happened to run then.
 */
export async function runInterleaved<K extends string>(
  contexts: Record<K, ScenarioContext>,
  titles: Record<K, string>,
  options: SweepOptions,
): Promise<Record<K, ScenarioMeasurements>> {
  const names = Object.keys(contexts) as K[];
  const steps = Object.fromEntries(names.map((n) => [n, [] as StepResult[]])) as Record<K, StepResult[]>;
  const run = async (
    name: K,
    kind: StepResult['kind'],
    load: () => Promise<LoadResult>,
    setting: { concurrency: number | null; rate: number | null; fractionOfPeak?: number },
  ) => {
    const ctx = contexts[name];
    const step = await measureStep(ctx, kind, load, setting);
    ctx.log(`  ${titles[name]} ${kind === 'warmup' ? 'warm-up ' : ''}${describe(step)}`);
    steps[name].push(step);
    return step;
  };

  for (const name of names) await run(name, 'warmup', () => closedLoop(contexts[name].work, 16, options.warmupMs), { concurrency: 16, rate: null });
  const closedLevel = (name: K, concurrency: number) =>
    run(name, 'closed', () => closedLoop(contexts[name].work, concurrency, options.stepMs), { concurrency, rate: null });
  for (const concurrency of options.concurrencies) {
    for (const name of names) await closedLevel(name, concurrency);
  }
  // A scenario still gaining at the last level has not shown its peak yet: keep doubling for it.
  let climbing = names.filter((name) => stillClimbing(steps[name]));
  for (let concurrency = 2 * Math.max(...options.concurrencies); climbing.length > 0 && concurrency <= options.maxConcurrency; concurrency *= 2) {
    for (const name of climbing) await closedLevel(name, concurrency);
    climbing = climbing.filter((name) => stillClimbing(steps[name]));
  }
  const peaks = {} as Record<K, StepResult>;
  for (const name of names) {
    const closed = steps[name].filter((s) => s.kind === 'closed');
    peaks[name] = closed.reduce((best, s) => (s.tps > best.tps ? s : best), closed[0]!);
  }
  const latencySteps = Object.fromEntries(names.map((n) => [n, [] as StepResult[]])) as Record<K, StepResult[]>;
  for (const fractionOfPeak of options.fixedFractions) {
    for (const name of names) {
      const rate = Math.max(1, Math.round(peaks[name].tps * fractionOfPeak));
      await fixedRate(contexts[name].work, rate, options.leadInMs);
      const step = await run(name, 'fixed', () => fixedRate(contexts[name].work, rate, options.fixedRateMs), { concurrency: null, rate, fractionOfPeak });
      latencySteps[name].push(step);
    }
  }

  const out = {} as Record<K, ScenarioMeasurements>;
  for (const name of names) {
    const end = snapshot(contexts[name].processes());
    out[name] = {
      steps: steps[name],
      peak: peaks[name],
      fixed: headline(latencySteps[name]),
      latencySteps: latencySteps[name],
      peakRssMb: Object.fromEntries([...end].map(([p, sample]) => [p, sample.peakRssMb])),
    };
  }
  return out;
}
