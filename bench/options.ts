/**
 * Command-line options of `npm run bench`, normalised once by a pure function.
 *
 *   npm run bench                   full run (about 5-10 minutes)
 *   npm run bench -- --quick        short run (a minute or two)
 *   npm run bench -- --scale        1,000,000 finished transactions in the log: throughput and query plans
 *   npm run bench -- --profile      CPU profile of the coordinator under load (results not written to bench-results.json)
 *   npm run bench -- --only=a,c     only some scenarios (a, b, c, c0, sa, sb, sc, xa, xb, xc)
 *   npm run bench                   builds, then runs every process on plain node from the built JavaScript
 *   npm run bench -- --runtime=tsx  the same processes on tsx, from source
 *   npm run bench -- --bank-handlers=sql  the banks' handlers as plain SQL instead of on knex transactions
 *   npm run bench -- --coordinator-log-level=warn
 *   npm run bench -- --coordinator-env=DTX_MYSQL_POOL_MAX=8 --coordinator-node-args="--max-semi-space-size=8"
 */

import { CliUsageError, defineCli, parseCli, type CliValues } from '../scripts/cli-options.ts';
import { HEADLINE_FRACTION, type SweepOptions } from './scenario.ts';

/**
 * The scenarios, in the order a full run measures them: a (dtx) and its floor
 * b, c (coordinator only) and its floor c0, all TCC; then the same transfer as
 * a two-step saga: sa (dtx), its floor sb, and sc (coordinator only); then
 * as a two-branch XA transaction: xa (dtx), its floor xb, and xc
 * (coordinator only). See docs/performance.md and workloads.ts.
 */
export const SCENARIOS = ['a', 'b', 'c', 'c0', 'sa', 'sb', 'sc', 'xa', 'xb', 'xc'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

function isScenarioName(name: string): name is ScenarioName {
  return (SCENARIOS as readonly string[]).includes(name);
}

export type Runtime = 'tsx' | 'compiled';

/** The sweep's own options (levels, step lengths, fixed-rate shares) are SweepOptions, documented there. */
export interface BenchOptions extends SweepOptions {
  mode: 'standard' | 'scale';
  quick: boolean;
  profile: boolean;
  scenarios: ScenarioName[];
  runtime: Runtime;
  /** Accounts per bank; transfers pick two at random, so contention stays low. */
  accountsPerBank: number;
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
    only: { type: 'string', valueName: 'LIST', description: `only these scenarios, comma-separated (${SCENARIOS.join(', ')})` },
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
  const scenarios = (values.only ?? SCENARIOS.join(',')).split(',').map((s) => s.trim());
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
    mode: values.scale ? 'scale' : 'standard',
    quick,
    profile,
    scenarios: [...new Set(scenarios.filter(isScenarioName))],
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
    coordinatorLogLevel: values['coordinator-log-level'],
    bankHandlers: values['bank-handlers'] as BenchOptions['bankHandlers'],
    coordinatorNodeArgs,
    coordinatorEnv,
    scaleRows: values['scale-rows'],
    // A profiled run is slowed down by the profiler: keep its figures out of the results file.
    resultsFile: profile ? '.tmp/bench/results-profile.json' : 'bench-results.json',
  };
}
