/**
 * Command-line options of `npm run bench`, normalised once by a pure function.
 *
 *   npm run bench                   full run (about 5-10 minutes)
 *   npm run bench -- --quick        short run (a minute or two)
 *   npm run bench -- --scale        1,000,000 finished transactions in the log: throughput and query plans
 *   npm run bench -- --profile      CPU profile of the coordinator under load (results not written to bench-results.json)
 *   npm run bench -- --only=a,c     only some scenarios (a, b, c, c0, sa, sb, sc, xa, xb, xc, fa, fb, fh)
 *   npm run bench -- --only=fa,fb   FMT through dtx against the same SQL without it; --only=fa,fh: FMT on 1,000 accounts against 1 hot account
 *   npm run bench -- --store=postgres   the coordinator's log on PostgreSQL (mysql, the default; postgres; embedded)
 *   npm run bench -- --only=c,c0 --store=all   c on every store, next to one c0, in one run
 *   npm run bench                   builds, then runs every process on plain node from the built JavaScript
 *   npm run bench -- --runtime=tsx  the same processes on tsx, from source
 *   npm run bench -- --bank-handlers=sql  the banks' handlers as plain SQL instead of on knex transactions
 *   npm run bench -- --coordinator-log-level=warn
 *   npm run bench -- --coordinator-env=DTX_MYSQL_POOL_MAX=8 --coordinator-node-args="--max-semi-space-size=8"
 *
 * `--store` picks the log of every scenario with a coordinator (a, c, sa, sc, xa, xc, fa, fh); the
 * floors have none, and the banks stay on MariaDB whatever the store. `mysql`: a database on the
 * private MariaDB, BullMQ on Redis (as before the option existed). `postgres`: a database on a
 * private PostgreSQL provisioned for the run, BullMQ on Redis. `embedded`: PGlite in the
 * coordinator's process, in a fresh folder under a temp dir, with DTX_SCHEDULER=in-process (no
 * Redis), as a single-instance deployment runs it. Several stores (`--store=mysql,postgres` or
 * `--store=all`) run each such scenario once per store, side by side with one set of floors, so
 * that c/c0 (and a/b) compare between stores within one run: the first store's runs keep the
 * scenario's name (`c`), the others are `<scenario>@<store>` (`c@postgres`).
 *
 * What the bench reads from the log per scenario, by store:
 *   - the drain and the terminal count of every step: on every store (MySQL and PostgreSQL: the
 *     log's rows; embedded: the coordinator's GET /metrics, since PGlite is one connection and it
 *     is the coordinator's);
 *   - commits per transaction: MySQL from MariaDB's COMMIT count, PostgreSQL from the write
 *     transactions (transaction ids) of its server; embedded: not measured (its commits happen
 *     inside the coordinator's process), shown as `-` and null in bench-results.json;
 *   - SQL statements and row reads per transaction: MariaDB's counters, so for a log on MySQL
 *     only; `-` and null for a log elsewhere;
 *   - `--scale` (log-fill.ts, the due query's plan on MySQL): refused with another store.
 */

import { CliUsageError, defineCli, parseCli, type CliValues } from '../scripts/cli-options.ts';
import { HEADLINE_FRACTION, type SweepOptions } from './scenario.ts';

/**
 * The scenarios, in the order a full run measures them: a (dtx) and its floor
 * b, c (coordinator only) and its floor c0, all TCC; then the same transfer as
 * a two-step saga: sa (dtx), its floor sb, and sc (coordinator only); then
 * as a two-branch XA transaction: xa (dtx), its floor xb, and xc
 * (coordinator only); then as a two-branch FMT transaction: fa (dtx) and its
 * floor fb (the same SQL, each bank's in a local transaction of its own, no
 * dtx); and fh, fa on one hot account (OPT_IN_SCENARIOS). See
 * docs/performance.md and workloads.ts.
 */
