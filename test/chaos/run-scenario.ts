/**
 * One scenario end to end: a fresh cluster (own databases, own Redis
 * prefix) behind fault proxies, seeded transfers while the seeded fault
 * schedule runs, then heal everything, wait (bounded) until every
 * transaction is terminal, and check the invariants.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { audit, fmtUndoRecords, violations, type Violation } from '../../examples/bank-transfer/cluster/audit.ts';
import { seededRandom } from '../../examples/bank-transfer/cluster/random.ts';
import type { TransferResult } from '../../examples/bank-transfer/cluster/transfer-load.ts';
import { waitFor } from '../../tools/wait.ts';
import { Adversary, planAdversary, type AdversaryReport } from './adversary.ts';
import { AdversaryLog } from './adversary-log.ts';
import { PROXY_MODES } from './fault-proxy.ts';
import { runSchedule } from './faults.ts';
import { gidHistory, type GidHistory } from './history.ts';
import { ledgerMismatches, mismatchViolations } from './ledger-check.ts';
import { preparedBranchViolations } from './prepared-branches.ts';
import { LOGGED, logWord } from './log-words.ts';
import { contradicts, runChaosLoad } from './load.ts';
import type { Scenario, ScenarioSize } from './scenario.ts';
import { faultKind, type FaultStep } from './schedule.ts';
import { ChaosWorld, type ChaosServers } from './world.ts';
import { banksTakeXa } from './database-servers.ts';

export interface RunScenarioOptions {
  scenario: Scenario;
  seed: number;
  size: ScenarioSize;
  servers: ChaosServers;
  /** Logs of every process go to `<logDir>/<scenario>-<seed>/`. */
  logDir: string;
  log: (line: string) => void;
  /** Bound on "every transaction terminal" after the faults stop. Default 120 s. */
  convergeTimeoutMs?: number;
  coordinators?: number;
  /** Told about the world once it runs (and null once it is closed), for cleanup on Ctrl-C. */
  onWorld?: (world: ChaosWorld | null) => void;
}

export interface ScenarioReport {
  scenario: string;
  proves: string;
  seed: number;
  steps: FaultStep[];
  transfers: number;
  answers: Record<TransferResult, number>;
  /** Final statuses in the coordinator's log (the harness's own transactions included). */
  final: Record<string, number>;
  needsAttention: number;
  /** Faults carried out, by kind, plus totals (connections killed, calls replayed). */
  faults: [string, number][];
  /** Connections that met a proxy fault, by link kind and mode. */
  connectionsAffected: [string, number][];
  loadMs: number;
  faultsMs: number;
  /** From the moment faults had stopped and the last transfer was answered, until nothing was open; null if the bound passed. */
  convergeMs: number | null;
  totalMs: number;
  money: { before: number; after: number };
  violations: Violation[];
  histories: GidHistory[];
  notes: string[];
  /** What the adversary tried during the run, and how each kind was answered (its violations are in `violations`). */
  adversary: AdversaryReport;
  logDir: string;
}

const ACCOUNTS_PER_BANK = 5;
const INITIAL_BALANCE = 1_000;
const MAX_AMOUNT = 600;

