/**
 * The benchmark's pure logic: command-line options, latency percentiles, the
 * step helpers of scenario.ts and the report (bench-results.json + tables).
 * No servers, no load: every measurement here is built by hand.
 */
import { describe, expect, it } from 'vitest';
import { errorCode, summariseLatency, type LatencySummary } from '../../bench/load.ts';
import { phaseDelta, phaseRows, sortPhases, sumPhases, PHASE_ORDER, type PhaseTotals } from '../../bench/fmt-phases.ts';
import type { MachineInfo } from '../../bench/machine.ts';
import { STATUS_COUNTERS, type ServerStatus } from '../../bench/mysql-probe.ts';
import {
  BenchUsageError,
  benchRuns,
  DEFAULT_SCENARIOS,
  isFmtScenario,
  OPT_IN_SCENARIOS,
  parseBenchOptions,
  scenarioOfRun,
  SCENARIOS,
  type LogStore,
  type ScenarioName,
} from '../../bench/options.ts';
import {
  beatsSagaReference,
  buildResults,
  FMT_LOCK_CONFLICT,
  formatTables,
  levelRatios,
  peakRatio,
  SAGA_REFERENCE,
  scenarioReport,
  type BenchResults,
  type ScenarioReport,
} from '../../bench/report.ts';
import { coresBusy, fractionName, stillClimbing, type ScenarioMeasurements, type StepResult } from '../../bench/scenario.ts';
import { committedOfMetrics, parseLogMetrics } from '../../bench/coordinator-log.ts';
import { systemParts } from '../../bench/system.ts';

// ---------------------------------------------------------------------------
// Builders
// ---------------------------------------------------------------------------

/** Every server counter at 0, except the ones given. */
function serverStatus(overrides: Partial<ServerStatus> = {}): ServerStatus {
  return { ...(Object.fromEntries(STATUS_COUNTERS.map((name) => [name, 0])) as ServerStatus), ...overrides };
}

function latencySummary(overrides: Partial<LatencySummary> = {}): LatencySummary {
  return { p50: 1, p90: 2, p99: 3, max: 4, mean: 1.5, ...overrides };
}

/** A closed-loop step unless overridden; 1 000 terminal transactions in 2 s. */
function step(overrides: Partial<StepResult> = {}): StepResult {
  return {
    kind: 'closed',
    concurrency: 16,
    rate: null,
    fractionOfPeak: null,
    terminal: 1_000,
    succeeded: 1_000,
    errors: 0,
    skipped: 0,
    sampleErrors: [],
    wallMs: 2_000,
    drainMs: 0,
    tps: 500,
    latencyMs: latencySummary(),
    mysql: serverStatus(),
    logWrites: null,
    redisCommands: 0,
    cpuSeconds: {},
    foreignCores: 0,
    stealCores: 0,
    ...overrides,
  };
}

/** A fixed-rate step at `fraction` of the peak. */
function fixedStep(fraction: number, overrides: Partial<StepResult> = {}): StepResult {
  return step({ kind: 'fixed', concurrency: null, fractionOfPeak: fraction, wallMs: 15_000, ...overrides });
}

function measurements(peak: StepResult, latencySteps: StepResult[], extra: Partial<ScenarioMeasurements> = {}): ScenarioMeasurements {
  return {
    steps: [peak, ...latencySteps],
    peak,
    fixed: latencySteps[0]!,
    latencySteps,
    peakRssMb: {},
    ...extra,
  };
}

const MACHINE: MachineInfo = {
  cpus: 4,
  cpuModel: 'Test CPU @ 3.0GHz',
  memoryGb: 16,
  kernel: '6.1.0-test',
  node: 'v20.19.0',
  mysql: '10.11.6-MariaDB',
  redis: '7.0.15',
};

interface ScenarioFigures {
  peakTps: number;
  /** The store of its coordinator's log; null (the default) for a floor. */
  store?: LogStore | null;
  /** COMMIT statements per terminal transaction at the peak. */
  commitsPerTx?: number;
  halfP99?: number;
  quarterP99?: number;
  coordinatorRssMb?: number;
}

/**
 * A scenario report as run.ts makes it: 1 000 terminal transactions at the
 * peak, a half-peak step (p99 `halfP99`) and a quarter-peak step.
 */
function report(f: ScenarioFigures): ScenarioReport {
  const terminal = 1_000;
  const peak = step({
    tps: f.peakTps,
    terminal,
    mysql: serverStatus({ Com_commit: (f.commitsPerTx ?? 0) * terminal }),
    cpuSeconds: { coordinator: 0.5, mysql: 1.5 },
  });
  const half = fixedStep(0.5, {
    rate: Math.round(f.peakTps / 2),
    latencyMs: latencySummary({ p99: f.halfP99 ?? 10 }),
    cpuSeconds: { coordinator: 3, mysql: 6 },
  });
  const quarter = fixedStep(0.25, {
    rate: Math.round(f.peakTps / 4),
    latencyMs: latencySummary({ p99: f.quarterP99 ?? 5 }),
    cpuSeconds: { coordinator: 1, mysql: 2 },
  });
  const peakRssMb: Record<string, number> = { mysql: 400 };
  if (f.coordinatorRssMb !== undefined) peakRssMb['coordinator'] = f.coordinatorRssMb;
  return scenarioReport(measurements(peak, [half, quarter], { peakRssMb }), MACHINE.cpus, f.store ?? null);
}

/** Figures that meet every target. */
function goodReports(): Partial<Record<ScenarioName, ScenarioReport>> {
  return {
    a: report({ peakTps: 800, commitsPerTx: 5, halfP99: 12, quarterP99: 8, coordinatorRssMb: 120, store: 'mysql' }),
    b: report({ peakTps: 1_000, commitsPerTx: 2, halfP99: 4 }),
    c: report({ peakTps: 1_500, commitsPerTx: 2.5, halfP99: 6, coordinatorRssMb: 150, store: 'mysql' }),
    c0: report({ peakTps: 2_000, halfP99: 2 }),
  };
}

/** The saga scenarios: sa at 0.6 of its floor sb, and sc. */
function sagaReports(): Partial<Record<ScenarioName, ScenarioReport>> {
  return {
    sa: report({ peakTps: 600, commitsPerTx: 5, halfP99: 10, coordinatorRssMb: 110, store: 'mysql' }),
    sb: report({ peakTps: 1_000, commitsPerTx: 2, halfP99: 4 }),
    sc: report({ peakTps: 1_400, commitsPerTx: 3, halfP99: 5, coordinatorRssMb: 100, store: 'mysql' }),
  };
}

function results(reports: Partial<Record<ScenarioName, ScenarioReport>>): BenchResults {
  return buildResults(reports, MACHINE, parseBenchOptions([]), { duration_s: 42 });
}

type Targets = Record<'ratio' | 'empty_tps' | 'p99_ms' | 'coordinator_rss_mb', { target: string; met: boolean | null }>;
const targetsOf = (r: BenchResults) => r['targets'] as Targets;
const metFlags = (r: BenchResults) => Object.fromEntries(Object.entries(targetsOf(r)).map(([name, t]) => [name, t.met]));

// ---------------------------------------------------------------------------
// bench/options.ts
// ---------------------------------------------------------------------------

