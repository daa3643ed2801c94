/**
 * From measurements to bench-results.json and the printed tables. Pure:
 * no I/O here.
 */
import { phaseRows, sortPhases, type PhaseRow, type PhaseTotals } from './fmt-phases.ts';
import type { MachineInfo } from './machine.ts';
import { rowReads } from './mysql-probe.ts';
import { scenarioOfRun, type BenchOptions, type LogStore, type ScenarioName } from './options.ts';
import { coresBusy, fractionName, type ScenarioMeasurements, type StepResult } from './scenario.ts';

export const TARGETS = { ratio: 0.6, emptyTps: 1000, p99Ms: 25, coordinatorRssMb: 200 } as const;

/** FMT's target: fa/fb, its transfer through dtx over the same SQL without it, like a/b. */
export const FMT_TARGETS = { ratio: 0.6 } as const;

/** The code an FMT execute is refused with when a row stays held by another transaction past the bank's lock wait. */
export const FMT_LOCK_CONFLICT = 'FMT_LOCK_CONFLICT';

/**
 * The saga ratio to beat: DTM's published saga figures, its two-step saga
 * through its coordinator against the same calls without it (575 against
 * 1232 tx/s), and the ratio when its barrier is on in both.
 */
export const SAGA_REFERENCE = { name: 'DTM', floorTps: 1232, systemTps: 575, ratio: 0.47, ratioWithBarrier: 0.43 } as const;

/** Whether a saga ratio (sa/sb) beats the reference: above the stricter of its two ratios; null without one. */
export function beatsSagaReference(ratio: number | null): boolean | null {
  return ratio === null ? null : ratio > Math.max(SAGA_REFERENCE.ratio, SAGA_REFERENCE.ratioWithBarrier);
}

export interface ScenarioReport {
  /** The store of the coordinator's log; null for a floor (no coordinator). */
  store: LogStore | null;
  peakTps: number;
  peakConcurrency: number | null;
  fixedRate: number | null;
  fixedTps: number;
  p50Ms: number;
  p99Ms: number;
  /**
   * Commits per terminal transaction at the peak step, on the servers the
   * bench reads: MariaDB's COMMIT statements (server-wide), plus a PostgreSQL
   * log's write transactions. NaN with an embedded log (its commits are
   * inside the coordinator's process).
   */
  commitsPerTx: number;
  /** MariaDB's statements (Questions) per terminal transaction at the peak step, server-wide; NaN when the log is not on MariaDB. */
  statementsPerTx: number;
  redisCommandsPerTx: number;
  /** MariaDB's handler row reads (index lookups + rows read) per terminal transaction at the peak step; NaN when the log is not on MariaDB. */
  rowsReadPerTx: number;
  /** WAL bytes per terminal transaction at the peak step, with a log on PostgreSQL (server-wide); null otherwise. */
  walBytesPerTx: number | null;
  /** CPU milliseconds per transaction at the peak step, per process. */
  cpuMsPerTx: Record<string, number>;
  /** CPU seconds during the peak step, per process, and its length. */
  cpuSecondsAtPeak: Record<string, number>;
  peakStepSeconds: number;
  peakRssMb: Record<string, number>;
  /** CPU ms per transaction summed over every process of the scenario (infrastructure and load generator included). */
  totalCpuMsPerTx: number;
  /**
   * Transactions/s the machine's cores could carry at that CPU cost if they
   * did nothing else: cores × 1000 / totalCpuMsPerTx. Unlike tx/s, it barely
   * depends on what else runs on the machine.
   */
  cpuBoundTps: number;
  /** Cores used by processes outside the benchmark during the peak step, and the most during any fixed-rate step. */
  foreignCoresAtPeak: number;
  foreignCoresAtFixed: number;
  errors: number;
  /** The errors by code (load.ts errorCode), over every step like `errors`. */
  errorsByCode: Record<string, number>;
  /** Transactions started over every step (those that succeeded and those that failed). */
  started: number;
  /** FMT banks only: their phase totals during the half-peak step, and the transactions it counted; null otherwise. */
  phasesAtHalfPeak: { phases: PhaseTotals; transactions: number } | null;
  /** The same during the peak step (fh: how often an execute asked for a held row again). */
  phasesAtPeak: { phases: PhaseTotals; transactions: number } | null;
  /** The fixed-rate step at half of the peak (the headline latency), with what the machine spent to carry it. */
  halfPeak: FixedRateLatency;
  /** Every fixed-rate step. */
  latency: FixedRateLatency[];
  steps: StepResult[];
}

export interface FixedRateLatency {
  fractionOfPeak: number | null;
  rate: number | null;
  tps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Cores kept busy by the scenario's processes (of the machine's cores). */
  coresBusy: number;
  /** CPU ms per transaction of all the scenario's processes at this rate (compare with the peak's). */
  cpuMsPerTx: number;
}

