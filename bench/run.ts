/**
 * `npm run bench`: the benchmark of docs/performance.md on this machine, in one run.
 *
 * Provisions private MariaDB and Redis (as the tests do; PostgreSQL too for
 * --store=postgres), starts the processes of every scenario on fresh
 * databases, and measures the scenarios in turns: a closed-loop sweep over
 * concurrency to find each peak, then a fixed-rate run at half of it for
 * latency. Prints tables and writes bench-results.json. Options: see
 * options.ts (--quick, --scale, --profile, --only, --store, --runtime).
 * Method and figures: docs/performance.md.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { DtxClient } from '@dtx/participant-sdk';
import { provisionServers } from '../tools/environment.ts';
import { formatHopCost, measureHopCost } from './hop-cost.ts';
import { machineInfo } from './machine.ts';
import { MysqlProbe } from './mysql-probe.ts';
import { exitWithUsageError, formatUsage } from '../scripts/cli-options.ts';
import { sumPhases, type PhaseTotals } from './fmt-phases.ts';
import {
  BENCH_CLI,
  BenchUsageError,
  HOT_ACCOUNTS,
  isFmtScenario,
  parseBenchOptions,
  type BenchOptions,
  type BenchRun,
  type LogStore,
  type ScenarioName,
} from './options.ts';
import { PostgresProbe } from './postgres-probe.ts';
import type { WatchedProcess } from './proc-stats.ts';
import { formatProfileSummary, readProfile, summariseProfile } from './profile-summary.ts';
import { buildResults, formatTables, scenarioReport, type ScenarioReport } from './report.ts';
import { runScale } from './scale.ts';
import { runInterleaved, type ScenarioContext } from './scenario.ts';
import { benchApiToken, benchKeys, startSystem, type BenchSystem } from './system.ts';
import {
  DirectCaller,
  directEmpty,
  directSagaTransfer,
  directTransfer,
  directXaTransfer,
  directFmtFloorTransfer,
  dtxFmtTransfer,
  dtxSagaTransfer,
  dtxTransfer,
  dtxXaTransfer,
  emptySaga,
  emptyTcc,
  emptyXa,
  type TransferTarget,
} from './workloads.ts';
import type { Work } from './load.ts';

const argv = process.argv.slice(2);
if (argv.includes('--help') || argv.includes('-h')) {
  process.stdout.write(`${formatUsage(BENCH_CLI)}\n`);
  process.exit(0);
}
let options: BenchOptions;
try {
  options = parseBenchOptions(argv);
} catch (error) {
  if (error instanceof BenchUsageError) exitWithUsageError(BENCH_CLI, `bench: ${error.message}`);
  throw error;
}

const SECRET = 'bench-secret-not-for-production';
const INITIAL_BALANCE = 1_000_000_000;
const WORK_DIR = '.tmp/bench';
const LOG_DIR = join(WORK_DIR, options.mode === 'scale' ? 'logs-scale' : 'logs');
const PROFILE_DIR = join(WORK_DIR, 'profiles');
/** Profiles are summarised from this far in: start-up (module loading, tsx, migrations) is not the steady state. */
const PROFILE_SKIP_MS = 5_000;

const log = (line: string) => process.stdout.write(`${line}\n`);

await rm(LOG_DIR, { recursive: true, force: true });
await mkdir(LOG_DIR, { recursive: true });
if (options.profile) {
  await rm(PROFILE_DIR, { recursive: true, force: true });
  await mkdir(PROFILE_DIR, { recursive: true });
}