export const SCENARIOS = ['a', 'b', 'c', 'c0', 'sa', 'sb', 'sc', 'xa', 'xb', 'xc', 'fa', 'fb', 'fh'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

/**
 * Scenarios run only when named with --only: fh measures contention (every
 * transfer waits for the one before on the same rows), not a mode's cost,
 * and would lengthen every full run by a sweep of its own.
 */
export const OPT_IN_SCENARIOS: readonly ScenarioName[] = ['fh'];

/** What a run without --only measures: every scenario but the opt-in ones, in order. */
export const DEFAULT_SCENARIOS: readonly ScenarioName[] = SCENARIOS.filter((s) => !OPT_IN_SCENARIOS.includes(s));

/** The FMT scenarios: their banks are bench/fmt-bank.ts, not the example's (system.ts). */
const FMT_SCENARIOS: readonly ScenarioName[] = ['fa', 'fb', 'fh'];

export function isFmtScenario(scenario: ScenarioName): boolean {
  return FMT_SCENARIOS.includes(scenario);
}

/** Accounts per bank the transfers of fh pick from (the banks hold accountsPerBank, as in fa): one, so every transfer takes the same two rows. */
export const HOT_ACCOUNTS = 1;

function isScenarioName(name: string): name is ScenarioName {
  return (SCENARIOS as readonly string[]).includes(name);
}

/** Where a coordinator can keep its log (`--store`), in the order `--store=all` measures them. */
export const LOG_STORES = ['mysql', 'postgres', 'embedded'] as const;
export type LogStore = (typeof LOG_STORES)[number];

/** The scenarios that run a coordinator, and so a log: the others are floors. */
const COORDINATOR_SCENARIOS: readonly ScenarioName[] = ['a', 'c', 'sa', 'sc', 'xa', 'xc', 'fa', 'fh'];

export function hasCoordinator(scenario: ScenarioName): boolean {
  return COORDINATOR_SCENARIOS.includes(scenario);
}

/** One system a run measures: a scenario, and the store of its coordinator's log (null for a floor). */
export interface BenchRun {
  /** Its name in the tables and in bench-results.json: the scenario's, or `<scenario>@<store>` for a store after the first. */
  id: string;
  scenario: ScenarioName;
  store: LogStore | null;
}

/** The scenario of a run id (`c@postgres` → `c`). */
export function scenarioOfRun(id: string): ScenarioName {
  const scenario = id.split('@')[0]!;
  if (!isScenarioName(scenario)) throw new Error(`not a run id: ${id}`);
  return scenario;
}

/**
 * The runs of `scenarios` on `stores`, in measuring order: each scenario with a
 * coordinator once per store (the first store's run named like the scenario),
 * each floor once.
 */
export function benchRuns(scenarios: readonly ScenarioName[], stores: readonly LogStore[]): BenchRun[] {
  return scenarios.flatMap((scenario): BenchRun[] =>
    hasCoordinator(scenario)
      ? stores.map((store, i) => ({ id: i === 0 ? scenario : `${scenario}@${store}`, scenario, store }))
      : [{ id: scenario, scenario, store: null }],
  );
}

export type Runtime = 'tsx' | 'compiled';

/** The sweep's own options (levels, step lengths, fixed-rate shares) are SweepOptions, documented there. */
export interface BenchOptions extends SweepOptions {
  mode: 'standard' | 'scale';
  quick: boolean;
  profile: boolean;
  scenarios: ScenarioName[];
  /** The stores of the coordinators' log (`--store`), the first one that of the headline figures. */
  stores: LogStore[];
  /** The systems measured: `scenarios` on `stores` (see benchRuns). */
  runs: BenchRun[];
  runtime: Runtime;
  /** Accounts per bank; transfers pick two at random, so contention stays low (fh: from the first HOT_ACCOUNTS only). */
  accountsPerBank: number;
  /** fmt.lockWaitMs of the FMT banks (`--fmt-lock-wait-ms`); null: the SDK's default. */
  fmtLockWaitMs: number | null;
  /**
   * How fa and fh run their two executes (`--fmt-executes`): `ordered` (the default), bank A's then
   * bank B's, one order for every transfer, as xa prepares: a branch holds its rows' global locks
   * until the decision, and two transfers that took one bank's row each would otherwise wait for
   * each other until the lock wait ends both; or `all`, both at once (tx.executeAll).
   */
  fmtExecutes: 'all' | 'ordered';
  coordinatorLogLevel: string;
  /** How the banks' handlers reach their local transaction (a and b): knex transactions (default) or plain SQL. */
  bankHandlers: 'knex' | 'sql';
  /** Extra node flags for the coordinator process (experiments: GC sizes, etc.). */
  coordinatorNodeArgs: string[];
  /** Extra coordinator environment (experiments: pool size, etc.). */
  coordinatorEnv: Record<string, string>;
  /** Finished transactions written into the log by --scale. */
  scaleRows: number;
  /** Where results go; null for none. */
  resultsFile: string | null;
}

export class BenchUsageError extends Error {
  override readonly name = 'BenchUsageError';
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** The options of `npm run bench`, in the project's one CLI format (scripts/cli-options.ts). */
export const BENCH_CLI = defineCli({
  command: 'npm run bench --',
  options: {
    quick: { type: 'boolean', description: 'a short run (a minute or two)' },
    scale: { type: 'boolean', description: 'fill the log with finished transactions: throughput and query plans' },
    profile: { type: 'boolean', description: 'CPU profile of the coordinator under load (results not written to bench-results.json)' },
    only: {
      type: 'string',
      valueName: 'LIST',
      description: `only these scenarios, comma-separated (${SCENARIOS.join(', ')}; ${OPT_IN_SCENARIOS.join(', ')} only when named)`,
    },
    store: {
      type: 'string',
      valueName: 'STORES',
      default: 'mysql',
      description: `the coordinator's log: ${LOG_STORES.join(', ')}, several comma-separated, or all (each coordinator scenario once per store, next to the same floors)`,
    },
    runtime: {
      type: 'string',
      choices: ['tsx', 'compiled'],
      default: 'compiled',
      description:
        'run the Node processes on plain node from the built JavaScript (npm run bench builds it first; the shape users deploy), or on tsx from source',
    },
    'bank-handlers': { type: 'string', choices: ['knex', 'sql'], default: 'knex', description: "the banks' handlers: knex transactions or plain SQL" },
    'coordinator-log-level': { type: 'string', choices: LOG_LEVELS, default: 'info', description: "the coordinator's log level" },
    'coordinator-node-args': { type: 'string', valueName: 'FLAGS', description: 'extra node flags for the coordinator, space-separated' },
    'coordinator-env': { type: 'string', valueName: 'PAIRS', description: 'extra coordinator environment, DTX_NAME=value pairs separated by commas' },
    'step-ms': { type: 'integer', min: 1, description: 'length of one closed-loop step' },
    concurrency: { type: 'string', valueName: 'LIST', description: 'the concurrency levels of the sweep, e.g. 4,16,64' },
    'scale-rows': { type: 'integer', min: 1, default: 1_000_000, description: 'finished transactions written by --scale' },
    'fmt-executes': {
      type: 'string',
      choices: ['ordered', 'all'],
      default: 'ordered',
      description: "fa's and fh's two executes: bank A's then bank B's (ordered), or both at once (all: tx.executeAll)",
    },
    'fmt-lock-wait-ms': {
      type: 'integer',
      min: 1,
      valueName: 'MS',
      description: "the FMT banks' fmt.lockWaitMs: how long an execute waits for a row another transaction holds (default: the SDK's, 2000)",
    },
  },
});

/** Throws BenchUsageError on bad input; `--help` is the caller's (see run.ts). */
export function parseBenchOptions(argv: readonly string[]): BenchOptions {
  let values: CliValues<typeof BENCH_CLI.options>;
  try {
    values = parseCli(BENCH_CLI, argv).values;
  } catch (error) {
    if (error instanceof CliUsageError) throw new BenchUsageError(error.message);
    throw error;
  }
  const quick = values.quick;
  const profile = values.profile;
  const scenarios = (values.only ?? DEFAULT_SCENARIOS.join(',')).split(',').map((s) => s.trim());
  for (const s of scenarios) if (!isScenarioName(s)) throw new BenchUsageError(`--only takes ${SCENARIOS.join(', ')}, got ${s}`);
  const concurrencies =
    values.concurrency !== undefined
      ? values.concurrency.split(',').map((s) => {
          const n = Number(s);
          if (!Number.isSafeInteger(n) || n <= 0) throw new BenchUsageError('--concurrency takes positive integers, e.g. 4,16,64');
          return n;
        })
      : quick
        ? [4, 16, 64]
        : [1, 4, 16, 32, 64];

  const stores = parseStores(values.store);
  const mode = values.scale ? 'scale' : 'standard';
  if (mode === 'scale' && (stores.length !== 1 || stores[0] !== 'mysql')) {
    throw new BenchUsageError('--scale fills a MySQL log and reads its query plans from MariaDB: it takes --store=mysql only');
  }
  const chosen = [...new Set(scenarios.filter(isScenarioName))];
  if (mode === 'standard' && stores.join(',') !== 'mysql' && !chosen.some(hasCoordinator)) {
    throw new BenchUsageError(
      `--store chooses the coordinator's log, and --only=${chosen.join(',')} runs no coordinator (${COORDINATOR_SCENARIOS.join(', ')} do)`,
    );
  }

  const coordinatorEnv: Record<string, string> = {};
  for (const pair of (values['coordinator-env'] ?? '').split(',').filter(Boolean)) {
    const match = /^(DTX_[A-Z0-9_]+)=(.*)$/.exec(pair);
    if (!match) throw new BenchUsageError(`--coordinator-env takes DTX_NAME=value pairs separated by commas, got ${JSON.stringify(pair)}`);
    coordinatorEnv[match[1]!] = match[2]!;
  }
  const coordinatorNodeArgs = (values['coordinator-node-args'] ?? '').split(/\s+/).filter(Boolean);
  for (const arg of coordinatorNodeArgs)
    if (!arg.startsWith('--')) throw new BenchUsageError(`--coordinator-node-args takes node flags, got ${JSON.stringify(arg)}`);

  return {
    mode,
    quick,
    profile,
    scenarios: chosen,
    stores,
    runs: benchRuns(chosen, stores),
    runtime: values.runtime as Runtime,
    concurrencies,
    // Levels named by hand are the whole sweep; the default sweep climbs on while throughput still grows.
    maxConcurrency: values.concurrency !== undefined ? Math.max(...concurrencies) : 256,
    stepMs: values['step-ms'] ?? (quick ? 3_000 : 10_000),
    warmupMs: quick ? 1_500 : 4_000,
    fixedRateMs: quick ? 5_000 : 15_000,
    fixedFractions: quick ? [HEADLINE_FRACTION] : [HEADLINE_FRACTION, 0.25],
    leadInMs: quick ? 1_000 : 3_000,
    accountsPerBank: 1_000,
    fmtLockWaitMs: values['fmt-lock-wait-ms'] ?? null,
    fmtExecutes: values['fmt-executes'] as BenchOptions['fmtExecutes'],
    coordinatorLogLevel: values['coordinator-log-level'],
    bankHandlers: values['bank-handlers'] as BenchOptions['bankHandlers'],
    coordinatorNodeArgs,
    coordinatorEnv,
    scaleRows: values['scale-rows'],
    // A profiled run is slowed down by the profiler: keep its figures out of the results file.
    resultsFile: profile ? '.tmp/bench/results-profile.json' : 'bench-results.json',
  };
}

/** `--store`: one store, several comma-separated (each once, in the order given), or `all`. */
function parseStores(value: string): LogStore[] {
  const usage = `--store takes ${LOG_STORES.join(', ')}, several of them comma-separated, or all`;
  if (value.trim() === 'all') return [...LOG_STORES];
  const names = value.split(',').map((s) => s.trim());
  for (const name of names) if (!(LOG_STORES as readonly string[]).includes(name)) throw new BenchUsageError(`${usage}; got ${JSON.stringify(name)}`);
  return [...new Set(names as LogStore[])];
}