function fixedRateLatency(step: StepResult): FixedRateLatency {
  const cpuSeconds = Object.values(step.cpuSeconds).reduce((sum, v) => sum + v, 0);
  return {
    fractionOfPeak: step.fractionOfPeak,
    rate: step.rate,
    tps: step.tps,
    p50Ms: step.latencyMs.p50,
    p90Ms: step.latencyMs.p90,
    p99Ms: step.latencyMs.p99,
    maxMs: step.latencyMs.max,
    coresBusy: coresBusy(step),
    cpuMsPerTx: step.terminal > 0 ? (cpuSeconds * 1000) / step.terminal : Number.NaN,
  };
}

/**
 * The figures of one run from its measurements. `store` is its coordinator's
 * log (null for a floor): it says which servers' counters hold the log's work.
 */
export function scenarioReport(m: ScenarioMeasurements, cores: number, store: LogStore | null = null): ScenarioReport {
  const per = (n: number, step: StepResult) => (step.terminal > 0 ? n / step.terminal : Number.NaN);
  const peak = m.peak;
  const totalCpuMsPerTx = per(Object.values(peak.cpuSeconds).reduce((sum, v) => sum + v, 0) * 1000, peak);
  const logOnMariadb = store === null || store === 'mysql';
  return {
    store,
    totalCpuMsPerTx,
    cpuBoundTps: (cores * 1000) / totalCpuMsPerTx,
    foreignCoresAtPeak: peak.foreignCores,
    foreignCoresAtFixed: Math.max(...m.latencySteps.map((s) => s.foreignCores)),
    peakTps: peak.tps,
    peakConcurrency: peak.concurrency,
    fixedRate: m.fixed.rate,
    fixedTps: m.fixed.tps,
    p50Ms: m.fixed.latencyMs.p50,
    p99Ms: m.fixed.latencyMs.p99,
    commitsPerTx: store === 'embedded' ? Number.NaN : per(peak.mysql.Com_commit + (peak.logWrites?.writeTransactions ?? 0), peak),
    statementsPerTx: logOnMariadb ? per(peak.mysql.Questions, peak) : Number.NaN,
    redisCommandsPerTx: per(peak.redisCommands, peak),
    rowsReadPerTx: logOnMariadb ? per(rowReads(peak.mysql), peak) : Number.NaN,
    walBytesPerTx: peak.logWrites ? per(peak.logWrites.walBytes, peak) : null,
    cpuMsPerTx: Object.fromEntries(Object.entries(peak.cpuSeconds).map(([name, s]) => [name, per(s * 1000, peak)])),
    cpuSecondsAtPeak: peak.cpuSeconds,
    peakStepSeconds: peak.wallMs / 1000,
    peakRssMb: m.peakRssMb,
    errors: m.steps.reduce((n, s) => n + s.errors, 0),
    errorsByCode: sumCounts(m.steps.map((s) => s.errorCodes ?? {})),
    started: m.steps.reduce((n, s) => n + s.succeeded + s.errors, 0),
    phasesAtHalfPeak: m.fixed.phases ? { phases: m.fixed.phases, transactions: m.fixed.terminal } : null,
    phasesAtPeak: m.peak.phases ? { phases: m.peak.phases, transactions: m.peak.terminal } : null,
    halfPeak: fixedRateLatency(m.fixed),
    latency: m.latencySteps.map(fixedRateLatency),
    steps: m.steps,
  };
}

function sumCounts(all: readonly Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const counts of all) for (const [key, n] of Object.entries(counts)) out[key] = (out[key] ?? 0) + n;
  return out;
}

/** The figures of one set of runs (a system and its floor each at most once): the headline, or one store's (`by_store`). */
export interface HeadlineFigures {
  dtx_tps: number | null;
  baseline_tps: number | null;
  ratio: number | null;
  empty_tps: number | null;
  /** c0's peak: c's four participant calls made directly, no coordinator. */
  empty_floor_tps: number | null;
  /** c/c0. */
  empty_ratio: number | null;
  /** sa's peak: the transfer as a two-step saga through dtx. */
  saga_tps: number | null;
  /** sb's peak: sa's two actions made directly on the banks, no coordinator. */
  saga_floor_tps: number | null;
  /** sa/sb, to compare with SAGA_REFERENCE. */
  saga_ratio: number | null;
  /** sc's peak: a two-step saga on the empty participant. */
  saga_empty_tps: number | null;
  /** xa's peak: the transfer as a two-branch XA transaction through dtx. */
  xa_tps: number | null;
  /** xb's peak: xa's two prepares and two commits made directly on the banks, no coordinator. */
  xa_floor_tps: number | null;
  /** xa/xb. */
  xa_ratio: number | null;
  /** xc's peak: a two-branch XA transaction on the empty participant. */
  xa_empty_tps: number | null;
  /** fa's peak: the transfer as a two-branch FMT transaction through dtx (committed transfers only). */
  fmt_tps: number | null;
  /** fb's peak: fa's UPDATEs without dtx, each bank's in a local transaction of its own. */
  fmt_floor_tps: number | null;
  /** fa/fb, against FMT_TARGETS.ratio. */
  fmt_ratio: number | null;
  /** fh's peak: fa on one hot account per bank (committed transfers only). */
  fmt_hot_tps: number | null;
  /** fh/fa: what one hot row leaves of fa's throughput. */
  fmt_hot_ratio: number | null;
  p50_ms: number | null;
  p99_ms: number | null;
  coordinator_commits_per_tx: number | null;
  coordinator_rss_mb: number | null;
  [key: string]: unknown;
}

