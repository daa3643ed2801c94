/**
 * Where a scenario's latency tail comes from, at one rate:
 *
 *   npx tsx bench/tail.ts                    # scenario b (the floor) at 125 tx/s
 *   npx tsx bench/tail.ts --only=a --rate=80
 *
 * Runs, in turns and twice: a closed loop of one (back to back), a paced
 * run (one at a time on the rate's schedule: same work and rate, never two
 * transactions at once) and the open loop at the same rate (what `npm run
 * bench` measures). Prints p50/p99 of each and the server's lock waits,
 * deadlocks and new connections during them, so that a tail can be told
 * apart from locking or pool growth. docs/performance.md has the figures.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { createConnection, type RowDataPacket } from 'mysql2/promise';
import { DtxClient } from '@dtx/participant-sdk';
import { provisionServers } from '../tools/environment.ts';
import { closedLoop, fixedRate, paced, summariseLatency, type LoadResult, type Work } from './load.ts';
import { MysqlProbe } from './mysql-probe.ts';
import { BenchUsageError } from './options.ts';
import { benchApiToken, benchKeys, startSystem } from './system.ts';
import { DirectCaller, directTransfer, dtxTransfer, emptyTcc } from './workloads.ts';

interface TailArgs {
  scenario: 'a' | 'b' | 'c';
  rate: number;
  seconds: number;
  /** Node flags for every process of the system, e.g. --trace-gc (output in .tmp/bench/logs-tail). */
  nodeArgs: string[];
  bankHandlers: 'knex' | 'sql';
}

function parseArgs(argv: string[]): TailArgs {
  const out: TailArgs = { scenario: 'b', rate: 125, seconds: 8, nodeArgs: [], bankHandlers: 'knex' };
  for (const arg of argv) {
    const at = arg.indexOf('=');
    const [name, value] = at < 0 ? [arg, ''] : [arg.slice(0, at), arg.slice(at + 1)];
    if (name === '--only' && (value === 'a' || value === 'b' || value === 'c')) out.scenario = value;
    else if (name === '--rate' && Number(value) > 0) out.rate = Number(value);
    else if (name === '--seconds' && Number(value) > 0) out.seconds = Number(value);
    else if (name === '--node-args' && value.startsWith('--')) out.nodeArgs = value.split(/\s+/).filter(Boolean);
    else if (name === '--bank-handlers' && (value === 'knex' || value === 'sql')) out.bankHandlers = value;
    else
      throw new BenchUsageError(
        `usage: bench/tail.ts [--only=a|b|c] [--rate=tx/s] [--seconds=n] [--bank-handlers=knex|sql] [--node-args="--trace-gc"]; got ${arg}`,
      );
  }
  return out;
}

const SERVER_COUNTERS = ['Innodb_row_lock_waits', 'Innodb_deadlocks', 'Connections', 'Com_rollback'];

/** TCP connections opened on this machine (any process): tells whether a tail comes from connecting. */
function tcpActiveOpens(): number {
  const lines = readFileSync('/proc/net/snmp', 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('Tcp:'));
  const [names, values] = lines.map((l) => l.split(/\s+/));
  const at = names?.indexOf('ActiveOpens') ?? -1;
  return at > 0 ? Number(values?.[at]) : Number.NaN;
}

const args = parseArgs(process.argv.slice(2));
const LOG_DIR = '.tmp/bench/logs-tail';
mkdirSync(LOG_DIR, { recursive: true });
const secret = 'tail-secret-not-for-production';
const accounts = Array.from({ length: 1_000 }, (_, i) => `acct-${i + 1}`);
const servers = await provisionServers();
const probe = await MysqlProbe.open(servers.mysqlUrl);
const counters = await createConnection({ uri: servers.mysqlUrl });
const readCounters = async (): Promise<Record<string, number>> => {
  const [rows] = await counters.query<RowDataPacket[]>('SHOW GLOBAL STATUS WHERE Variable_name IN (?)', [SERVER_COUNTERS]);
  return { ...Object.fromEntries(rows.map((row) => [String(row['Variable_name']), Number(row['Value'])])), 'TCP connects': tcpActiveOpens() };
};
const system = await startSystem({
  scenario: args.scenario,
  label: `tail_${args.scenario}`,
  mysqlUrl: servers.mysqlUrl,
  redisUrl: servers.redisUrl,
  probe,
  runtime: 'tsx',
  logDir: LOG_DIR,
  secret,
  accounts,
  initialBalance: 1_000_000_000,
  coordinatorLogLevel: 'info',
  coordinatorNodeArgs: args.nodeArgs,
  participantNodeArgs: args.nodeArgs,
  bankHandlers: args.bankHandlers,
});
const client = system.coordinator
  ? new DtxClient({ coordinatorUrl: system.coordinator.url, initiatorKey: benchKeys(secret).initiatorKey, apiToken: benchApiToken(secret) })
  : null;
const direct = new DirectCaller(benchKeys(secret));
const target = system.banks ? { bankA: system.banks.a, bankB: system.banks.b, accounts, random: Math.random } : null;
const work: Work =
  args.scenario === 'a'
    ? dtxTransfer(client!, target!)
    : args.scenario === 'b'
      ? directTransfer(direct, target!)
      : emptyTcc(client!, system.emptyParticipantUrl!);

try {
  process.stdout.write(`scenario ${args.scenario}, ${args.rate} tx/s, ${args.seconds} s per run, bank handlers ${args.bankHandlers}\n`);
  await closedLoop(work, 16, 4_000); // warm-up
  const durationMs = args.seconds * 1_000;
  const runs: [string, () => Promise<LoadResult>][] = [
    ['closed loop of one (back to back)', () => closedLoop(work, 1, durationMs)],
    [`paced: one at a time, ${args.rate}/s`, () => paced(work, args.rate, durationMs)],
    [`open loop: ${args.rate}/s on schedule`, () => fixedRate(work, args.rate, durationMs)],
  ];
  for (let round = 1; round <= 2; round++) {
    for (const [name, run] of runs) {
      const before = await readCounters();
      const result = await run();
      const after = await readCounters();
      const l = summariseLatency(result.latenciesMs);
      const rate = (result.succeeded * 1000) / (result.endedAt - result.startedAt);
      const server = [...SERVER_COUNTERS, 'TCP connects'].map((c) => `${c} ${(after[c] ?? 0) - (before[c] ?? 0)}`).join(', ');
      process.stdout.write(
        `  ${name.padEnd(36)} ${rate.toFixed(0).padStart(4)} tx/s  p50 ${l.p50.toFixed(1).padStart(5)} ms  p99 ${l.p99.toFixed(1).padStart(5)} ms  max ${l.max.toFixed(1).padStart(5)} ms` +
          `${result.errors ? `  ${result.errors} errors` : ''}   [${server}]\n`,
      );
    }
  }
} finally {
  await client?.close();
  await direct.close();
  await system.stop();
  await probe.dropDatabases(system.databases);
  await counters.end();
  await probe.close();
  await servers.stop();
}