const started = Date.now();
log(
  `dtx bench: ${options.mode}${options.quick ? ' (quick)' : ''}, runtime ${options.runtime}, log store ${options.stores.join(', ')}, bank handlers ${options.bankHandlers}, coordinator log level ${options.coordinatorLogLevel}` +
    `${options.runs.some((run) => isFmtScenario(run.scenario)) ? `, FMT executes ${options.fmtExecutes}, FMT lock wait ${options.fmtLockWaitMs ?? 'default'}` : ''}` +
    `${options.coordinatorNodeArgs.length ? `, coordinator node flags ${options.coordinatorNodeArgs.join(' ')}` : ''}` +
    `${Object.keys(options.coordinatorEnv).length ? `, coordinator env ${JSON.stringify(options.coordinatorEnv)}` : ''}${options.profile ? ', PROFILED' : ''}`,
);
const servers = await provisionServers({ postgres: options.stores.includes('postgres') });
const probe = await MysqlProbe.open(servers.mysqlUrl);
const postgres = servers.postgresUrl ? await PostgresProbe.open(servers.postgresUrl) : null;
const postgresPid = postgres ? await postgres.serverPid() : null;
// Embedded logs live in folders of their own under one temp dir, on disk as a single-instance deployment keeps one.
const embeddedRoot = options.stores.includes('embedded') ? await mkdtemp(join(tmpdir(), 'dtx-bench-embedded-')) : null;
const redis = new Redis(servers.redisUrl, { maxRetriesPerRequest: 3 });
const redisInfo = await redis.info('server');
const redisPid = Number(/process_id:(\d+)/.exec(redisInfo)?.[1] ?? 0);
const mysqlPid = await probe.serverPid();
const machine = machineInfo({
  mysql: await probe.version(),
  redis: /redis_version:(\S+)/.exec(redisInfo)?.[1] ?? '?',
  ...(postgres ? { postgres: await postgres.version() } : {}),
});
log(
  `machine: ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGb} GB, node ${machine.node}, MariaDB ${machine.mysql}, Redis ${machine.redis}` +
    `${machine.postgres ? `, PostgreSQL ${machine.postgres}` : ''}`,
);

const infrastructure: WatchedProcess[] = [
  ...(mysqlPid ? [{ name: 'mariadbd', pid: mysqlPid }] : []),
  ...(redisPid ? [{ name: 'redis-server', pid: redisPid }] : []),
  // A process per session: the server's CPU is the postmaster's and its children's.
  ...(postgresPid ? [{ name: 'postgres', pid: postgresPid, withChildren: true }] : []),
  { name: 'bench (load generator)', pid: process.pid },
];
const accounts = Array.from({ length: options.accountsPerBank }, (_, i) => `acct-${i + 1}`);

async function launch(
  scenario: ScenarioName,
  extraCoordinatorEnv: Record<string, string> = {},
  label: string = scenario,
  logStore: LogStore = 'mysql',
): Promise<BenchSystem> {
  return startSystem({
    scenario,
    label,
    logStore,
    postgres,
    embeddedRoot,
    mysqlUrl: servers.mysqlUrl,
    redisUrl: servers.redisUrl,
    probe,
    runtime: options.runtime,
    logDir: LOG_DIR,
    secret: SECRET,
    accounts,
    initialBalance: INITIAL_BALANCE,
    coordinatorLogLevel: options.coordinatorLogLevel,
    bankHandlers: options.bankHandlers,
    fmtLockWaitMs: options.fmtLockWaitMs,
    // The FMT banks are profiled too: where an execute's CPU goes (statement analysis, images, the lock request).
    ...(options.profile && isFmtScenario(scenario) ? { participantNodeArgs: ['--cpu-prof', `--cpu-prof-dir=${join(PROFILE_DIR, `fmt-banks-${label}`)}`] } : {}),
    coordinatorNodeArgs: [
      ...options.coordinatorNodeArgs,
      // One profile per thread (the main thread, and tsx's module-loader thread) lands in this folder.
      ...(options.profile ? ['--cpu-prof', `--cpu-prof-dir=${join(PROFILE_DIR, `coordinator-${label}`)}`] : []),
    ],
    coordinatorEnv: { ...options.coordinatorEnv, ...extraCoordinatorEnv },
  });
}

function watched(system: BenchSystem): () => WatchedProcess[] {
  return () => [...system.processes.map((p) => ({ name: p.name, pid: p.pid })), ...infrastructure];
}