export interface BenchResults extends HeadlineFigures {
  /** The store of the coordinators' log behind the headline figures (the first of --store). */
  log_store: LogStore;
  /** The figures of the runs on each store, every one against the same floors of this run. */
  by_store: Partial<Record<LogStore, Record<string, number | null>>>;
  machine: MachineInfo;
  /** Every run, by id (`c`, `c@postgres`, …; see options.ts), each with the store of its log. */
  scenarios: Readonly<Record<string, ScenarioReport>>;
}

const round = (n: number | null | undefined, digits = 2): number | null =>
  n === null || n === undefined || !Number.isFinite(n) ? null : Math.round(n * 10 ** digits) / 10 ** digits;

/**
 * A system's peak over its floor's (a/b, c/c0), to 3 digits; null when either
 * is missing or the floor carried nothing. Absolute tx/s move by a third
 * between days on a shared machine; this ratio moves far less.
 */
export function peakRatio(system: ScenarioReport | undefined, floor: ScenarioReport | undefined): number | null {
  return system && floor && floor.peakTps > 0 ? round(system.peakTps / floor.peakTps, 3) : null;
}

/**
 * A mode's secondary figures (a saga's sa/sb/sc, XA's xa/xb/xc): latency
 * and CPU cost of the system, its floor and its coordinator-only run, and
 * the coordinator's commits. As for TCC: the coordinator-only run isolates
 * the coordinator's commits; in the system run the banks' share is known
 * from the floor. Keys: `<mode>_p50_ms`, `<mode>_floor_…`, `<mode>_empty_…`,
 * `<mode>_coordinator_commits_per_tx_in_<system>`.
 */
function modeFigures(
  mode: string,
  systemName: string,
  system: ScenarioReport | undefined,
  floor: ScenarioReport | undefined,
  empty: ScenarioReport | undefined,
): Record<string, number | null> {
  const figures: Record<string, number | null> = {};
  for (const [suffix, run] of [
    ['', system],
    ['_floor', floor],
    ['_empty', empty],
  ] as const) {
    figures[`${mode}${suffix}_p50_ms`] = round(run?.p50Ms);
    figures[`${mode}${suffix}_p99_ms`] = round(run?.p99Ms);
    figures[`${mode}${suffix}_cpu_ms_per_tx`] = round(run?.totalCpuMsPerTx, 3);
  }
  figures[`${mode}_cpu_bound_ratio`] = system && floor ? round(system.cpuBoundTps / floor.cpuBoundTps, 3) : null;
  figures[`${mode}_coordinator_commits_per_tx`] = round(empty?.commitsPerTx);
  figures[`${mode}_coordinator_commits_per_tx_in_${systemName}`] = round(system && floor ? system.commitsPerTx - floor.commitsPerTx : null);
  return figures;
}

