/**
 * `npm run chaos`: runs every chaos scenario (short variant) against the
 * bank-transfer system on private MariaDB and Redis servers (and PostgreSQL
 * when a scenario runs on it), prints a
 * block per scenario and a summary table, and exits non-zero on any
 * violation of the invariants.
 *
 *   npm run chaos                                   every scenario, short, a fresh seed
 *   npm run chaos -- --scenario bank-crash --seed 7 one scenario, reproducibly
 *   npm run chaos -- --soak                         the long variant (> 10,000 transfers in all)
 *   npm run chaos -- --scenario participant-network --transfers 10 --horizon 4 --coordinators 1
 *                                                   a quick one (what test/chaos/exit.test.ts runs)
 *   npm run chaos -- --list                         the scenarios and what each proves
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineCli, parseCliOrExit } from '../../scripts/cli-options.ts';
import {
  ensureServerPackages,
  startMariadb,
  startPostgres,
  startRedis,
  type MariadbServer,
  type PostgresServer,
  type RedisServer,
} from '../../tools/servers.ts';
import { killClusterChildren } from './own-children.ts';
import { printScenario, printSummary } from './report.ts';
import { runScenario, type ScenarioReport } from './run-scenario.ts';
import { SHORT, SOAK, type Scenario, type ScenarioSize } from './scenario.ts';
import { SCENARIOS, scenarioNamed } from './scenarios/index.ts';
import type { ChaosWorld } from './world.ts';

const say = (line: string) => process.stdout.write(`${line}\n`);
const cli = defineCli({
  command: 'npm run chaos --',
  options: {
    scenario: { type: 'string', valueName: 'NAME', choices: SCENARIOS.map((s) => s.name), description: 'run only this scenario (default every one)' },
    seed: { type: 'integer', default: () => Date.now() % 1_000_000, min: 0, description: 'seed of the run (reproducible runs)' },
    soak: { type: 'boolean', description: 'the long variant (> 10,000 transfers in all)' },
    transfers: { type: 'integer', min: 1, description: "transfers per scenario (default the variant's)" },
    horizon: { type: 'number', min: 1, max: 3_600, valueName: 'SECONDS', description: "fault horizon of each scenario (default the variant's)" },
    coordinators: { type: 'integer', min: 1, max: 8, description: "coordinator processes (default the scenario's)" },
    list: { type: 'boolean', description: 'list the scenarios and what each proves, then exit' },
  },
});
const args = parseCliOrExit(cli);

if (args.list) {
  for (const s of SCENARIOS) say(`${s.name.padEnd(20)} ${s.proves}`);
  process.exit(0);
}

// --scenario is one of the names (its choices), so scenarioNamed finds it.
const scenarios: readonly Scenario[] = args.scenario === undefined ? SCENARIOS : [scenarioNamed(args.scenario)!];
const seed = args.seed;
let size: ScenarioSize = args.soak ? SOAK : SHORT;
if (args.transfers !== undefined) size = { ...size, transfers: args.transfers };
if (args.horizon !== undefined) size = { ...size, budget: { ...size.budget, horizonMs: Math.round(args.horizon * 1000) } };
const coordinators = args.coordinators;

let mariadb: MariadbServer | null = null;
let redis: RedisServer | null = null;
let postgres: PostgresServer | null = null;
let world: ChaosWorld | null = null;
let cleaning: Promise<void> | null = null;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    world?.abort();
    await world?.close().catch(() => undefined);
    await Promise.allSettled([mariadb?.stop(), redis?.stop(), postgres?.stop()]);
    killClusterChildren();
  })();
  return cleaning;
}

let interrupted = false;
const onSignal = (signal: NodeJS.Signals) => {
  if (interrupted) return;
  interrupted = true;
  say(`\n${signal}: stopping every process and server…`);
  void cleanup().finally(() => process.exit(130));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
// Last resort if the process ends some other way: no child outlives the run.
process.on('exit', () => killClusterChildren());

const reports: ScenarioReport[] = [];
const errors: string[] = [];
const started = Date.now();
try {
  say(`dtx chaos — ${args.soak ? 'soak' : 'short'} run of ${scenarios.map((s) => s.name).join(', ')}; seed ${seed}`);
  const logDir = await mkdtemp(join(tmpdir(), 'dtx-chaos-'));
  const needsPostgres = scenarios.some((s) => s.database === 'postgres');
  say(`• starting private MariaDB${needsPostgres ? ', PostgreSQL' : ''} and Redis (the suite kills and restarts them)…`);
  await ensureServerPackages({ postgres: needsPostgres });
  [mariadb, redis, postgres] = await Promise.all([startMariadb(), startRedis(), needsPostgres ? startPostgres() : null]);
  for (const scenario of scenarios) {
    if (interrupted) break;
    say('');
    say(`▶ ${scenario.name} (seed ${seed})`);
    try {
      const report = await runScenario({
        scenario,
        seed,
        size,
        coordinators,
        servers: { mariadb, redis, ...(postgres ? { postgres } : {}) },
        logDir,
        log: (line) => say(`  ${line}`),
        onWorld: (w) => (world = w),
      });
      reports.push(report);
      printScenario(report, say);
    } catch (error) {
      if (interrupted) break;
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      errors.push(`${scenario.name}: ${message}`);
      say(`  ✗ the harness failed to run ${scenario.name} (seed ${seed}): ${message}`);
    }
  }
  if (!interrupted) {
    printSummary(reports, Date.now() - started, say);
    const violated = reports.filter((r) => r.violations.length > 0);
    if (violated.length > 0 || errors.length > 0) {
      say('');
      for (const r of violated)
        say(`✗ ${r.scenario}: ${r.violations.length} violation(s) — npm run chaos -- --scenario ${r.scenario} --seed ${r.seed}${args.soak ? ' --soak' : ''}`);
      for (const e of errors) say(`✗ harness error in ${e.split('\n')[0]}`);
      process.exitCode = 1;
    } else {
      say('');
      say(`All invariants held in every scenario ✓  (logs: ${logDir})`);
    }
  }
} catch (error) {
  process.stderr.write(`chaos run failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
} finally {
  if (!interrupted) await cleanup();
}