const TITLES: Record<ScenarioName, string> = {
  a: '[a dtx]',
  b: '[b floor]',
  c: '[c coordinator only]',
  c0: '[c0 empty floor]',
  sa: '[sa saga dtx]',
  sb: '[sb saga floor]',
  sc: '[sc saga coordinator only]',
  xa: '[xa XA dtx]',
  xb: '[xb XA floor]',
  xc: '[xc XA coordinator only]',
  fa: '[fa FMT dtx]',
  fb: '[fb FMT floor]',
  fh: '[fh FMT dtx, 1 hot account]',
};

/** A run's title in the progress lines: the scenario's, and the store of its log. */
function runTitle(run: BenchRun): string {
  return run.store === null ? TITLES[run.scenario] : `${TITLES[run.scenario].slice(0, -1)}, ${run.store} log]`;
}

interface Running {
  system: BenchSystem;
  client: DtxClient | null;
  direct: DirectCaller | null;
  ctx: ScenarioContext;
}

async function startScenario(run: BenchRun): Promise<Running> {
  const { scenario } = run;
  // A name for its databases, folders and queue prefix: the run's id, `@` spelled `_`.
  const system = await launch(scenario, {}, run.id.replace('@', '_'), run.store ?? undefined);
  const client = system.coordinator
    ? new DtxClient({ apiToken: benchApiToken(SECRET), coordinatorUrl: system.coordinator.url, initiatorKey: benchKeys(SECRET).initiatorKey })
    : null;
  const direct = !system.coordinator ? new DirectCaller(benchKeys(SECRET)) : null;
  // fh's transfers all take the first account of each bank; every other scenario's pick two of them all at random.
  const targetAccounts = scenario === 'fh' ? accounts.slice(0, HOT_ACCOUNTS) : accounts;
  const bankTarget = (): TransferTarget => ({ bankA: system.banks!.a, bankB: system.banks!.b, accounts: targetAccounts, random: Math.random });
  const workOf: Record<ScenarioName, () => Work> = {
    a: () => dtxTransfer(client!, bankTarget()),
    b: () => directTransfer(direct!, bankTarget()),
    c: () => emptyTcc(client!, system.emptyParticipantUrl!),
    c0: () => directEmpty(direct!, system.emptyParticipantUrl!),
    sa: () => dtxSagaTransfer(client!, bankTarget()),
    sb: () => directSagaTransfer(direct!, bankTarget()),
    sc: () => emptySaga(client!, system.emptyParticipantUrl!),
    xa: () => dtxXaTransfer(client!, bankTarget()),
    xb: () => directXaTransfer(direct!, bankTarget()),
    xc: () => emptyXa(client!, system.emptyParticipantUrl!),
    fa: () => dtxFmtTransfer(client!, bankTarget(), options.fmtExecutes),
    fb: () => directFmtFloorTransfer(direct!, bankTarget()),
    fh: () => dtxFmtTransfer(client!, bankTarget(), options.fmtExecutes),
  };
  const work = workOf[scenario]();
  const fmt = isFmtScenario(scenario);
  return {
    system,
    client,
    direct,
    ctx: {
      work,
      probe,
      redis,
      coordinatorLog: system.coordinator?.log ?? null,
      processes: watched(system),
      log,
      // A transfer refused for a lock conflict is rolled back: terminal, but no transfer (fb counts its successes too).
      ...(fmt ? { committedOnly: true, phases: () => fmtBankPhases(system) } : {}),
    },
  };
}

/** The FMT banks' phase totals so far (bench/fmt-bank.ts), both banks summed. */
async function fmtBankPhases(system: BenchSystem): Promise<PhaseTotals> {
  const banks = [system.banks!.a, system.banks!.b];
  const all = await Promise.all(
    banks.map(async (resourceUrl) => {
      const url = `${new URL(resourceUrl).origin}/bench/phases`;
      const response = await fetch(url);
      if (!response.ok) throw new Error(`GET ${url} answered HTTP ${response.status}`);
      return ((await response.json()) as { phases: PhaseTotals }).phases;
    }),
  );
  return sumPhases(all);
}

async function stopScenario(running: Running): Promise<void> {
  await running.client?.close();
  await running.direct?.close();
  await running.system.stop();
  await probe.dropDatabases(running.system.databases);
  await running.system.removeLog();
}