/** The figures of one set of runs, keyed by scenario: those of the first store (the headline), or of one store (by_store). */
export function headlineFigures(reports: Partial<Record<ScenarioName, ScenarioReport>>): HeadlineFigures {
  const { a, b, c, c0, sa, sb, sc, xa, xb, xc, fa, fb, fh } = reports;
  // (c) is the isolated measure: only the coordinator talks to MySQL there.
  // In (a) the banks commit too; their share is known from (b).
  const bankCommitsPerTx = b ? b.commitsPerTx : null;
  const coordinatorCommitsInA = a && bankCommitsPerTx !== null ? a.commitsPerTx - bankCommitsPerTx : null;
  const coordinatorRss = Math.max(...[a, c].flatMap((r) => (r?.peakRssMb['coordinator'] !== undefined ? [r.peakRssMb['coordinator']] : [])));
  return {
    dtx_tps: round(a?.peakTps, 1),
    baseline_tps: round(b?.peakTps, 1),
    ratio: peakRatio(a, b),
    empty_tps: round(c?.peakTps, 1),
    empty_floor_tps: round(c0?.peakTps, 1),
    empty_ratio: peakRatio(c, c0),
    saga_tps: round(sa?.peakTps, 1),
    saga_floor_tps: round(sb?.peakTps, 1),
    saga_ratio: peakRatio(sa, sb),
    saga_empty_tps: round(sc?.peakTps, 1),
    xa_tps: round(xa?.peakTps, 1),
    xa_floor_tps: round(xb?.peakTps, 1),
    xa_ratio: peakRatio(xa, xb),
    xa_empty_tps: round(xc?.peakTps, 1),
    fmt_tps: round(fa?.peakTps, 1),
    fmt_floor_tps: round(fb?.peakTps, 1),
    fmt_ratio: peakRatio(fa, fb),
    fmt_hot_tps: round(fh?.peakTps, 1),
    fmt_hot_ratio: peakRatio(fh, fa),
    p50_ms: round(a?.p50Ms),
    p99_ms: round(a?.p99Ms),
    coordinator_commits_per_tx: round(c ? c.commitsPerTx : coordinatorCommitsInA),
    coordinator_rss_mb: Number.isFinite(coordinatorRss) ? round(coordinatorRss, 1) : null,
    coordinator_commits_per_tx_in_a: round(coordinatorCommitsInA),
    bank_commits_per_tx: round(bankCommitsPerTx),
    baseline_p50_ms: round(b?.p50Ms),
    baseline_p99_ms: round(b?.p99Ms),
    empty_p50_ms: round(c?.p50Ms),
    empty_p99_ms: round(c?.p99Ms),
    empty_floor_p50_ms: round(c0?.p50Ms),
    empty_floor_p99_ms: round(c0?.p99Ms),
    // What carrying the half-peak rate cost: no batching at that rate, so more CPU per transaction than at the peak.
    dtx_cores_busy_at_half_peak: round(a?.halfPeak.coresBusy),
    dtx_cpu_ms_per_tx_at_half_peak: round(a?.halfPeak.cpuMsPerTx, 3),
    p99_ms_at_quarter_peak: round(a?.latency.find((l) => l.fractionOfPeak === 0.25)?.p99Ms),
    // Contention-independent view: what the cores could carry at the measured CPU cost per transaction.
    dtx_cpu_ms_per_tx: round(a?.totalCpuMsPerTx, 3),
    baseline_cpu_ms_per_tx: round(b?.totalCpuMsPerTx, 3),
    empty_cpu_ms_per_tx: round(c?.totalCpuMsPerTx, 3),
    empty_floor_cpu_ms_per_tx: round(c0?.totalCpuMsPerTx, 3),
    coordinator_cpu_ms_per_tx_a: round(a?.cpuMsPerTx['coordinator'], 3),
    coordinator_cpu_ms_per_tx_c: round(c?.cpuMsPerTx['coordinator'], 3),
    cpu_bound_ratio: a && b ? round(a.cpuBoundTps / b.cpuBoundTps, 3) : null,
    empty_cpu_bound_tps: round(c?.cpuBoundTps, 0),
    empty_cpu_bound_ratio: c && c0 ? round(c.cpuBoundTps / c0.cpuBoundTps, 3) : null,
    ...modeFigures('saga', 'sa', sa, sb, sc),
    saga_reference: { ...SAGA_REFERENCE, beaten: beatsSagaReference(peakRatio(sa, sb)) },
    ...modeFigures('xa', 'xa', xa, xb, xc),
    ...fmtFigures(fa, fb, fh),
    // Where the log is on PostgreSQL: how much it wrote per transaction (server-wide WAL), c alone on that server.
    coordinator_log_wal_bytes_per_tx: round(c?.walBytesPerTx, 0),
  };
}

/**
 * FMT's secondary figures: fa's and fb's as modeFigures gives them (no
 * coordinator-only run: `fmt_empty_…` and `fmt_coordinator_commits_per_tx`
 * are null), the coordinator's commits in fa (fa's minus twice fb's: an FMT
 * bank commits an execute and then a commit where fb's commits its UPDATE
 * once), the target, fa/fb at each concurrency, and fh: its latency, what
 * its transfers failed with (lock conflicts above all), and where a
 * transfer's time went in the banks of fa, fb and fh.
 */
function fmtFigures(fa: ScenarioReport | undefined, fb: ScenarioReport | undefined, fh: ScenarioReport | undefined): Record<string, unknown> {
  const ratio = peakRatio(fa, fb);
  const phases = (at: ScenarioReport['phasesAtPeak'] | undefined) =>
    at
      ? phaseRows(at.phases, at.transactions).map((row) => ({
          phase: row.phase,
          calls_per_tx: round(row.callsPerTx, 2),
          mean_ms: round(row.meanMs, 3),
          ms_per_tx: round(row.msPerTx, 3),
        }))
      : null;
  return {
    ...modeFigures('fmt', 'fa', fa, fb, undefined),
    fmt_coordinator_commits_per_tx_in_fa: round(fa && fb ? fa.commitsPerTx - 2 * fb.commitsPerTx : null),
    fmt_target: { ratio: `>= ${FMT_TARGETS.ratio}`, met: ratio === null ? null : ratio >= FMT_TARGETS.ratio },
    fmt_ratio_by_concurrency: levelRatios(fa, fb),
    fmt_hot_ratio_by_concurrency: levelRatios(fh, fa),
    fmt_hot_p50_ms: round(fh?.p50Ms),
    fmt_hot_p99_ms: round(fh?.p99Ms),
    fmt_hot_started: fh ? fh.started : null,
    fmt_hot_errors: fh ? fh.errors : null,
    fmt_hot_lock_conflicts: fh ? (fh.errorsByCode[FMT_LOCK_CONFLICT] ?? 0) : null,
    fmt_lock_conflicts: fa ? (fa.errorsByCode[FMT_LOCK_CONFLICT] ?? 0) : null,
    fmt_phases_at_half_peak: phases(fa?.phasesAtHalfPeak),
    fmt_phases_at_peak: phases(fa?.phasesAtPeak),
    fmt_floor_phases_at_half_peak: phases(fb?.phasesAtHalfPeak),
    fmt_hot_phases_at_half_peak: phases(fh?.phasesAtHalfPeak),
    fmt_hot_phases_at_peak: phases(fh?.phasesAtPeak),
  };
}