export async function runScenario(options: RunScenarioOptions): Promise<ScenarioReport> {
  const { scenario, seed, size, log } = options;
  const started = Date.now();
  const logDir = join(options.logDir, `${scenario.name}-${seed}`);
  await mkdir(logDir, { recursive: true });
  const coordinators = options.coordinators ?? 3;
  const mode = scenario.mode ?? 'tcc';
  const steps = scenario.plan(seededRandom(seed), size.budget, { coordinators });
  const attacks = planAdversary(seededRandom(seed ^ 0x2545f491), size.budget, { xa: banksTakeXa(scenario.database ?? 'mysql') });
  log(
    `${steps.length} faults scheduled over ${(size.budget.horizonMs / 1000).toFixed(0)} s; ${size.transfers} ${mode === 'tcc' ? '' : `${mode} `}transfers, ${size.concurrency} at a time; ${attacks.length} adversary attempts; logs in ${logDir}`,
  );

  const world = await ChaosWorld.create({
    scenario: scenario.name,
    seed,
    servers: options.servers,
    ...(scenario.database ? { database: scenario.database } : {}),
    mode,
    coordinators,
    bankErrorRate: scenario.bankErrorRate ?? 0,
    accountsPerBank: ACCOUNTS_PER_BANK,
    initialBalance: INITIAL_BALANCE,
    logDir,
  });
  options.onWorld?.(world);
  let report: ScenarioReport;
  try {
    const before = await audit(world.cluster.coordinatorDbUrl, world.cluster.bankDbUrls);
    const gidPrefix = `${scenario.name}-${seed}`;
    const loadRandom = seededRandom(seed ^ 0x5bd1e995);
    let loadEnded = 0;
    const load = runChaosLoad({
      transferUrls: world.cluster.transferUrls,
      accountIds: world.cluster.accountIds,
      count: size.transfers,
      concurrency: size.concurrency,
      maxAmount: MAX_AMOUNT,
      mode,
      random: loadRandom,
      gidPrefix,
      timeoutMs: 30_000,
      spreadOverMs: size.budget.horizonMs,
      stopped: () => world.aborted,
    }).finally(() => (loadEnded = Date.now()));

    // The adversary works through the same window as the faults, against the load's transactions.
    const adversaryLog = new AdversaryLog(world, gidPrefix);
    const adversary = new Adversary({
      identity: world.adversaryIdentity(),
      coordinatorUrls: world.coordinatorUrls(),
      targets: adversaryLog,
      seed,
      gidPrefix,
      sleep: (ms) => world.sleep(ms),
      stopped: () => world.aborted,
    });
    const attacked = adversary.run(attacks);

    const faultsStarted = Date.now();
    await runSchedule(world, steps, (line) => log(`  fault ${line.trim()}`));
    const faultsMs = Date.now() - faultsStarted;
    await attacked;
    world.throwIfAborted();
    log(`faults over after ${(faultsMs / 1000).toFixed(1)} s; healing every link, server and process`);
    await world.heal();
    const loaded = await load;
    world.throwIfAborted();
    log(`transfers done in ${(loaded.elapsedMs / 1000).toFixed(1)} s; waiting for every transaction to be terminal`);
    await world.heal(); // nothing should be down, but a transfer may have outlasted the last restore

    const convergeFrom = Math.max(Date.now(), loadEnded);
    const bound = options.convergeTimeoutMs ?? 120_000;
    let lastReport = Date.now();
    const converged = await waitFor(
      async (bail) => {
        if (world.aborted) bail(new Error('interrupted'));
        const open = (await world
          .coordinatorDb('dtx_global')
          .whereNotIn('status', LOGGED.terminal)
          .select('mode', 'status')
          .count({ n: '*' })
          .groupBy('mode', 'status')) as {
          mode: string;
          status: string;
          n: number;
        }[];
        if (open.length > 0 && Date.now() - lastReport >= 10_000) {
          lastReport = Date.now();
          log(`still open after ${((Date.now() - convergeFrom) / 1000).toFixed(0)} s: ${open.map((o) => `${logWord(o.mode, o.status)} ${o.n}`).join(', ')}`);
        }
        return open.length === 0;
      },
      { what: 'every transaction to be terminal', timeoutMs: bound, intervalMs: 250 },
    ).then(
      () => true,
      () => false,
    );
    world.throwIfAborted();
    const convergeMs = converged ? Date.now() - convergeFrom : null;
    // A committed FMT branch's undo records are deleted in batches shortly after its commit: given a
    // moment (bounded) before the audit counts what is left. Nothing to wait for in the other modes.
    if (converged) await fmtUndoRecordsGone(world);
    world.throwIfAborted();

    const after = await audit(world.cluster.coordinatorDbUrl, world.cluster.bankDbUrls);
    const found = [...violations(after, before.totalMoney, mode), ...world.findings, ...adversary.violations];
    found.push(...(await adversaryLog.traces(world.adversaryIdentity().caller)));
    found.push(...mismatchViolations(await ledgerMismatches(world.coordinatorDb, world.bankDbs, gidPrefix)));
    found.push(...(await preparedBranchViolations(world.database, world.bankDbs)));

    const finalOf = new Map<string, { mode: string; status: string }>();
    const rows = (await world.coordinatorDb('dtx_global').where('gid', 'like', `${gidPrefix}-t%`).select('gid', 'mode', 'status')) as {
      gid: string;
      mode: string;
      status: string;
    }[];
    for (const row of rows) finalOf.set(row.gid, row);
    for (const record of loaded.records) {
      const final = finalOf.get(record.gid);
      if (contradicts(record.answer, final?.status)) {
        found.push({
          invariant: "the caller's answer holds",
          detail: `answered ${record.answer} (HTTP ${record.httpStatus}), ended ${final ? logWord(final.mode, final.status) : 'unknown'}`,
          gids: [record.gid],
        });
      }
    }

    const [attention] = await world.coordinatorDb('dtx_global').where({ needs_attention: true }).count({ n: '*' });
    const faults = [...world.tally.entries()].sort(([a], [b]) => a.localeCompare(b));
    const histories: GidHistory[] = [];
    const gids = [...new Set(found.flatMap((v) => v.gids))].slice(0, 10);
    for (const gid of gids) histories.push(await gidHistory(world, gid));

    report = {
      scenario: scenario.name,
      proves: scenario.proves,
      seed,
      steps,
      transfers: size.transfers,
      answers: loaded.results,
      final: after.transactions,
      needsAttention: Number(attention?.n ?? 0),
      faults,
      connectionsAffected: connectionsAffected(world),
      loadMs: loaded.elapsedMs,
      faultsMs,
      convergeMs,
      totalMs: Date.now() - started,
      money: { before: before.totalMoney, after: after.totalMoney },
      violations: found,
      histories,
      notes: world.notes,
      adversary: adversary.report(),
      logDir,
    };
  } finally {
    await world.close();
    options.onWorld?.(null);
  }
  const injected = await injectedHandlerErrors(logDir);
  if (injected > 0) {
    report.faults = [...report.faults, ['injected-handler-errors', injected] as [string, number]].sort(([a], [b]) => a.localeCompare(b));
  }
  return report;
}