/** All runs up at once, measured in turns (see runInterleaved); returns the reports by run id and any correctness problem found. */
async function runScenarios(): Promise<{ reports: Record<string, ScenarioReport>; problems: string[] }> {
  const running = new Map<string, Running>();
  try {
    for (const run of options.runs) running.set(run.id, await startScenario(run));
    const processesOf = (run: BenchRun) => {
      const names = running.get(run.id)!.system.processes.map((p) => p.name);
      return `${run.id}: ${names.join(', ')}`;
    };
    log(`\nprocesses up (${options.runs.map(processesOf).join('; ')}); measuring in turns`);
    const contexts = Object.fromEntries(options.runs.map((run) => [run.id, running.get(run.id)!.ctx]));
    const titles = Object.fromEntries(options.runs.map((run) => [run.id, runTitle(run)]));
    const measured = await runInterleaved(contexts, titles, options);
    const reports: Record<string, ScenarioReport> = {};
    const problems: string[] = [];
    for (const run of options.runs) {
      reports[run.id] = scenarioReport(measured[run.id]!, machine.cpus, run.store);
      const banks = running.get(run.id)!.system.banks;
      if (banks) {
        const totals = await probe.bankTotals(banks.databases);
        const expected = 2 * accounts.length * INITIAL_BALANCE;
        if (totals.balance !== expected || totals.frozen !== 0 || totals.incoming !== 0) {
          problems.push(`${run.id}: bank totals ${JSON.stringify(totals)}, expected balance ${expected} and nothing frozen or incoming`);
        }
      }
    }
    return { reports, problems };
  } finally {
    for (const r of running.values()) await stopScenario(r);
  }
}

/** The busiest thread's profile of each profiled process (the main thread; tsx's loader thread is only busy at start). */
async function profileSummaries(): Promise<string[]> {
  const out: string[] = [];
  for (const dir of await readdir(PROFILE_DIR).catch(() => [] as string[])) {
    const files = (await readdir(join(PROFILE_DIR, dir)).catch(() => [] as string[])).filter((f) => f.endsWith('.cpuprofile'));
    const summaries = files.map((f) => ({
      file: join(PROFILE_DIR, dir, f),
      summary: summariseProfile(readProfile(join(PROFILE_DIR, dir, f)), 40, PROFILE_SKIP_MS),
    }));
    summaries.sort((x, y) => y.summary.busyMs - x.summary.busyMs);
    const main = summaries[0];
    if (main) out.push(formatProfileSummary(`${main.file} (first ${PROFILE_SKIP_MS / 1000} s left out)`, main.summary));
  }
  return out;
}

let exitCode = 0;
try {
  if (options.mode === 'scale') {
    await runScale({ options, launch, probe, redis, watched, accounts, log, resultsFile: options.resultsFile });
  } else {
    // Before the systems start, on a quiet machine: the cost of one message hop, the floor under every figure below.
    const hopCost = await measureHopCost();
    log(formatHopCost(hopCost));
    const { reports, problems } = await runScenarios();
    const results = buildResults(reports, machine, options, { problems, hop_cost: hopCost, duration_s: Math.round((Date.now() - started) / 1000) });
    log(`\n${formatTables(results, reports)}`);
    if (problems.length > 0) {
      exitCode = 1;
      log(`\nPROBLEMS:\n${problems.join('\n')}`);
    }
    if (options.resultsFile) {
      await mkdir(WORK_DIR, { recursive: true });
      await writeFile(options.resultsFile, `${JSON.stringify(results, null, 2)}\n`);
      log(`\nresults written to ${options.resultsFile}`);
    }
  }
  if (options.profile) for (const summary of await profileSummaries()) log(`\n${summary}`);
} catch (error) {
  exitCode = 1;
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\nlogs: ${LOG_DIR}\n`);
} finally {
  redis.disconnect();
  await probe.close().catch(() => undefined);
  await postgres?.close().catch(() => undefined);
  if (embeddedRoot) await rm(embeddedRoot, { recursive: true, force: true }).catch(() => undefined);
  await servers.stop().catch(() => undefined);
}
log(`\nbench finished in ${((Date.now() - started) / 1000).toFixed(0)} s`);
process.exit(exitCode);