/**
 * A system's closed-loop tx/s over its floor's at each concurrency both
 * measured, keyed by concurrency, to 3 digits (null where the floor carried
 * nothing); {} without either.
 */
export function levelRatios(system: ScenarioReport | undefined, floor: ScenarioReport | undefined): Record<string, number | null> {
  if (!system || !floor) return {};
  const closed = (r: ScenarioReport) => new Map(r.steps.filter((s) => s.kind === 'closed').map((s) => [s.concurrency, s.tps]));
  const floorTps = closed(floor);
  const out: Record<string, number | null> = {};
  for (const [concurrency, tps] of closed(system)) {
    const under = floorTps.get(concurrency);
    if (concurrency === null || under === undefined) continue;
    out[String(concurrency)] = under > 0 ? round(tps / under, 3) : null;
  }
  return out;
}

/** What by_store keeps of each store's figures: those that depend on the coordinator. */
const STORE_FIGURES = [
  'dtx_tps',
  'ratio',
  'cpu_bound_ratio',
  'p50_ms',
  'p99_ms',
  'coordinator_commits_per_tx_in_a',
  'coordinator_cpu_ms_per_tx_a',
  'empty_tps',
  'empty_ratio',
  'empty_cpu_bound_ratio',
  'empty_p50_ms',
  'empty_p99_ms',
  'coordinator_commits_per_tx',
  'coordinator_cpu_ms_per_tx_c',
  'coordinator_log_wal_bytes_per_tx',
  'coordinator_rss_mb',
  'saga_tps',
  'saga_ratio',
  'saga_empty_tps',
  'xa_tps',
  'xa_ratio',
  'xa_empty_tps',
  'fmt_tps',
  'fmt_ratio',
  'fmt_hot_tps',
  'fmt_hot_ratio',
] as const;

/**
 * The runs to read as one set, keyed by scenario: with `store`, its runs on
 * that store and the floors; without, the first store's (ids without `@`).
 */
export function runsOn(reports: Readonly<Record<string, ScenarioReport>>, store?: LogStore): Partial<Record<ScenarioName, ScenarioReport>> {
  const out: Partial<Record<ScenarioName, ScenarioReport>> = {};
  for (const [id, report] of Object.entries(reports)) {
    const taken = store === undefined ? !id.includes('@') : report.store === store || report.store === null;
    if (taken) out[scenarioOfRun(id)] = report;
  }
  return out;
}

export function buildResults(
  reports: Readonly<Record<string, ScenarioReport>>,
  machine: MachineInfo,
  options: BenchOptions,
  extra: Record<string, unknown>,
): BenchResults {
  const byStore: BenchResults['by_store'] = {};
  for (const store of options.stores) {
    const figures = headlineFigures(runsOn(reports, store));
    byStore[store] = Object.fromEntries(STORE_FIGURES.map((key) => [key, figures[key] as number | null]));
  }
  const all = Object.values(reports);
  const results: BenchResults = {
    ...headlineFigures(runsOn(reports)),
    log_store: options.stores[0]!,
    by_store: byStore,
    machine_foreign_cores_max: round(Math.max(0, ...all.flatMap((r) => [r.foreignCoresAtPeak, r.foreignCoresAtFixed])), 2),
    measured_at: new Date().toISOString(),
    machine,
    options: {
      quick: options.quick,
      runtime: options.runtime,
      concurrencies: options.concurrencies,
      stepMs: options.stepMs,
      fixedRateMs: options.fixedRateMs,
      fixedFractions: options.fixedFractions,
      leadInMs: options.leadInMs,
      coordinatorLogLevel: options.coordinatorLogLevel,
      bankHandlers: options.bankHandlers,
      fmtExecutes: options.fmtExecutes,
      fmtLockWaitMs: options.fmtLockWaitMs,
      coordinatorNodeArgs: options.coordinatorNodeArgs,
      coordinatorEnv: options.coordinatorEnv,
      stores: options.stores,
      profiled: options.profile,
    },
    ...extra,
    scenarios: reports,
  };
  results['targets'] = {
    ratio: { target: `>= ${TARGETS.ratio}`, met: results.ratio !== null ? results.ratio >= TARGETS.ratio : null },
    empty_tps: { target: `>= ${TARGETS.emptyTps}`, met: results.empty_tps !== null ? results.empty_tps >= TARGETS.emptyTps : null },
    p99_ms: { target: `< ${TARGETS.p99Ms}`, met: results.p99_ms !== null ? results.p99_ms < TARGETS.p99Ms : null },
    coordinator_rss_mb: {
      target: `< ${TARGETS.coordinatorRssMb}`,
      met: results.coordinator_rss_mb !== null ? results.coordinator_rss_mb < TARGETS.coordinatorRssMb : null,
    },
  };
  return results;
}