/** How long the undo records of committed FMT branches may take to go once every transaction is terminal (the banks flush them every second). */
const UNDO_RECORDS_BOUND_MS = 15_000;

/** Waits (at most UNDO_RECORDS_BOUND_MS) until no bank holds an FMT undo record; what is left then is the audit's to report. */
async function fmtUndoRecordsGone(world: ChaosWorld): Promise<void> {
  await waitFor(
    async (bail) => {
      if (world.aborted) bail(new Error('interrupted'));
      for (const db of Object.values(world.bankDbs)) if ((await fmtUndoRecords(db)).count > 0) return false;
      return true;
    },
    { what: 'the FMT undo records to be deleted', timeoutMs: UNDO_RECORDS_BOUND_MS, intervalMs: 250 },
  ).catch(() => undefined);
}

/** A bank's log line of a handler failure (FMT's execute logs its own), once the handler threw. */
const HANDLER_FAILED = ['"branch handler failed"', '"FMT branch failed"'];

/** Handler errors the banks injected (BANK_ERROR_RATE), counted in their logs once they are closed. */
async function injectedHandlerErrors(logDir: string): Promise<number> {
  let count = 0;
  for (const bank of ['a', 'b']) {
    const text = await readFile(join(logDir, `bank-${bank}.log`), 'utf8').catch(() => '');
    count += text.split('\n').filter((line) => HANDLER_FAILED.some((failed) => line.includes(failed)) && line.includes('injected fault on')).length;
  }
  return count;
}

function connectionsAffected(world: ChaosWorld): [string, number][] {
  const totals = new Map<string, number>();
  for (const [link, proxy] of world.proxies) {
    const affected = proxy.stats().affected;
    for (const mode of PROXY_MODES) {
      if (mode === 'pass' || affected[mode] === 0) continue;
      const kind = faultKind({ kind: 'link', link, mode, delayMs: 0, durationMs: 0 });
      totals.set(kind, (totals.get(kind) ?? 0) + affected[mode]);
    }
  }
  return [...totals.entries()].sort(([a], [b]) => a.localeCompare(b));
}
