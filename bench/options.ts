/**
 * Command-line options of `npm run bench`, normalised once by a pure function.
 *
 *   npm run bench                   full run (about 5-10 minutes)
 *   npm run bench -- --quick        short run (a minute or two)
 *   npm run bench -- --scale        1,000,000 finished transactions in the log: throughput and query plans
 *   npm run bench -- --profile      CPU profile of the coordinator under load (results not written to bench-results.json)
 *   npm run bench -- --only=a,c     only some scenarios (a, b, c, c0)
 *   npm run bench -- --runtime=compiled   run the Node processes on esbuild output instead of tsx
 *   npm run bench -- --bank-handlers=sql  the banks' handlers as plain SQL instead of on knex transactions
 *   npm run bench -- --coordinator-log-level=warn
 *   npm run bench -- --coordinator-env=DTX_MYSQL_POOL_MAX=8 --coordinator-node-args="--max-semi-space-size=8"
 */

import { HEADLINE_FRACTION, type SweepOptions } from './scenario.ts';

/**
 * The scenarios, in the order a full run measures them: a (dtx) and its floor
 * b, c (coordinator only) and its floor c0. See docs/performance.md.
 */
export const SCENARIOS = ['a', 'b', 'c', 'c0'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export function isScenarioName(name: string): name is ScenarioName {
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

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function parseBenchOptions(argv: readonly string[]): BenchOptions {
  const flags = new Map<string, string>();
  for (const arg of argv) {
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!match) throw new BenchUsageError(`unexpected argument ${JSON.stringify(arg)}`);
    flags.set(match[1]!, match[2] ?? 'true');
  }
  const known = new Set(['quick', 'scale', 'profile', 'only', 'runtime', 'bank-handlers', 'coordinator-log-level', 'coordinator-node-args', 'coordinator-env', 'step-ms', 'concurrency', 'scale-rows']);
  for (const name of flags.keys()) if (!known.has(name)) throw new BenchUsageError(`unknown option --${name}`);

  for (const name of ['quick', 'scale', 'profile']) {
    if (flags.has(name) && flags.get(name) !== 'true') throw new BenchUsageError(`--${name} takes no value`);
  }
  const quick = flags.has('quick');
  const profile = flags.has('profile');
  const scenarios = (flags.get('only') ?? SCENARIOS.join(',')).split(',').map((s) => s.trim());
  for (const s of scenarios) if (!isScenarioName(s)) throw new BenchUsageError(`--only takes ${SCENARIOS.join(', ')}, got ${s}`);
  const runtime = flags.get('runtime') ?? 'tsx';
  if (runtime !== 'tsx' && runtime !== 'compiled') throw new BenchUsageError('--runtime is tsx or compiled');
  const bankHandlers = flags.get('bank-handlers') ?? 'knex';
  if (bankHandlers !== 'knex' && bankHandlers !== 'sql') throw new BenchUsageError('--bank-handlers is knex or sql');
  const coordinatorLogLevel = flags.get('coordinator-log-level') ?? 'info';
  if (!LOG_LEVELS.includes(coordinatorLogLevel)) throw new BenchUsageError(`--coordinator-log-level must be one of ${LOG_LEVELS.join(', ')}`);

  const positiveInt = (name: string, fallback: number): number => {
    const raw = flags.get(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isSafeInteger(value) || value <= 0) throw new BenchUsageError(`--${name} must be a positive integer`);
    return value;
  };
  const concurrencies = flags.has('concurrency')
    ? flags.get('concurrency')!.split(',').map((s) => {
        const n = Number(s);
        if (!Number.isSafeInteger(n) || n <= 0) throw new BenchUsageError('--concurrency takes positive integers, e.g. 4,16,64');
        return n;
      })
    : quick
      ? [4, 16, 64]
      : [1, 4, 16, 32, 64];

  const coordinatorEnv: Record<string, string> = {};
  for (const pair of (flags.get('coordinator-env') ?? '').split(',').filter(Boolean)) {
    const match = /^(DTX_[A-Z0-9_]+)=(.*)$/.exec(pair);
    if (!match) throw new BenchUsageError(`--coordinator-env takes DTX_NAME=value pairs separated by commas, got ${JSON.stringify(pair)}`);
    coordinatorEnv[match[1]!] = match[2]!;
  }
  const coordinatorNodeArgs = (flags.get('coordinator-node-args') ?? '').split(/\s+/).filter(Boolean);
  for (const arg of coordinatorNodeArgs) if (!arg.startsWith('--')) throw new BenchUsageError(`--coordinator-node-args takes node flags, got ${JSON.stringify(arg)}`);

  return {
    mode: flags.has('scale') ? 'scale' : 'standard',
    quick,
    profile,
    scenarios: [...new Set(scenarios.filter(isScenarioName))],
    runtime,
    concurrencies,
    // Levels named by hand are the whole sweep; the default sweep climbs on while throughput still grows.
    maxConcurrency: flags.has('concurrency') ? Math.max(...concurrencies) : 256,
    stepMs: positiveInt('step-ms', quick ? 3_000 : 10_000),
    warmupMs: quick ? 1_500 : 4_000,
    fixedRateMs: quick ? 5_000 : 15_000,
    fixedFractions: quick ? [HEADLINE_FRACTION] : [HEADLINE_FRACTION, 0.25],
    leadInMs: quick ? 1_000 : 3_000,
    accountsPerBank: 1_000,
    coordinatorLogLevel,
    bankHandlers,
    coordinatorNodeArgs,
    coordinatorEnv,
    scaleRows: positiveInt('scale-rows', 1_000_000),
    // A profiled run is slowed down by the profiler: keep its figures out of the results file.
    resultsFile: profile ? '.tmp/bench/results-profile.json' : 'bench-results.json',
  };
}