describe('parseBenchOptions', () => {
  it('gives the full run by default', () => {
    const o = parseBenchOptions([]);
    expect(o).toMatchObject({
      mode: 'standard',
      quick: false,
      profile: false,
      scenarios: ['a', 'b', 'c', 'c0', 'sa', 'sb', 'sc', 'xa', 'xb', 'xc', 'fa', 'fb'],
      runtime: 'compiled',
      concurrencies: [1, 4, 16, 32, 64],
      stepMs: 10_000,
      warmupMs: 4_000,
      fixedRateMs: 15_000,
      fixedFractions: [0.5, 0.25],
      leadInMs: 3_000,
      coordinatorLogLevel: 'info',
      coordinatorNodeArgs: [],
      coordinatorEnv: {},
      scaleRows: 1_000_000,
      resultsFile: 'bench-results.json',
    });
  });

  it('--quick shortens the sweep, keeps one fixed rate and a shorter lead-in', () => {
    const o = parseBenchOptions(['--quick']);
    expect(o.quick).toBe(true);
    expect(o.concurrencies).toEqual([4, 16, 64]);
    expect(o.fixedFractions).toEqual([0.5]);
    expect(o.leadInMs).toBe(1_000);
    expect(o.stepMs).toBe(3_000);
    expect(o.fixedRateMs).toBe(5_000);
    expect(o.resultsFile).toBe('bench-results.json');
  });

  it('--profile keeps its figures out of bench-results.json', () => {
    const o = parseBenchOptions(['--profile']);
    expect(o.profile).toBe(true);
    expect(o.resultsFile).not.toBeNull();
    expect(o.resultsFile).not.toBe('bench-results.json');
  });

  it('--scale switches the mode', () => {
    expect(parseBenchOptions(['--scale']).mode).toBe('scale');
  });

  it('--only picks scenarios, without duplicates', () => {
    expect(parseBenchOptions(['--only=a,c']).scenarios).toEqual(['a', 'c']);
    expect(parseBenchOptions(['--only=b,b']).scenarios).toEqual(['b']);
  });

  it('--only takes c0, alone or with c', () => {
    expect(parseBenchOptions(['--only=c,c0']).scenarios).toEqual(['c', 'c0']);
    expect(parseBenchOptions(['--only=c0']).scenarios).toEqual(['c0']);
    expect(parseBenchOptions(['--only= c0 , a']).scenarios).toEqual(['c0', 'a']);
  });

  it('runs the saga scenarios after the TCC ones, then the XA ones, then FMT, with --quick too', () => {
    expect(parseBenchOptions(['--quick']).scenarios).toEqual(['a', 'b', 'c', 'c0', 'sa', 'sb', 'sc', 'xa', 'xb', 'xc', 'fa', 'fb']);
    expect(parseBenchOptions(['--only=xa,xb']).scenarios).toEqual(['xa', 'xb']);
  });

  it('--only takes the saga scenarios, alone or with the TCC ones', () => {
    expect(parseBenchOptions(['--only=sa,sb']).scenarios).toEqual(['sa', 'sb']);
    expect(parseBenchOptions(['--only=sc,c']).scenarios).toEqual(['sc', 'c']);
    expect(parseBenchOptions(['--quick', '--only=sa,sb,sc']).scenarios).toEqual(['sa', 'sb', 'sc']);
  });

  it('--concurrency replaces the sweep levels, even with --quick', () => {
    expect(parseBenchOptions(['--concurrency=2,8']).concurrencies).toEqual([2, 8]);
    expect(parseBenchOptions(['--quick', '--concurrency=2,8']).concurrencies).toEqual([2, 8]);
  });

  it('--step-ms and --scale-rows take positive integers', () => {
    const o = parseBenchOptions(['--step-ms=2500', '--scale-rows=5000']);
    expect(o.stepMs).toBe(2_500);
    expect(o.scaleRows).toBe(5_000);
  });

  it('--runtime and --coordinator-log-level accept their values', () => {
    const o = parseBenchOptions(['--runtime=tsx', '--coordinator-log-level=warn']);
    expect(o.runtime).toBe('tsx');
    expect(o.coordinatorLogLevel).toBe('warn');
  });

  it('--coordinator-env gives DTX_ variables', () => {
    expect(parseBenchOptions(['--coordinator-env=DTX_A=1,DTX_B=x']).coordinatorEnv).toEqual({ DTX_A: '1', DTX_B: 'x' });
  });

  it('climbs past the default levels (up to 256) but not past levels named by hand', () => {
    expect(parseBenchOptions([]).maxConcurrency).toBe(256);
    expect(parseBenchOptions(['--concurrency=2,8']).maxConcurrency).toBe(8);
  });

  it('--bank-handlers picks knex transactions (default) or plain SQL for the banks', () => {
    expect(parseBenchOptions([]).bankHandlers).toBe('knex');
    expect(parseBenchOptions(['--bank-handlers=sql']).bankHandlers).toBe('sql');
    expect(() => parseBenchOptions(['--bank-handlers=orm'])).toThrow(BenchUsageError);
  });

  it('--coordinator-node-args splits node flags on white space', () => {
    expect(parseBenchOptions(['--coordinator-node-args=--foo --bar']).coordinatorNodeArgs).toEqual(['--foo', '--bar']);
    expect(parseBenchOptions(['--coordinator-node-args=  --max-semi-space-size=8  ']).coordinatorNodeArgs).toEqual(['--max-semi-space-size=8']);
  });

  describe('--store', () => {
    it('keeps the log on MySQL by default: every run named by its scenario, floors without a store', () => {
      const o = parseBenchOptions(['--only=a,b,c,c0']);
      expect(o.stores).toEqual(['mysql']);
      expect(o.runs).toEqual([
        { id: 'a', scenario: 'a', store: 'mysql' },
        { id: 'b', scenario: 'b', store: null },
        { id: 'c', scenario: 'c', store: 'mysql' },
        { id: 'c0', scenario: 'c0', store: null },
      ]);
    });

    it('gives every coordinator scenario of the default run the store, and the same ids as before the option', () => {
      const o = parseBenchOptions([]);
      expect(o.runs.map((r) => r.id)).toEqual(o.scenarios);
      expect(o.runs.filter((r) => r.store !== null).map((r) => r.id)).toEqual(['a', 'c', 'sa', 'sc', 'xa', 'xc', 'fa']);
    });

    it('takes one store, in both option forms', () => {
      expect(parseBenchOptions(['--store=postgres']).stores).toEqual(['postgres']);
      expect(parseBenchOptions(['--store', 'embedded']).stores).toEqual(['embedded']);
      expect(parseBenchOptions(['--only=c,c0', '--store=postgres']).runs).toEqual([
        { id: 'c', scenario: 'c', store: 'postgres' },
        { id: 'c0', scenario: 'c0', store: null },
      ]);
    });

    it('all runs each coordinator scenario on every store, next to one floor', () => {
      const o = parseBenchOptions(['--quick', '--only=c,c0', '--store=all']);
      expect(o.stores).toEqual(['mysql', 'postgres', 'embedded']);
      expect(o.runs.map((r) => r.id)).toEqual(['c', 'c@postgres', 'c@embedded', 'c0']);
      expect(o.runs.map((r) => r.store)).toEqual(['mysql', 'postgres', 'embedded', null]);
    });

    it('takes a comma list, each store once, the first one named like the scenario', () => {
      const o = parseBenchOptions(['--only=a,b', '--store=embedded, mysql,embedded']);
      expect(o.stores).toEqual(['embedded', 'mysql']);
      expect(o.runs).toEqual([
        { id: 'a', scenario: 'a', store: 'embedded' },
        { id: 'a@mysql', scenario: 'a', store: 'mysql' },
        { id: 'b', scenario: 'b', store: null },
      ]);
    });

    it('lets --scale run on MySQL, and the floors alone on the default store', () => {
      expect(parseBenchOptions(['--scale', '--store=mysql']).mode).toBe('scale');
      expect(parseBenchOptions(['--only=b,c0']).runs.map((r) => r.store)).toEqual([null, null]);
    });

    it.each([
      ['an unknown store', ['--store=sqlite'], /--store takes mysql, postgres, embedded.*"sqlite"/],
      ['an empty store', ['--store='], /--store takes/],
      ['all among others', ['--store=all,mysql'], /"all"/],
      ['a store in upper case', ['--store=MySQL'], /"MySQL"/],
      ['--scale on PostgreSQL', ['--scale', '--store=postgres'], /--scale .* --store=mysql only/],
      ['--scale on every store', ['--scale', '--store=all'], /--scale .* --store=mysql only/],
      ['a store for floors alone', ['--only=b', '--store=postgres'], /--only=b runs no coordinator/],
      ['every store for c0 alone', ['--only=c0', '--store=all'], /--only=c0 runs no coordinator/],
    ])('refuses %s, saying why', (_what, argv, message) => {
      expect(() => parseBenchOptions(argv)).toThrow(BenchUsageError);
      expect(() => parseBenchOptions(argv)).toThrow(message);
    });
  });

  describe('rejects bad usage with a BenchUsageError', () => {
    it.each([
      ['an unknown option', ['--fast']],
      ['a bad --only value', ['--only=a,d']],
      ['a floor of a scenario that has none', ['--only=b0']],
      ['c0 in upper case', ['--only=C0']],
      ['a saga scenario that does not exist', ['--only=sd']],
      ['a saga floor of the empty participant', ['--only=sc0']],
      ['an empty --only', ['--only=']],
      ['a bad --runtime', ['--runtime=bun']],
      ['a bad log level', ['--coordinator-log-level=verbose']],
      ['a zero --step-ms', ['--step-ms=0']],
      ['a negative --step-ms', ['--step-ms=-5']],
      ['a fractional --step-ms', ['--step-ms=1.5']],
      ['a non-numeric --concurrency', ['--concurrency=4,x']],
      ['a zero --concurrency', ['--concurrency=0,4']],
      ['a --coordinator-env variable not named DTX_', ['--coordinator-env=NODE_ENV=production']],
      ['a --coordinator-env pair without a value', ['--coordinator-env=DTX_A']],
      ['a node arg without --', ['--coordinator-node-args=--foo bar']],
      ['a positional argument', ['quick']],
      ['a single-dash option', ['-q']],
      ['a value for a switch (--quick=false would turn it on)', ['--quick=false']],
      ['a value for --profile', ['--profile=no']],
    ])('%s', (_what, argv) => {
      expect(() => parseBenchOptions(argv)).toThrow(BenchUsageError);
    });

    it('names the culprit', () => {
      expect(() => parseBenchOptions(['--fast'])).toThrow('--fast');
      expect(() => parseBenchOptions(['--only=a,d'])).toThrow(/got d/);
      expect(() => parseBenchOptions(['--only=a,d'])).toThrow('a, b, c, c0, sa, sb, sc');
      expect(() => parseBenchOptions(['stray'])).toThrow('"stray"');
    });

    it('is an Error with its own name', () => {
      let caught: unknown;
      try {
        parseBenchOptions(['--runtime=bun']);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(Error);
      expect((caught as Error).name).toBe('BenchUsageError');
    });
  });
});

// ---------------------------------------------------------------------------
// bench/system.ts
// ---------------------------------------------------------------------------

describe('systemParts', () => {
  it.each([
    ['a', { coordinator: true, banks: true, emptyParticipant: false }],
    ['b', { coordinator: false, banks: true, emptyParticipant: false }],
    ['c', { coordinator: true, banks: false, emptyParticipant: true }],
    ['c0', { coordinator: false, banks: false, emptyParticipant: true }],
    ['sa', { coordinator: true, banks: true, emptyParticipant: false }],
    ['sb', { coordinator: false, banks: true, emptyParticipant: false }],
    ['sc', { coordinator: true, banks: false, emptyParticipant: true }],
  ] as const)('%s runs %o', (scenario, parts) => {
    expect(systemParts(scenario)).toEqual(parts);
  });

  it('gives each floor its system without the coordinator', () => {
    expect(systemParts('b')).toEqual({ ...systemParts('a'), coordinator: false });
    expect(systemParts('c0')).toEqual({ ...systemParts('c'), coordinator: false });
    expect(systemParts('sb')).toEqual({ ...systemParts('sa'), coordinator: false });
  });

  it('runs each saga scenario on the processes of its TCC counterpart', () => {
    expect(systemParts('sa')).toEqual(systemParts('a'));
    expect(systemParts('sb')).toEqual(systemParts('b'));
    expect(systemParts('sc')).toEqual(systemParts('c'));
  });
});

// ---------------------------------------------------------------------------
// bench/load.ts
// ---------------------------------------------------------------------------

describe('summariseLatency', () => {
  const oneToHundred = Array.from({ length: 100 }, (_, i) => i + 1);

  it('gives NaN for every figure without samples', () => {
    const s = summariseLatency([]);
    for (const value of Object.values(s)) expect(value).toBeNaN();
    expect(Object.keys(s).sort()).toEqual(['max', 'mean', 'p50', 'p90', 'p99']);
  });

  it('takes nearest-rank percentiles', () => {
    expect(summariseLatency(oneToHundred)).toEqual({ p50: 50, p90: 90, p99: 99, max: 100, mean: 50.5 });
  });

  it('sorts its input (numerically, not as text) and leaves it untouched', () => {
    const shuffled = [...oneToHundred].sort((x, y) => ((x * 37) % 101) - ((y * 37) % 101));
    const copy = [...shuffled];
    expect(summariseLatency(shuffled)).toEqual({ p50: 50, p90: 90, p99: 99, max: 100, mean: 50.5 });
    expect(shuffled).toEqual(copy);
    // As text, 100 < 20 < 9: a lexicographic sort would give max 9.
    expect(summariseLatency([100, 9, 20])).toMatchObject({ p50: 20, max: 100 });
  });

  it('handles a single sample and fractional latencies', () => {
    expect(summariseLatency([7.25])).toEqual({ p50: 7.25, p90: 7.25, p99: 7.25, max: 7.25, mean: 7.25 });
    expect(summariseLatency([0.5, 2.5, 1.5, 3.5])).toEqual({ p50: 1.5, p90: 3.5, p99: 3.5, max: 3.5, mean: 2 });
  });
});

// ---------------------------------------------------------------------------
// bench/scenario.ts
// ---------------------------------------------------------------------------

describe('coresBusy', () => {
  it('is CPU seconds of every process over the wall seconds', () => {
    expect(coresBusy(step({ wallMs: 2_000, cpuSeconds: { coordinator: 1, mysql: 3 } }))).toBe(2);
    expect(coresBusy(step({ wallMs: 4_000, cpuSeconds: { coordinator: 1 } }))).toBe(0.25);
  });

  it('is 0 with no CPU used and NaN for a step of no length', () => {
    expect(coresBusy(step({ wallMs: 1_000, cpuSeconds: {} }))).toBe(0);
    expect(coresBusy(step({ wallMs: 0, cpuSeconds: { coordinator: 1 } }))).toBeNaN();
  });
});

describe('stillClimbing', () => {
  const closedAt = (concurrency: number, tps: number) => step({ kind: 'closed', concurrency, tps });

  it('is true while the last level beats every earlier one by 3 % or more', () => {
    expect(stillClimbing([closedAt(16, 900), closedAt(32, 950), closedAt(64, 1_000)])).toBe(true);
    expect(stillClimbing([closedAt(16, 900), closedAt(32, 1_000), closedAt(64, 1_020)])).toBe(false);
  });

  it('is false once a level falls back, and with fewer than two levels', () => {
    expect(stillClimbing([closedAt(32, 1_000), closedAt(64, 980)])).toBe(false);
    expect(stillClimbing([closedAt(64, 1_000)])).toBe(false);
  });

  it('ignores the warm-up and fixed-rate steps', () => {
    expect(stillClimbing([step({ kind: 'warmup', tps: 5_000 }), closedAt(32, 900), closedAt(64, 1_000), fixedStep(0.5, { tps: 10 })])).toBe(true);
  });
});

describe('fractionName', () => {
  it.each([
    [0.5, 'half of peak'],
    [0.25, 'quarter of peak'],
    [0.1, '10 % of peak'],
    [0.75, '75 % of peak'],
    [0.07, '7 % of peak'], // 0.07 × 100 is 7.000000000000001: rounded
    [1 / 3, '33 % of peak'],
    [null, '-'],
  ])('%s → %s', (fraction, name) => {
    expect(fractionName(fraction)).toBe(name);
  });
});

// ---------------------------------------------------------------------------
// bench/report.ts
// ---------------------------------------------------------------------------

describe('scenarioReport', () => {
  const peak = step({
    concurrency: 32,
    tps: 500,
    terminal: 1_000,
    wallMs: 2_000,
    cpuSeconds: { coordinator: 0.5, mysql: 1.5 },
    mysql: serverStatus({ Com_commit: 3_000, Questions: 12_000, Handler_read_key: 2_000, Handler_read_next: 1_000 }),
    redisCommands: 500,
    foreignCores: 0.05,
    errors: 2,
  });
  const half = fixedStep(0.5, {
    rate: 250,
    tps: 249,
    terminal: 3_750,
    wallMs: 15_000,
    cpuSeconds: { coordinator: 3, mysql: 6 },
    latencyMs: latencySummary({ p50: 4, p90: 7, p99: 11, max: 30 }),
    foreignCores: 0.2,
    errors: 1,
  });
  const quarter = fixedStep(0.25, {
    rate: 125,
    tps: 125,
    terminal: 1_875,
    wallMs: 15_000,
    cpuSeconds: { coordinator: 1, mysql: 2.75 },
    latencyMs: latencySummary({ p50: 3, p90: 5, p99: 8, max: 12 }),
  });
  const warmup = step({ kind: 'warmup', errors: 4 });
  const m = measurements(peak, [half, quarter], { steps: [warmup, peak, half, quarter], peakRssMb: { coordinator: 90 } });
  const r = scenarioReport(m, 4);

  it('gives the CPU cost per transaction at the peak, per process and in total', () => {
    expect(r.cpuMsPerTx).toEqual({ coordinator: 0.5, mysql: 1.5 });
    expect(r.totalCpuMsPerTx).toBe(2);
    expect(r.cpuBoundTps).toBe(2_000); // 4 cores × 1000 / 2 ms
    expect(r.cpuSecondsAtPeak).toEqual({ coordinator: 0.5, mysql: 1.5 });
    expect(r.peakStepSeconds).toBe(2);
  });

  it('gives the server work per transaction at the peak', () => {
    expect(r.commitsPerTx).toBe(3);
    expect(r.statementsPerTx).toBe(12);
    expect(r.redisCommandsPerTx).toBe(0.5);
    expect(r.rowsReadPerTx).toBe(3);
  });

  it('takes the peak and the headline latency from the right steps', () => {
    expect(r.peakTps).toBe(500);
    expect(r.peakConcurrency).toBe(32);
    expect(r.fixedRate).toBe(250);
    expect(r.fixedTps).toBe(249);
    expect(r.p50Ms).toBe(4);
    expect(r.p99Ms).toBe(11);
    expect(r.foreignCoresAtPeak).toBe(0.05);
    expect(r.foreignCoresAtFixed).toBe(0.2);
    expect(r.peakRssMb).toEqual({ coordinator: 90 });
    expect(r.errors).toBe(7); // every step, warm-up included
    expect(r.steps).toBe(m.steps);
  });

  it('reports the most other load seen in any fixed-rate step', () => {
    const busyQuarter = { ...quarter, foreignCores: 0.7 };
    const report = scenarioReport(measurements(peak, [half, busyQuarter]), 2);
    expect(report.foreignCoresAtFixed).toBe(0.7);
  });

  it('has one latency entry per fixed-rate step, in order, with its cost', () => {
    expect(r.latency).toHaveLength(2);
    expect(r.latency[0]).toEqual({
      fractionOfPeak: 0.5,
      rate: 250,
      tps: 249,
      p50Ms: 4,
      p90Ms: 7,
      p99Ms: 11,
      maxMs: 30,
      coresBusy: 0.6, // 9 CPU s / 15 s
      cpuMsPerTx: 2.4, // 9 000 ms / 3 750
    });
    expect(r.latency[1]).toMatchObject({ fractionOfPeak: 0.25, rate: 125, p99Ms: 8, maxMs: 12 });
    expect(r.latency[1]!.coresBusy).toBeCloseTo(0.25, 12); // 3.75 / 15
    expect(r.latency[1]!.cpuMsPerTx).toBeCloseTo(2, 12); // 3 750 / 1 875
  });

  it('gives NaN per transaction when nothing finished', () => {
    const idle = step({ terminal: 0, cpuSeconds: { coordinator: 1 }, mysql: serverStatus({ Com_commit: 5 }) });
    const idleFixed = fixedStep(0.5, { terminal: 0, cpuSeconds: { coordinator: 1 } });
    const empty = scenarioReport(measurements(idle, [idleFixed]), 4);
    expect(empty.commitsPerTx).toBeNaN();
    expect(empty.totalCpuMsPerTx).toBeNaN();
    expect(empty.cpuMsPerTx['coordinator']).toBeNaN();
    expect(empty.latency[0]!.cpuMsPerTx).toBeNaN();
  });
});

describe('peakRatio', () => {
  it("is the system's peak over its floor's, to 3 digits", () => {
    expect(peakRatio(report({ peakTps: 800 }), report({ peakTps: 1_000 }))).toBe(0.8);
    expect(peakRatio(report({ peakTps: 2_000 / 3 }), report({ peakTps: 1_000 }))).toBe(0.667);
    expect(peakRatio(report({ peakTps: 1_200 }), report({ peakTps: 1_000 }))).toBe(1.2);
  });

  it('is null without either figure or with a floor that carried nothing', () => {
    expect(peakRatio(undefined, report({ peakTps: 1_000 }))).toBeNull();
    expect(peakRatio(report({ peakTps: 800 }), undefined)).toBeNull();
    expect(peakRatio(report({ peakTps: 800 }), report({ peakTps: 0 }))).toBeNull();
  });
});

describe('buildResults', () => {
  it("gives c0's peak and c/c0 next to c's figures", () => {
    const r = results({ ...goodReports(), c: report({ peakTps: 1_000 }), c0: report({ peakTps: 1_500 }) });
    expect(r.empty_tps).toBe(1_000);
    expect(r.empty_floor_tps).toBe(1_500);
    expect(r.empty_ratio).toBe(0.667);
    expect(r['empty_floor_p99_ms']).toBe(10);
    expect(r['empty_floor_cpu_ms_per_tx']).toBe(2);
    // report(): the same CPU cost in both, so the same CPU-bound tx/s.
    expect(r['empty_cpu_bound_ratio']).toBe(1);
    const keys = Object.keys(r);
    expect(keys.slice(keys.indexOf('ratio'), keys.indexOf('ratio') + 4)).toEqual(['ratio', 'empty_tps', 'empty_floor_tps', 'empty_ratio']);
  });

  it('leaves empty_floor_tps and empty_ratio null without c0, and empty_ratio null without c', () => {
    const { a, b, c, c0 } = goodReports();
    const noFloor = results({ a, b, c });
    expect(noFloor.empty_tps).toBe(1_500);
    expect(noFloor.empty_floor_tps).toBeNull();
    expect(noFloor.empty_ratio).toBeNull();
    expect(noFloor['empty_cpu_bound_ratio']).toBeNull();
    const floorOnly = results({ c0 });
    expect(floorOnly.empty_floor_tps).toBe(2_000);
    expect(floorOnly.empty_ratio).toBeNull();
    expect(floorOnly.empty_tps).toBeNull();
  });

  it("counts c0's other load in machine_foreign_cores_max", () => {
    const busy = { ...report({ peakTps: 2_000 }), foreignCoresAtPeak: 0.9 };
    expect(results({ ...goodReports(), c0: busy })['machine_foreign_cores_max']).toBe(0.9);
  });

  it('gives the headline figures, rounded', () => {
    const reports = goodReports();
    reports.a = report({ peakTps: 2_000 / 3, commitsPerTx: 5, halfP99: 12.3456, quarterP99: 8.5, coordinatorRssMb: 120 });
    const r = results(reports);
    expect(r.dtx_tps).toBe(666.7);
    expect(r.baseline_tps).toBe(1_000);
    expect(r.ratio).toBe(0.667); // 666.67 / 1000, 3 digits
    expect(r.empty_tps).toBe(1_500);
    expect(r.p99_ms).toBe(12.35); // a's half-peak step
    expect(r['p99_ms_at_quarter_peak']).toBe(8.5);
    expect(r['baseline_p99_ms']).toBe(4);
    expect(r['empty_p99_ms']).toBe(6);
  });

  it('takes p99_ms from the half-peak step and p99_ms_at_quarter_peak from the 0.25 step', () => {
    const r = results({ ...goodReports(), a: report({ peakTps: 800, halfP99: 17, quarterP99: 3 }) });
    expect(r.p99_ms).toBe(17);
    expect(r['p99_ms_at_quarter_peak']).toBe(3);
  });

  it('gives what carrying half the peak cost in a', () => {
    const r = results(goodReports());
    // report(): 9 CPU s over 15 s, 1 000 transactions.
    expect(r['dtx_cores_busy_at_half_peak']).toBe(0.6);
    expect(r['dtx_cpu_ms_per_tx_at_half_peak']).toBe(9);
    expect(r['dtx_cpu_ms_per_tx']).toBe(2);
  });

  it('takes coordinator_commits_per_tx from c, else a minus b', () => {
    const all = results(goodReports());
    expect(all.coordinator_commits_per_tx).toBe(2.5);
    expect(all['coordinator_commits_per_tx_in_a']).toBe(3);
    expect(all['bank_commits_per_tx']).toBe(2);

    const { a, b } = goodReports();
    expect(results({ a, b }).coordinator_commits_per_tx).toBe(3);
    expect(results({ a }).coordinator_commits_per_tx).toBeNull();
  });

  it('gives the largest coordinator RSS of a and c', () => {
    expect(results(goodReports()).coordinator_rss_mb).toBe(150);
    const { a, b } = goodReports();
    expect(results({ a, b }).coordinator_rss_mb).toBe(120);
    expect(results({ b }).coordinator_rss_mb).toBeNull();
  });

  it('marks every target met when the figures are good', () => {
    const r = results(goodReports());
    expect(r.ratio).toBe(0.8);
    expect(metFlags(r)).toEqual({ ratio: true, empty_tps: true, p99_ms: true, coordinator_rss_mb: true });
    expect(targetsOf(r).ratio.target).toBe('>= 0.6');
    expect(targetsOf(r).p99_ms.target).toBe('< 25');
  });

  it('marks every target not met when the figures are bad', () => {
    const r = results({
      a: report({ peakTps: 500, halfP99: 30, coordinatorRssMb: 250 }),
      b: report({ peakTps: 1_000 }),
      c: report({ peakTps: 800 }),
    });
    expect(metFlags(r)).toEqual({ ratio: false, empty_tps: false, p99_ms: false, coordinator_rss_mb: false });
  });

  it('treats the bounds as the targets say: ratio and c tx/s inclusive, p99 and RSS strict', () => {
    const r = results({
      a: report({ peakTps: 600, halfP99: 25, coordinatorRssMb: 200 }),
      b: report({ peakTps: 1_000 }),
      c: report({ peakTps: 1_000 }),
    });
    expect(metFlags(r)).toEqual({ ratio: true, empty_tps: true, p99_ms: false, coordinator_rss_mb: false });
  });

  it('leaves missing figures null and their targets n/a', () => {
    const r = results({ c: report({ peakTps: 1_200 }) });
    expect(r.dtx_tps).toBeNull();
    expect(r.ratio).toBeNull();
    expect(r.p99_ms).toBeNull();
    expect(r['p99_ms_at_quarter_peak']).toBeNull();
    expect(r['dtx_cores_busy_at_half_peak']).toBeNull();
    expect(metFlags(r)).toEqual({ ratio: null, empty_tps: true, p99_ms: null, coordinator_rss_mb: null });
  });

  it('records the machine, the options and the extra fields', () => {
    const reports = goodReports();
    const r = buildResults(reports, MACHINE, parseBenchOptions(['--quick', '--coordinator-env=DTX_A=1']), { duration_s: 42 });
    expect(r['machine']).toEqual(MACHINE);
    expect(r['options']).toMatchObject({ quick: true, fixedFractions: [0.5], leadInMs: 1_000, coordinatorEnv: { DTX_A: '1' }, profiled: false });
    expect(r['duration_s']).toBe(42);
    expect(r['scenarios']).toBe(reports);
    expect(Number.isNaN(Date.parse(r['measured_at'] as string))).toBe(false);
  });
});

describe('beatsSagaReference', () => {
  it('needs a ratio above the stricter of the reference ratios', () => {
    const bar = Math.max(SAGA_REFERENCE.ratio, SAGA_REFERENCE.ratioWithBarrier);
    expect(bar).toBe(0.47);
    expect(beatsSagaReference(0.48)).toBe(true);
    expect(beatsSagaReference(0.47)).toBe(false);
    expect(beatsSagaReference(0.45)).toBe(false);
    expect(beatsSagaReference(null)).toBeNull();
  });

  it("holds the reference's own figures: its ratio is its tx/s over its floor's", () => {
    expect(SAGA_REFERENCE.systemTps / SAGA_REFERENCE.floorTps).toBeCloseTo(SAGA_REFERENCE.ratio, 2);
  });
});

describe('buildResults for XA', () => {
  const xaReports = (): Partial<Record<ScenarioName, ScenarioReport>> => ({
    xa: report({ peakTps: 500, commitsPerTx: 3, halfP99: 20 }),
    xb: report({ peakTps: 800, commitsPerTx: 0, halfP99: 9 }),
    xc: report({ peakTps: 1_200, commitsPerTx: 2, halfP99: 7 }),
  });

  it('gives xa, xb and xc peaks, xa/xb, latencies and the coordinator commits, as for sagas', () => {
    const r = results({ ...goodReports(), ...xaReports() });
    expect(r).toMatchObject({ xa_tps: 500, xa_floor_tps: 800, xa_ratio: 0.625, xa_empty_tps: 1_200 });
    expect([r['xa_p99_ms'], r['xa_floor_p99_ms'], r['xa_empty_p99_ms']]).toEqual([20, 9, 7]);
    expect(r['xa_coordinator_commits_per_tx']).toBe(2);
    expect(r['xa_coordinator_commits_per_tx_in_xa']).toBe(3);
  });

  it('leaves the XA figures null without XA scenarios', () => {
    const r = results(goodReports());
    expect(r).toMatchObject({ xa_tps: null, xa_ratio: null, xa_p99_ms: null, xa_coordinator_commits_per_tx_in_xa: null });
  });
});

describe('buildResults for sagas', () => {
  it('gives sa, sb and sc peaks, sa/sb and whether it beats the reference', () => {
    const r = results({ ...goodReports(), ...sagaReports() });
    expect(r.saga_tps).toBe(600);
    expect(r.saga_floor_tps).toBe(1_000);
    expect(r.saga_ratio).toBe(0.6);
    expect(r.saga_empty_tps).toBe(1_400);
    expect(r['saga_reference']).toEqual({ ...SAGA_REFERENCE, beaten: true });
    expect(r['saga_p99_ms']).toBe(10);
    expect(r['saga_floor_p99_ms']).toBe(4);
    expect(r['saga_empty_p99_ms']).toBe(5);
  });

  it("takes the saga coordinator's commits from sc, and in sa as sa minus sb", () => {
    const r = results(sagaReports());
    expect(r['saga_coordinator_commits_per_tx']).toBe(3);
    expect(r['saga_coordinator_commits_per_tx_in_sa']).toBe(3);
  });

  it('leaves the TCC figures alone and the saga figures null without saga scenarios', () => {
    const tccOnly = results(goodReports());
    expect(results({ ...goodReports(), ...sagaReports() })).toMatchObject({ ratio: tccOnly.ratio, empty_ratio: tccOnly.empty_ratio, dtx_tps: tccOnly.dtx_tps });
    expect(tccOnly).toMatchObject({ saga_tps: null, saga_floor_tps: null, saga_ratio: null, saga_empty_tps: null });
    expect(tccOnly['saga_reference']).toMatchObject({ beaten: null });
  });

  it('says not beaten for a ratio at or under the reference', () => {
    const reports = { ...sagaReports(), sa: report({ peakTps: 470 }) };
    const r = results(reports);
    expect(r.saga_ratio).toBe(0.47);
    expect(r['saga_reference']).toMatchObject({ beaten: false });
  });

  it("counts the saga scenarios' other load in machine_foreign_cores_max", () => {
    const reports = sagaReports();
    reports.sb = { ...reports.sb!, foreignCoresAtPeak: 0.7 };
    expect(results(reports)['machine_foreign_cores_max']).toBe(0.7);
  });
});

describe('formatTables', () => {
  it('prints the saga scenarios and sa/sb next to the reference ratio', () => {
    const reports = { ...goodReports(), ...sagaReports() };
    const text = formatTables(results(reports), reports);
    expect(text).toMatch(/^sa dtx saga transfer\s+mysql\s+600\s/m);
    expect(text).toMatch(/^sb saga direct \(floor of sa\)\s+-\s+1000\s/m);
    expect(text).toMatch(/^sc saga, coordinator only\s+mysql\s+1400\s/m);
    expect(text).toMatch(/^sa half of peak\s+mysql\s+300\/s\s/m);
    expect(text).toMatch(/^CPU ms per tx at peak\s+a\s+b\s+c\s+c0\s+sa\s+sb\s+sc$/m);
    expect(text).toMatch(
      /sa\/sb saga ratio\s+0\.600\s+\(to beat: DTM's published saga figures, 575 vs 1232 tx\/s without it = 0\.47; 0\.43 with its barrier: beaten\)/,
    );
    expect(text).toMatch(/sa tx\/s 600, sb 1000, sc 1400 \(saga, coordinator only; c: 1500\)/);
  });

  it('says - and n/a for the saga ratio without saga scenarios', () => {
    const reports = goodReports();
    const text = formatTables(results(reports), reports);
    expect(text).toMatch(/sa\/sb saga ratio\s+-\s+\(to beat: .*: n\/a\)/);
    expect(text).not.toMatch(/^s[abc] (dtx|saga|half of peak)/m);
  });

  it('prints c0 like a, b and c, and c/c0 next to a/b', () => {
    const reports = goodReports();
    const text = formatTables(results(reports), reports);
    expect(text).toMatch(/^c0 direct, empty \(floor of c\)\s+-\s+2000\s/m);
    expect(text).toMatch(/^c0 half of peak\s+-\s+1000\/s\s/m);
    expect(text).toMatch(/^CPU ms per tx at peak\s+a\s+b\s+c\s+c0$/m);
    expect(text).toMatch(/a\/b ratio\s+0\.800\s.*\nc\/c0 ratio\s+0\.750\s/);
  });

  it('says - for c/c0 without c0', () => {
    const { a, b, c } = goodReports() as Record<'a' | 'b' | 'c', ScenarioReport>;
    const text = formatTables(results({ a, b, c }), { a, b, c });
    expect(text).toMatch(/c\/c0 ratio\s+-\s/);
    expect(text).not.toMatch(/^c0 /m);
  });

  it('prints the fixed-rate latency table, one row per scenario and share of the peak', () => {
    const reports = goodReports();
    const text = formatTables(results(reports), reports);
    expect(text).toContain('latency at a fixed rate');
    expect(text).toMatch(/^a {2}half of peak\s/m);
    expect(text).toMatch(/^a {2}quarter of peak\s/m);
    expect(text).toMatch(/^c {2}quarter of peak\s/m);
    expect(text).not.toContain('NOT met');
    expect(text).toMatch(/a\/b ratio\s+0\.800\s+\(target >= 0\.6: met\)/);
  });

  it('says NOT met for a missed target', () => {
    const reports = goodReports();
    reports.a = report({ peakTps: 800, halfP99: 40, coordinatorRssMb: 120 });
    const text = formatTables(results(reports), reports);
    expect(text).toMatch(/a p99 at half peak 40\.0 ms\s+\(target < 25: NOT met\)/);
    expect(text.match(/NOT met/g)).toHaveLength(1);
  });

  it("labels the busy-CPU row with the machine's core count", () => {
    const reports = goodReports();
    expect(formatTables(results(reports), reports)).toContain(`(CPU busy at peak, of ${MACHINE.cpus})`);
  });

  it('says n/a for a target without figures', () => {
    const reports = { c: report({ peakTps: 1_200 }) };
    const text = formatTables(results(reports), reports);
    expect(text).toMatch(/a\/b ratio\s+-\s+\(target >= 0\.6: n\/a\)/);
    expect(text).not.toMatch(/^a {2}half of peak/m);
  });
});

describe('benchRuns and scenarioOfRun', () => {
  it("puts a scenario's runs on every store together, in the order of the stores", () => {
    expect(benchRuns(['c', 'c0', 'sc'], ['postgres', 'mysql']).map((r) => r.id)).toEqual(['c', 'c@mysql', 'c0', 'sc', 'sc@mysql']);
  });

  it('reads the scenario back from a run id', () => {
    expect(scenarioOfRun('c')).toBe('c');
    expect(scenarioOfRun('c0')).toBe('c0');
    expect(scenarioOfRun('xa@embedded')).toBe('xa');
    expect(() => scenarioOfRun('d@mysql')).toThrow();
  });
});

// ---------------------------------------------------------------------------
// Stores of the coordinator's log
// ---------------------------------------------------------------------------

describe('scenarioReport by store', () => {
  const peak = step({
    terminal: 1_000,
    mysql: serverStatus({ Com_commit: 20, Questions: 300, Handler_read_key: 50 }),
    logWrites: { writeTransactions: 3_000, walBytes: 1_500_000 },
  });
  const m = measurements(peak, [fixedStep(0.5)]);

  it("counts a PostgreSQL log's write transactions with MariaDB's commits, and its WAL", () => {
    const r = scenarioReport(m, 4, 'postgres');
    expect(r.store).toBe('postgres');
    expect(r.commitsPerTx).toBe(3.02);
    expect(r.walBytesPerTx).toBe(1_500);
  });

  it('gives no statement or row-read count where MariaDB does not hold the log', () => {
    for (const store of ['postgres', 'embedded'] as const) {
      const r = scenarioReport(m, 4, store);
      expect(r.statementsPerTx).toBeNaN();
      expect(r.rowsReadPerTx).toBeNaN();
    }
  });

  it('gives no commit count for an embedded log: its commits are inside the coordinator', () => {
    expect(scenarioReport(m, 4, 'embedded').commitsPerTx).toBeNaN();
  });

  it('reads MariaDB alone for a log on MySQL and for a floor', () => {
    const onMysql = scenarioReport(
      measurements(step({ terminal: 1_000, mysql: serverStatus({ Com_commit: 500, Questions: 9_000 }) }), [fixedStep(0.5)]),
      4,
      'mysql',
    );
    expect(onMysql).toMatchObject({ store: 'mysql', commitsPerTx: 0.5, statementsPerTx: 9, walBytesPerTx: null });
    expect(scenarioReport(m, 4).store).toBeNull();
  });
});

describe('buildResults and formatTables with several stores', () => {
  const reports = (): Record<string, ScenarioReport> => ({
    c: report({ peakTps: 500, commitsPerTx: 0.5, store: 'mysql' }),
    'c@postgres': report({ peakTps: 400, commitsPerTx: 3, store: 'postgres' }),
    'c@embedded': report({ peakTps: 300, store: 'embedded' }),
    c0: report({ peakTps: 2_000 }),
  });
  const options = parseBenchOptions(['--quick', '--only=c,c0', '--store=all']);
  const built = () => buildResults(reports(), MACHINE, options, {});

  it('takes the headline figures from the first store, and says which it is', () => {
    const r = built();
    expect(r.log_store).toBe('mysql');
    expect(r.empty_tps).toBe(500);
    expect(r.empty_ratio).toBe(0.25);
    expect(r.coordinator_commits_per_tx).toBe(0.5);
    expect(r['options']).toMatchObject({ stores: ['mysql', 'postgres', 'embedded'] });
  });

  it('gives each store its c against the same c0', () => {
    const { by_store } = built();
    expect(Object.keys(by_store)).toEqual(['mysql', 'postgres', 'embedded']);
    expect(by_store.mysql).toMatchObject({ empty_tps: 500, empty_ratio: 0.25, coordinator_commits_per_tx: 0.5 });
    expect(by_store.postgres).toMatchObject({ empty_tps: 400, empty_ratio: 0.2, coordinator_commits_per_tx: 3 });
    expect(by_store.embedded).toMatchObject({ empty_tps: 300, empty_ratio: 0.15, coordinator_commits_per_tx: null, dtx_tps: null });
  });

  it('keeps every run, each with its store, in scenarios', () => {
    const scenarios = built().scenarios;
    expect(Object.keys(scenarios)).toEqual(['c', 'c@postgres', 'c@embedded', 'c0']);
    expect(Object.values(scenarios).map((s) => s.store)).toEqual(['mysql', 'postgres', 'embedded', null]);
  });

  it('prints every run with its log, and a row per store', () => {
    const text = formatTables(built(), reports());
    expect(text).toMatch(/^c {2}coordinator only\s+mysql\s+500\s/m);
    expect(text).toMatch(/^c@postgres coordinator only\s+postgres\s+400\s/m);
    expect(text).toMatch(/^c@embedded coordinator only\s+embedded\s+300\s+\S+\s+\S+\s+\S+\s+\S+\s+-\s+-\s/m);
    expect(text).toMatch(/^c@postgres half of peak\s+postgres\s/m);
    expect(text).toMatch(/^CPU ms per tx at peak\s+c\s+c@postgres\s+c@embedded\s+c0$/m);
    expect(text).toMatch(/^mysql \(headline\)\s+500\s+0\.250\s/m);
    expect(text).toMatch(/^postgres\s+400\s+0\.200\s+\S+\s+3\.00\s/m);
    expect(text).toMatch(/^embedded\s+300\s+0\.150\s+\S+\s+-\s/m);
  });

  it('says the store of the default run too', () => {
    const text = formatTables(results(goodReports()), goodReports());
    expect(text).toMatch(/^a {2}dtx bank transfer\s+mysql\s/m);
    expect(text).toMatch(/^mysql \(headline\)\s+1500\s+0\.750\s/m);
  });
});

describe('parseLogMetrics', () => {
  const exposition = [
    '# HELP dtx_open_transactions Open transactions by status',
    '# TYPE dtx_open_transactions gauge',
    'dtx_open_transactions{status="trying"} 2',
    'dtx_open_transactions{status="confirming"} 1',
    'dtx_open_transactions{status="running"} 0',
    'dtx_transactions_total{mode="tcc",outcome="begun"} 120',
    'dtx_transactions_total{mode="tcc",outcome="confirmed"} 100',
    'dtx_transactions_total{mode="tcc",outcome="cancelled"} 5',
    'dtx_transactions_total{mode="saga",outcome="succeeded"} 7',
    'dtx_transactions_total_created{mode="tcc",outcome="confirmed"} 1700000000',
    'dtx_phase_two_duration_seconds_count{mode="tcc",outcome="confirmed"} 100',
  ].join('\n');

  it('sums the open transactions and the finished ones of every mode and outcome but begun', () => {
    expect(parseLogMetrics(exposition)).toEqual({ open: 3, finished: 112 });
  });

  it('gives NaN open transactions when the log did not answer the scrape, or the series is missing', () => {
    expect(parseLogMetrics('dtx_open_transactions{status="trying"} NaN\ndtx_open_transactions{status="confirming"} 0').open).toBeNaN();
    expect(parseLogMetrics('dtx_transactions_total{mode="tcc",outcome="confirmed"} 4')).toEqual({ open: Number.NaN, finished: 4 });
  });
});

// ---------------------------------------------------------------------------
// FMT: fa, fb, fh
// ---------------------------------------------------------------------------

describe('the FMT scenarios in the options', () => {
  it('runs fa and fb in every full run, after XA, and fh only when named', () => {
    expect(SCENARIOS.slice(-3)).toEqual(['fa', 'fb', 'fh']);
    expect(OPT_IN_SCENARIOS).toEqual(['fh']);
    expect(DEFAULT_SCENARIOS).toEqual(SCENARIOS.filter((s) => s !== 'fh'));
    expect(parseBenchOptions([]).scenarios).not.toContain('fh');
    expect(parseBenchOptions(['--only=fa,fh']).scenarios).toEqual(['fa', 'fh']);
    expect(parseBenchOptions(['--only=fa,fb']).scenarios).toEqual(['fa', 'fb']);
  });

  it('gives fa and fh a coordinator and its store, fb none', () => {
    expect(parseBenchOptions(['--only=fa,fb,fh', '--store=postgres']).runs).toEqual([
      { id: 'fa', scenario: 'fa', store: 'postgres' },
      { id: 'fb', scenario: 'fb', store: null },
      { id: 'fh', scenario: 'fh', store: 'postgres' },
    ]);
    expect(() => parseBenchOptions(['--only=fb', '--store=postgres'])).toThrow(/--only=fb runs no coordinator \(.*fa, fh do\)/);
  });

  it('tells the FMT scenarios apart', () => {
    expect(SCENARIOS.filter(isFmtScenario)).toEqual(['fa', 'fb', 'fh']);
  });

  it('runs the executes in one order by default, both at once with --fmt-executes=all', () => {
    expect(parseBenchOptions([]).fmtExecutes).toBe('ordered');
    expect(parseBenchOptions(['--fmt-executes=all']).fmtExecutes).toBe('all');
    expect(() => parseBenchOptions(['--fmt-executes=random'])).toThrow(BenchUsageError);
  });

  it("leaves the banks' lock wait to the SDK unless --fmt-lock-wait-ms is given", () => {
    expect(parseBenchOptions([]).fmtLockWaitMs).toBeNull();
    expect(parseBenchOptions(['--fmt-lock-wait-ms=500']).fmtLockWaitMs).toBe(500);
    expect(() => parseBenchOptions(['--fmt-lock-wait-ms=0'])).toThrow(BenchUsageError);
  });

  it('refuses an FMT scenario that does not exist', () => {
    expect(() => parseBenchOptions(['--only=fc'])).toThrow(/got fc/);
  });
});

describe('systemParts for FMT', () => {
  it('runs fa and fh on a coordinator and two banks, fb on the banks alone', () => {
    expect(systemParts('fa')).toEqual({ coordinator: true, banks: true, emptyParticipant: false });
    expect(systemParts('fh')).toEqual(systemParts('fa'));
    expect(systemParts('fb')).toEqual({ ...systemParts('fa'), coordinator: false });
  });
});

describe('errorCode', () => {
  it('counts an error by its code, else by its name, else as unknown', () => {
    expect(errorCode(Object.assign(new Error('held'), { code: 'FMT_LOCK_CONFLICT' }))).toBe('FMT_LOCK_CONFLICT');
    expect(errorCode(new TypeError('x'))).toBe('TypeError');
    expect(errorCode(Object.assign(new Error('x'), { code: 42 }))).toBe('Error');
    expect(errorCode({ code: 'TRY_FAILED' })).toBe('TRY_FAILED');
    expect(errorCode('a string')).toBe('unknown');
    expect(errorCode(null)).toBe('unknown');
  });
});

describe('committedOfMetrics', () => {
  it("sums the committed outcomes in every mode's words, and nothing else", () => {
    const text = [
      'dtx_transactions_total{mode="tcc",outcome="confirmed"} 10',
      'dtx_transactions_total{mode="tcc",outcome="cancelled"} 3',
      'dtx_transactions_total{mode="saga",outcome="succeeded"} 4',
      'dtx_transactions_total{mode="fmt",outcome="committed"} 5',
      'dtx_transactions_total{mode="fmt",outcome="rolled-back"} 7',
      'dtx_transactions_total{mode="fmt",outcome="begun"} 12',
      'dtx_transactions_total_created{mode="fmt",outcome="committed"} 1700000000',
    ].join('\n');
    expect(committedOfMetrics(text)).toBe(19);
    expect(committedOfMetrics('')).toBe(0);
  });
});

describe('fmt-phases', () => {
  const before: PhaseTotals = { 'execute: sql begin': { count: 10, ms: 5 }, 'execute: request': { count: 4, ms: 40 } };
  const after: PhaseTotals = {
    'execute: sql begin': { count: 14, ms: 7 },
    'execute: request': { count: 4, ms: 40 },
    'execute: row lock request to the coordinator': { count: 2, ms: 9 },
  };

  it('gives what happened between two readings, leaving out phases with no call in between', () => {
    expect(phaseDelta(before, after)).toEqual({
      'execute: sql begin': { count: 4, ms: 2 },
      'execute: row lock request to the coordinator': { count: 2, ms: 9 },
    });
    expect(phaseDelta({}, {})).toEqual({});
  });

  it('sums the banks', () => {
    expect(sumPhases([before, after])).toEqual({
      'execute: sql begin': { count: 24, ms: 12 },
      'execute: request': { count: 8, ms: 80 },
      'execute: row lock request to the coordinator': { count: 2, ms: 9 },
    });
    expect(sumPhases([])).toEqual({});
  });

  it('orders phases as an execute runs them, unknown ones after, by name', () => {
    expect(sortPhases(['execute: sql commit', 'zeta', 'execute: request', 'alpha', 'execute: sql barrier'])).toEqual([
      'execute: request',
      'execute: sql barrier',
      'execute: sql commit',
      'alpha',
      'zeta',
    ]);
    expect(new Set(PHASE_ORDER).size).toBe(PHASE_ORDER.length);
  });

  it('gives calls, mean and time per transaction', () => {
    expect(phaseRows(after, 2)).toEqual([
      { phase: 'execute: request', callsPerTx: 2, meanMs: 10, msPerTx: 20 },
      { phase: 'execute: sql begin', callsPerTx: 7, meanMs: 0.5, msPerTx: 3.5 },
      { phase: 'execute: row lock request to the coordinator', callsPerTx: 1, meanMs: 4.5, msPerTx: 4.5 },
    ]);
    expect(phaseRows(after, 0)).toEqual([]);
  });
});

describe('levelRatios', () => {
  const sweep = (tps: Record<number, number>): ScenarioReport =>
    scenarioReport(
      measurements(step({ tps: Math.max(...Object.values(tps)) }), [fixedStep(0.5)], {
        steps: Object.entries(tps).map(([c, t]) => step({ concurrency: Number(c), tps: t })),
      }),
      4,
    );

  it("is the system's closed-loop tx/s over its floor's at each concurrency both measured", () => {
    expect(levelRatios(sweep({ 4: 50, 16: 100, 64: 120 }), sweep({ 4: 100, 16: 300, 32: 10, 64: 0 }))).toEqual({ '4': 0.5, '16': 0.333, '64': null });
  });

  it('is empty without either', () => {
    expect(levelRatios(undefined, sweep({ 4: 1 }))).toEqual({});
    expect(levelRatios(sweep({ 4: 1 }), undefined)).toEqual({});
  });

  it('leaves warm-up and fixed-rate steps out', () => {
    const system = scenarioReport(
      measurements(step({ tps: 10, concurrency: 4 }), [fixedStep(0.5, { tps: 5 })], {
        steps: [step({ kind: 'warmup', concurrency: 16, tps: 1 }), step({ concurrency: 4, tps: 10 }), fixedStep(0.5, { tps: 5 })],
      }),
      4,
    );
    expect(levelRatios(system, system)).toEqual({ '4': 1 });
  });
});

describe('scenarioReport for FMT', () => {
  const phases: PhaseTotals = { 'execute: request': { count: 200, ms: 1_000 } };
  const peak = step({ errors: 3, succeeded: 997, errorCodes: { [FMT_LOCK_CONFLICT]: 2, TRY_FAILED: 1 }, phases });
  const half = fixedStep(0.5, { terminal: 100, errors: 1, succeeded: 99, errorCodes: { [FMT_LOCK_CONFLICT]: 1 }, phases });

  it('counts the errors by code and the transactions started over every step', () => {
    const r = scenarioReport(measurements(peak, [half]), 4, 'mysql');
    expect(r.errorsByCode).toEqual({ [FMT_LOCK_CONFLICT]: 3, TRY_FAILED: 1 });
    expect(r.errors).toBe(4);
    expect(r.started).toBe(1_100);
  });

  it('keeps the phases of the half-peak and peak steps with their transactions, none for other scenarios', () => {
    const r = scenarioReport(measurements(peak, [half]), 4, 'mysql');
    expect(r.phasesAtHalfPeak).toEqual({ phases, transactions: 100 });
    expect(r.phasesAtPeak).toEqual({ phases, transactions: 1_000 });
    const plain = scenarioReport(measurements(step(), [fixedStep(0.5)]), 4);
    expect([plain.phasesAtHalfPeak, plain.phasesAtPeak, plain.errorsByCode]).toEqual([null, null, {}]);
  });
});

describe('buildResults and formatTables for FMT', () => {
  const fmtReports = (faTps = 300, conflicts = 12): Partial<Record<ScenarioName, ScenarioReport>> => {
    const fa = report({ peakTps: faTps, commitsPerTx: 7, halfP99: 30, store: 'mysql' });
    const fb = report({ peakTps: 500, commitsPerTx: 2, halfP99: 5 });
    const hot = report({ peakTps: 60, commitsPerTx: 7, halfP99: 90, store: 'mysql' });
    const phases: PhaseTotals = {
      'execute: request': { count: 2_000, ms: 20_000 },
      'execute: row lock request to the coordinator': { count: 2_000, ms: 8_000 },
    };
    return {
      fa: { ...fa, phasesAtHalfPeak: { phases, transactions: 1_000 }, phasesAtPeak: { phases, transactions: 500 } },
      fb,
      fh: { ...hot, errors: conflicts + 1, started: 500, errorsByCode: { [FMT_LOCK_CONFLICT]: conflicts, TRY_FAILED: 1 } },
    };
  };

  it('gives fa, fb and fh peaks, fa/fb against its target and fh/fa', () => {
    const r = results(fmtReports());
    expect(r).toMatchObject({ fmt_tps: 300, fmt_floor_tps: 500, fmt_ratio: 0.6, fmt_hot_tps: 60, fmt_hot_ratio: 0.2 });
    expect(r['fmt_target']).toEqual({ ratio: '>= 0.6', met: true });
    expect(results(fmtReports(299))['fmt_target']).toEqual({ ratio: '>= 0.6', met: false });
    // 7 in fa minus the banks' 2 × 2 (an execute and a commit per branch, where fb commits once).
    expect(r['fmt_coordinator_commits_per_tx_in_fa']).toBe(3);
    expect([r['fmt_p99_ms'], r['fmt_floor_p99_ms'], r['fmt_hot_p99_ms']]).toEqual([30, 5, 90]);
  });

  it("counts fh's failures and its lock conflicts", () => {
    const r = results(fmtReports());
    expect(r).toMatchObject({ fmt_hot_started: 500, fmt_hot_errors: 13, fmt_hot_lock_conflicts: 12, fmt_lock_conflicts: 0 });
  });

  it('gives the ratios at each concurrency and where the time went', () => {
    const r = results(fmtReports());
    // report(): one closed step at concurrency 16.
    expect(r['fmt_ratio_by_concurrency']).toEqual({ '16': 0.6 });
    expect(r['fmt_hot_ratio_by_concurrency']).toEqual({ '16': 0.2 });
    expect(r['fmt_phases_at_half_peak']).toEqual([
      { phase: 'execute: request', calls_per_tx: 2, mean_ms: 10, ms_per_tx: 20 },
      { phase: 'execute: row lock request to the coordinator', calls_per_tx: 2, mean_ms: 4, ms_per_tx: 8 },
    ]);
    expect(r['fmt_phases_at_peak']).toMatchObject([{ calls_per_tx: 4 }, { calls_per_tx: 4 }]);
    expect(r['fmt_hot_phases_at_half_peak']).toBeNull();
  });

  it('leaves the FMT figures null without FMT scenarios, and the other targets alone', () => {
    const r = results(goodReports());
    expect(r).toMatchObject({ fmt_tps: null, fmt_ratio: null, fmt_hot_ratio: null, fmt_hot_lock_conflicts: null });
    expect(r['fmt_target']).toEqual({ ratio: '>= 0.6', met: null });
    expect(metFlags(r)).toEqual({ ratio: true, empty_tps: true, p99_ms: true, coordinator_rss_mb: true });
  });

  it('prints the FMT runs, their ratios at each concurrency, their phases and the summary lines', () => {
    const reports = { ...goodReports(), ...fmtReports() } as Record<string, ScenarioReport>;
    const text = formatTables(results(reports), reports);
    expect(text).toMatch(/^fa dtx FMT transfer\s+mysql\s+300\s/m);
    expect(text).toMatch(/^fb FMT SQL direct \(floor of fa\)\s+-\s+500\s/m);
    expect(text).toMatch(/^fh dtx FMT, 1 hot account\s+mysql\s+60\s/m);
    expect(text).toMatch(/^closed-loop tx\/s ratio\s+conc\. 16$/m);
    expect(text).toMatch(/^a\/b\s+0\.800$/m);
    expect(text).toMatch(/^fa\/fb\s+0\.600$/m);
    expect(text).toMatch(/^fh\/fa\s+0\.200$/m);
    expect(text).toMatch(/^fa: FMT banks' wall time per transfer\s/m);
    expect(text).toMatch(/^execute: row lock request to the coordinator\s+2\.00\s+4\.00\s+8\.00\s+4\.00\s+4\.00\s+16\.00$/m);
    expect(text).toMatch(/fa\/fb FMT ratio\s+0\.600\s+\(target >= 0\.6: met;/);
    expect(text).toMatch(/fh\/fa hot row\s+0\.200\s/);
    expect(text).toMatch(/fh failed\s+13 transfers, 12 of them FMT_LOCK_CONFLICT \(2\.4 % of 500 started\)/);
  });

  it('says - and n/a for FMT without FMT scenarios, and prints no phase table', () => {
    const reports = goodReports();
    const text = formatTables(results(reports), reports);
    expect(text).toMatch(/fa\/fb FMT ratio\s+-\s+\(target >= 0\.6: n\/a;/);
    expect(text).toMatch(/fh failed\s+- transfers/);
    expect(text).not.toContain('FMT banks');
    expect(text).not.toMatch(/^fa\/fb\s+[\d.]+$/m);
  });

  it('keeps fa/fb per store', () => {
    const options = parseBenchOptions(['--only=fa,fb', '--store=mysql,postgres']);
    const { fa, fb } = fmtReports();
    const r = buildResults({ fa: fa!, 'fa@postgres': { ...report({ peakTps: 250, store: 'postgres' }) }, fb: fb! }, MACHINE, options, {});
    expect(r.by_store.mysql).toMatchObject({ fmt_tps: 300, fmt_ratio: 0.6 });
    expect(r.by_store.postgres).toMatchObject({ fmt_tps: 250, fmt_ratio: 0.5 });
  });
});