const DESCRIPTIONS: Record<ScenarioName, string> = {
  a: 'dtx bank transfer',
  b: 'direct (floor)',
  c: 'coordinator only',
  c0: 'direct, empty (floor of c)',
  sa: 'dtx saga transfer',
  sb: 'saga direct (floor of sa)',
  sc: 'saga, coordinator only',
  xa: 'dtx XA transfer',
  xb: 'XA direct (floor of xa)',
  xc: 'XA, coordinator only',
  fa: 'dtx FMT transfer',
  fb: 'FMT SQL direct (floor of fa)',
  fh: 'dtx FMT, 1 hot account',
};

/** A run's row title: its id, then what its scenario is (`c@postgres coordinator only`). */
function title(id: string): string {
  return `${id.padEnd(2)} ${DESCRIPTIONS[scenarioOfRun(id)]}`;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const fmt = (n: number | null | undefined, digits = 1): string => (n === null || n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(digits));

/** The tables and the summary of a run; `reports` by run id, in the order measured. */
export function formatTables(results: BenchResults, reports: Readonly<Record<string, ScenarioReport>>): string {
  const names = Object.keys(reports);
  const logOf = (n: string) => reports[n]!.store ?? '-';
  const main = table(
    [
      'scenario',
      'log',
      'peak tx/s',
      'at conc.',
      'fixed rate',
      'p50 ms',
      'p99 ms',
      'commits/tx*',
      'SQL stmts/tx*',
      'redis cmds/tx',
      'CPU ms/tx',
      'CPU-bound tx/s',
      'other load',
      'errors',
    ],
    names.map((n) => {
      const r = reports[n]!;
      return [
        title(n),
        logOf(n),
        fmt(r.peakTps, 0),
        fmt(r.peakConcurrency, 0),
        `${fmt(r.fixedRate, 0)}/s`,
        fmt(r.p50Ms, 1),
        fmt(r.p99Ms, 1),
        fmt(r.commitsPerTx, 2),
        fmt(r.statementsPerTx, 1),
        fmt(r.redisCommandsPerTx, 2),
        fmt(r.totalCpuMsPerTx, 2),
        fmt(r.cpuBoundTps, 0),
        `${fmt(Math.max(r.foreignCoresAtPeak, r.foreignCoresAtFixed), 2)} cores`,
        String(r.errors),
      ];
    }),
  );

  const latency = table(
    ['latency at a fixed rate', 'log', 'rate', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'cores busy', 'CPU ms/tx', 'at peak'],
    names.flatMap((n) =>
      reports[n]!.latency.map((l) => [
        `${n.padEnd(2)} ${fractionName(l.fractionOfPeak)}`,
        logOf(n),
        `${fmt(l.rate, 0)}/s`,
        fmt(l.p50Ms, 1),
        fmt(l.p90Ms, 1),
        fmt(l.p99Ms, 1),
        fmt(l.maxMs, 1),
        fmt(l.coresBusy, 2),
        fmt(l.cpuMsPerTx, 2),
        fmt(reports[n]!.totalCpuMsPerTx, 2),
      ]),
    ),
  );

  const processNames = [...new Set(names.flatMap((n) => Object.keys(reports[n]!.cpuMsPerTx)))];
  const cpu = table(
    ['CPU ms per tx at peak', ...names.map((n) => n)],
    processNames
      .map((p) => [p, ...names.map((n) => fmt(reports[n]!.cpuMsPerTx[p], 3))])
      .concat([
        [
          '(all processes)',
          ...names.map((n) =>
            fmt(
              Object.values(reports[n]!.cpuMsPerTx).reduce((s, v) => s + v, 0),
              3,
            ),
          ),
        ],
        [
          `(CPU busy at peak, of ${results.machine.cpus})`,
          ...names.map((n) => fmt(Object.values(reports[n]!.cpuSecondsAtPeak).reduce((s, v) => s + v, 0) / reports[n]!.peakStepSeconds, 2)),
        ],
      ]),
  );
  const rss = table(
    ['peak RSS MB', ...names.map((n) => n)],
    processNames.map((p) => [p, ...names.map((n) => fmt(reports[n]!.peakRssMb[p], 1))]),
  );

  const check = (met: boolean | null) => (met === null ? 'n/a' : met ? 'met' : 'NOT met');
  const t = results['targets'] as Record<string, { target: string; met: boolean | null }>;
  const summary = [
    `a/b ratio          ${fmt(results.ratio, 3)}   (target ${t['ratio']!.target}: ${check(t['ratio']!.met)})`,
    `c/c0 ratio         ${fmt(results.empty_ratio, 3)}   (c's peak over c0's: the same four calls made directly, no coordinator)`,
    `c tx/s             ${fmt(results.empty_tps, 0)}   (target ${t['empty_tps']!.target}: ${check(t['empty_tps']!.met)})`,
    `a p99 at half peak ${fmt(results.p99_ms, 1)} ms   (target ${t['p99_ms']!.target}: ${check(t['p99_ms']!.met)})`,
    `coordinator RSS    ${fmt(results.coordinator_rss_mb, 1)} MB   (target ${t['coordinator_rss_mb']!.target}: ${check(t['coordinator_rss_mb']!.met)})`,
    `a/b by CPU cost    ${fmt(results['cpu_bound_ratio'] as number | null, 3)}   (ratio of CPU-bound tx/s, independent of other load)`,
    `c/c0 by CPU cost   ${fmt(results['empty_cpu_bound_ratio'] as number | null, 3)}`,
    `coordinator commits/tx ${fmt(results.coordinator_commits_per_tx, 2)} (c, isolated); in a: ${fmt(results['coordinator_commits_per_tx_in_a'] as number | null, 2)} (a minus b's bank commits)`,
    ...sagaSummary(results),
    ...xaSummary(results),
    ...fmtSummary(results),
  ];
  return [
    main,
    "* at the peak step, on the servers the bench reads: MariaDB server-wide (COMMIT statements; SQL statements), plus a PostgreSQL log's write transactions.",
    '  In (c, sc, xc) only the coordinator writes; in (a, sa, xa) banks + coordinator; in (b, sb, xb) banks only; in (c0) nothing. "-": not readable —',
    "  an embedded log commits inside the coordinator's process, and MariaDB's statement count holds no work of a log elsewhere.",
    'log: the store of the coordinator\'s log (mysql: MariaDB; postgres: PostgreSQL; embedded: PGlite in the coordinator); "-": no coordinator.',
    'CPU ms/tx: all processes (servers and load generator included) at the peak step; CPU-bound tx/s = cores × 1000 / CPU ms/tx.',
    'other load: cores used by processes outside the benchmark; tx/s and latency are only those of this machine when it is ~0.',
    '',
    latency,
    'cores busy and CPU ms/tx: every process of the scenario during the step; "at peak" is the CPU ms/tx at the peak step, for comparison.',
    '',
    cpu,
    '',
    rss,
    '',
    storeTable(results),
    '',
    ratioTable(reports),
    ...fmtPhaseTables(reports),
    '',
    ...summary,
  ].join('\n');
}

/**
 * One row per store of the coordinators' log: c and a on it, each against the
 * same floors of this run. The coordinator's commits are c's, or a's minus b's
 * without c (as in the summary below).
 */
function storeTable(results: BenchResults): string {
  const figure = (figures: Record<string, number | null> | undefined, key: (typeof STORE_FIGURES)[number], digits: number) => fmt(figures?.[key], digits);
  return table(
    ['by log store', 'c tx/s', 'c/c0', 'c/c0 by CPU', 'coord. commits/tx', 'c coord. CPU ms/tx', 'a tx/s', 'a/b', 'a/b by CPU', 'a coord. commits/tx'],
    Object.entries(results.by_store).map(([store, f]) => [
      `${store}${store === results.log_store ? ' (headline)' : ''}`,
      figure(f, 'empty_tps', 0),
      figure(f, 'empty_ratio', 3),
      figure(f, 'empty_cpu_bound_ratio', 3),
      figure(f, 'coordinator_commits_per_tx', 2),
      figure(f, 'coordinator_cpu_ms_per_tx_c', 3),
      figure(f, 'dtx_tps', 0),
      figure(f, 'ratio', 3),
      figure(f, 'cpu_bound_ratio', 3),
      figure(f, 'coordinator_commits_per_tx_in_a', 2),
    ]),
  );
}

/** Each system over its floor (and fh over fa) at every concurrency of the closed-loop sweep, for the first store's runs. */
const RATIO_PAIRS: readonly (readonly [ScenarioName, ScenarioName])[] = [
  ['a', 'b'],
  ['c', 'c0'],
  ['sa', 'sb'],
  ['xa', 'xb'],
  ['fa', 'fb'],
  ['fh', 'fa'],
];

function ratioTable(reports: Readonly<Record<string, ScenarioReport>>): string {
  const runs = runsOn(reports);
  const pairs = RATIO_PAIRS.flatMap(([system, floor]) => {
    const ratios = levelRatios(runs[system], runs[floor]);
    return Object.keys(ratios).length > 0 ? [{ name: `${system}/${floor}`, ratios }] : [];
  });
  if (pairs.length === 0) return 'closed-loop tx/s ratio at each concurrency: no system next to its floor in this run';
  const levels = [...new Set(pairs.flatMap((p) => Object.keys(p.ratios)))].sort((x, y) => Number(x) - Number(y));
  return table(
    ['closed-loop tx/s ratio', ...levels.map((level) => `conc. ${level}`)],
    pairs.map((p) => [p.name, ...levels.map((level) => fmt(p.ratios[level], 3))]),
  );
}

/** The FMT runs' phase tables (fa, fb, fh): where a transfer's time went in the banks, at half of the peak and at the peak. */
function fmtPhaseTables(reports: Readonly<Record<string, ScenarioReport>>): string[] {
  const out = Object.entries(reports).flatMap(([id, report]) => {
    const rowsOf = (at: ScenarioReport['phasesAtPeak']): PhaseRow[] => (at ? phaseRows(at.phases, at.transactions) : []);
    const half = rowsOf(report.phasesAtHalfPeak);
    const peak = rowsOf(report.phasesAtPeak);
    const names = sortPhases([...new Set([...half, ...peak].map((row) => row.phase))]);
    if (names.length === 0) return [];
    const cells = (rows: PhaseRow[], phase: string) => {
      const row = rows.find((r) => r.phase === phase);
      return [fmt(row?.callsPerTx, 2), fmt(row?.meanMs, 2), fmt(row?.msPerTx, 2)];
    };
    return [
      '',
      table(
        [`${id}: FMT banks' wall time per transfer`, 'half peak: calls/tx', 'mean ms', 'ms/tx', 'peak: calls/tx', 'mean ms', 'ms/tx'],
        names.map((phase) => [phase, ...cells(half, phase), ...cells(peak, phase)]),
      ),
    ];
  });
  return out.length === 0
    ? []
    : [
        ...out,
        "both banks summed; wall time, waits included. A request's time holds the phases under it (the handler's: the images' and the update's); a lock request asked",
        'again for a held row counts again; "rest of the request": what its timed phases leave (HTTP, signature checks, JavaScript, waiting for a connection).',
      ];
}

/** The saga lines of the summary: sa/sb next to the reference ratio it has to beat. */
function sagaSummary(results: BenchResults): string[] {
  const r = SAGA_REFERENCE;
  const beaten = beatsSagaReference(results.saga_ratio);
  const verdict = beaten === null ? 'n/a' : beaten ? 'beaten' : 'not beaten';
  const figure = (key: string, digits: number) => fmt(results[key] as number | null, digits);
  return [
    `sa/sb saga ratio   ${fmt(results.saga_ratio, 3)}   (to beat: ${r.name}'s published saga figures, ${r.systemTps} vs ${r.floorTps} tx/s without it = ${r.ratio}; ${r.ratioWithBarrier} with its barrier: ${verdict})`,
    `sa/sb by CPU cost  ${figure('saga_cpu_bound_ratio', 3)}`,
    `sa tx/s ${fmt(results.saga_tps, 0)}, sb ${fmt(results.saga_floor_tps, 0)}, sc ${fmt(results.saga_empty_tps, 0)} (saga, coordinator only; c: ${fmt(results.empty_tps, 0)})`,
    `saga coordinator commits/tx ${figure('saga_coordinator_commits_per_tx', 2)} (sc, isolated); in sa: ${figure('saga_coordinator_commits_per_tx_in_sa', 2)} (sa minus sb's bank commits)`,
  ];
}

/** The XA lines of the summary: xa/xb, with no published figure to set it against. */
function xaSummary(results: BenchResults): string[] {
  const figure = (key: string, digits: number) => fmt(results[key] as number | null, digits);
  return [
    `xa/xb XA ratio     ${fmt(results.xa_ratio, 3)}   (xa's peak over xb's: the same prepares and commits made directly, no coordinator)`,
    `xa/xb by CPU cost  ${figure('xa_cpu_bound_ratio', 3)}`,
    `xa tx/s ${fmt(results.xa_tps, 0)}, xb ${fmt(results.xa_floor_tps, 0)}, xc ${fmt(results.xa_empty_tps, 0)} (XA, coordinator only; c: ${fmt(results.empty_tps, 0)})`,
    `XA coordinator commits/tx ${figure('xa_coordinator_commits_per_tx', 2)} (xc, isolated); in xa: ${figure('xa_coordinator_commits_per_tx_in_xa', 2)} (xa minus xb's bank commits)`,
  ];
}

/** The FMT lines of the summary: fa/fb against its target, fh/fa and fh's failures. */
function fmtSummary(results: BenchResults): string[] {
  const figure = (key: string, digits: number) => fmt(results[key] as number | null, digits);
  const target = results['fmt_target'] as { ratio: string; met: boolean | null };
  const check = target.met === null ? 'n/a' : target.met ? 'met' : 'NOT met';
  const started = results['fmt_hot_started'] as number | null;
  const conflicts = results['fmt_hot_lock_conflicts'] as number | null;
  const share = started && conflicts !== null ? ` (${((100 * conflicts) / started).toFixed(1)} % of ${started} started)` : '';
  return [
    `fa/fb FMT ratio    ${fmt(results.fmt_ratio, 3)}   (target ${target.ratio}: ${check}; fb: the same UPDATEs, each bank's in a local transaction, no dtx)`,
    `fa/fb by CPU cost  ${figure('fmt_cpu_bound_ratio', 3)}`,
    `fa tx/s ${fmt(results.fmt_tps, 0)}, fb ${fmt(results.fmt_floor_tps, 0)}; FMT coordinator commits/tx in fa: ${figure('fmt_coordinator_commits_per_tx_in_fa', 2)} (fa minus the banks' two per branch: twice fb's)`,
    `fh/fa hot row      ${fmt(results.fmt_hot_ratio, 3)}   (fh: fa on 1 account per bank; committed transfers only)`,
    `fh failed          ${figure('fmt_hot_errors', 0)} transfers, ${conflicts === null ? '-' : conflicts} of them ${FMT_LOCK_CONFLICT}${share}`,
  ];
}
