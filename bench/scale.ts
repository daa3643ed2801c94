/**
 * `npm run bench -- --scale`: does the coordinator slow down when its log
 * holds many finished transactions? Two copies of scenario (a), one on an
 * empty log and one on a log filled with 1,000,000 finished transactions,
 * measured in turns at a fixed concurrency; plus the recovery due-query
 * (plan, rows read, time) and the admin list (if this build has it) on each.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import type { RowDataPacket } from 'mysql2/promise';
import { DtxClient } from '@dtx/participant-sdk';
import { closedLoop } from './load.ts';
import { fillFinishedTransactions } from './log-fill.ts';
import { rowReads, type MysqlProbe } from './mysql-probe.ts';
import type { BenchOptions, ScenarioName } from './options.ts';
import type { WatchedProcess } from './proc-stats.ts';
import { measureStep, type ScenarioContext, type StepResult } from './scenario.ts';
import { benchApiToken, benchKeys, type BenchSystem } from './system.ts';
import { dtxTransfer } from './workloads.ts';

export interface ScaleContext {
  options: BenchOptions;
  launch: (scenario: ScenarioName, env?: Record<string, string>, label?: string) => Promise<BenchSystem>;
  probe: MysqlProbe;
  redis: Redis;
  watched: (system: BenchSystem) => () => WatchedProcess[];
  accounts: readonly string[];
  log: (line: string) => void;
  resultsFile: string | null;
}

const SECRET = 'bench-secret-not-for-production';
const ADMIN_TOKEN = 'bench-viewer-token-0123456789';
/** The reconciler's query (coordinator/store: findDue), with its default batch. */
const DUE_QUERY = 'SELECT gid, next_retry_at FROM ??.dtx_global WHERE next_retry_at <= ? ORDER BY next_retry_at LIMIT 500';
const CONCURRENCY = 32;
const REPEATS = 3;

interface QueryCheck {
  explain: Record<string, unknown>[];
  /** MariaDB's ANALYZE: the plan with rows actually read (r_rows); null on MySQL. */
  analyze: Record<string, unknown>[] | null;
  /** Handler_read_* of one execution on this session: the rows the server touched. */
  handlerReads: Record<string, number>;
  rowsReturned: number;
  medianMs: number;
}

async function checkDueQuery(probe: MysqlProbe, database: string): Promise<QueryCheck> {
  const conn = probe.connection;
  const until = Date.now() + 1_000;
  const [explain] = await conn.query<RowDataPacket[]>(`EXPLAIN ${DUE_QUERY}`, [database, until]);
  let analyze: Record<string, unknown>[] | null = null;
  try {
    const [rows] = await conn.query<RowDataPacket[]>(`ANALYZE ${DUE_QUERY}`, [database, until]);
    analyze = rows.map((r) => ({ ...r }));
  } catch {
    analyze = null;
  }
  const reads = async () => {
    const [rows] = await conn.query<RowDataPacket[]>("SHOW SESSION STATUS LIKE 'Handler_read%'");
    return Object.fromEntries(rows.map((r) => [String(r['Variable_name']), Number(r['Value'])]));
  };
  const before = await reads();
  const [result] = await conn.query<RowDataPacket[]>(DUE_QUERY, [database, until]);
  const after = await reads();
  const handlerReads = Object.fromEntries(
    Object.keys(after)
      .map((k) => [k, after[k]! - (before[k] ?? 0)])
      .filter(([, v]) => (v as number) > 0),
  );
  const times: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t = performance.now();
    await conn.query(DUE_QUERY, [database, Date.now() + 1_000]);
    times.push(performance.now() - t);
  }
  times.sort((x, y) => x - y);
  return { explain: explain.map((r) => ({ ...r })), analyze, handlerReads, rowsReturned: result.length, medianMs: times[Math.floor(times.length / 2)]! };
}

interface AdminCheck {
  available: boolean;
  /** Median latency per request kind, ms. */
  medianMs: Record<string, number>;
  note: string;
}

async function checkAdminList(coordinatorUrl: string): Promise<AdminCheck> {
  const headers = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const probe = await fetch(`${coordinatorUrl}/admin/v1/transactions?limit=1`, { headers }).catch(() => null);
  if (!probe || probe.status === 404) {
    return { available: false, medianMs: {}, note: 'no admin list endpoint (GET /admin/v1/transactions) in this build: skipped' };
  }
  if (!probe.ok) return { available: false, medianMs: {}, note: `admin list answered HTTP ${probe.status}: skipped` };
  const kinds: Record<string, string> = {
    'newest 50': '?limit=50',
    'oldest 50': '?limit=50&order=oldest',
    'status=confirmed 50': '?status=confirmed&limit=50',
    'needsAttention=true': '?needsAttention=true&limit=50',
    'second page': '',
  };
  const medianMs: Record<string, number> = {};
  for (const [kind, query] of Object.entries(kinds)) {
    const times: number[] = [];
    for (let i = 0; i < 30; i++) {
      let url = `${coordinatorUrl}/admin/v1/transactions${query}`;
      if (kind === 'second page') {
        const first = (await (await fetch(`${coordinatorUrl}/admin/v1/transactions?limit=50`, { headers })).json()) as { nextCursor?: string | null };
        url = `${coordinatorUrl}/admin/v1/transactions?limit=50${first.nextCursor ? `&cursor=${first.nextCursor}` : ''}`;
      }
      const t = performance.now();
      const response = await fetch(url, { headers });
      await response.arrayBuffer();
      times.push(performance.now() - t);
    }
    times.sort((x, y) => x - y);
    medianMs[kind] = times[Math.floor(times.length / 2)]!;
  }
  return { available: true, medianMs, note: 'GET /admin/v1/transactions, 30 requests each, median' };
}

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;

function formatPlan(rows: Record<string, unknown>[]): string {
  return rows
    .map((r) =>
      Object.entries(r)
        .filter(([, v]) => v !== null)
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(' '),
    )
    .map((line) => `    ${line}`)
    .join('\n');
}

interface SideMeasure {
  steps: StepResult[];
  tps: number;
  bestTps: number;
  p99Ms: number;
  rowsReadPerTx: number;
  statementsPerTx: number;
  coordinatorCpuMsPerTx: number;
  mysqldCpuMsPerTx: number;
  foreignCores: number;
  due: QueryCheck;
  admin: AdminCheck;
  rows: number;
}

/**
 * Two copies of scenario (a) side by side — one on an empty log, one on a
 * log holding `scaleRows` finished transactions — measured in turns
 * (empty, filled, empty, filled …), so that other load on the machine hits
 * both alike; the paired ratios filled/empty are the figure to read.
 */
export async function runScale(ctx: ScaleContext): Promise<void> {
  const { options, probe, log } = ctx;
  log(
    `\nscale check: scenario (a) at concurrency ${CONCURRENCY} on an empty log and on a log with ${options.scaleRows.toLocaleString('en')} finished transactions, ` +
      `${REPEATS} × ${options.stepMs / 1000} s each, in turns`,
  );
  const env = { DTX_ADMIN_TOKENS: `bench:viewer:${ADMIN_TOKEN}` };
  const systems: BenchSystem[] = [];
  const clients: DtxClient[] = [];
  try {
    const side = async (label: string) => {
      const system = await ctx.launch('a', env, label);
      systems.push(system);
      const client = new DtxClient({ apiToken: benchApiToken(SECRET), coordinatorUrl: system.coordinator!.url, initiatorKey: benchKeys(SECRET).initiatorKey });
      clients.push(client);
      const work = dtxTransfer(client, { bankA: system.banks!.a, bankB: system.banks!.b, accounts: ctx.accounts, random: Math.random });
      const sctx: ScenarioContext = { work, probe, redis: ctx.redis, coordinatorLog: system.coordinator!.log, processes: ctx.watched(system), log };
      return { label, system, work, sctx, db: system.coordinator!.database, url: system.coordinator!.url };
    };
    const empty = await side('a_empty');
    const filled = await side('a_filled');

    log(`  filling the log of the second system with ${options.scaleRows.toLocaleString('en')} finished transactions …`);
    const fill = await fillFinishedTransactions(probe, filled.db, options.scaleRows, Date.now(), (done) => {
      if (done % 200_000 === 0) log(`    ${done.toLocaleString('en')}`);
    });
    await probe.connection.query('ANALYZE TABLE ??.dtx_global, ??.dtx_branch, ??.dtx_event', [filled.db, filled.db, filled.db]);
    log(`  filled in ${fill.seconds.toFixed(0)} s (${fill.branches.toLocaleString('en')} branches, ${fill.events.toLocaleString('en')} events)`);

    for (const s of [empty, filled]) await measureStep(s.sctx, 'warmup', () => closedLoop(s.work, 16, options.warmupMs), { concurrency: 16, rate: null });
    const steps = new Map<string, StepResult[]>([
      [empty.label, []],
      [filled.label, []],
    ]);
    for (let i = 0; i < REPEATS; i++) {
      for (const s of [empty, filled]) {
        const step = await measureStep(s.sctx, 'closed', () => closedLoop(s.work, CONCURRENCY, options.stepMs), { concurrency: CONCURRENCY, rate: null });
        log(
          `  ${s.label === empty.label ? 'empty log ' : 'filled log'} run ${i + 1}: ${step.tps.toFixed(0)} tx/s, p50 ${step.latencyMs.p50.toFixed(1)} ms, p99 ${step.latencyMs.p99.toFixed(1)} ms, ` +
            `row reads/tx ${(rowReads(step.mysql) / step.terminal).toFixed(1)}, coordinator CPU ${(((step.cpuSeconds['coordinator'] ?? 0) * 1000) / step.terminal).toFixed(2)} ms/tx` +
            `${step.errors ? `, ${step.errors} errors` : ''}${step.foreignCores > 0.1 ? ` [machine not idle: ${step.foreignCores.toFixed(2)} cores used by other processes]` : ''}`,
        );
        steps.get(s.label)!.push(step);
      }
    }

    const summarise = async (s: typeof empty): Promise<SideMeasure> => {
      const own = steps.get(s.label)!;
      const perTx = (f: (x: StepResult) => number) => median(own.map((x) => f(x) / x.terminal));
      return {
        steps: own,
        tps: median(own.map((x) => x.tps)),
        bestTps: Math.max(...own.map((x) => x.tps)),
        p99Ms: median(own.map((x) => x.latencyMs.p99)),
        rowsReadPerTx: perTx((x) => rowReads(x.mysql)),
        statementsPerTx: perTx((x) => x.mysql.Questions),
        coordinatorCpuMsPerTx: perTx((x) => (x.cpuSeconds['coordinator'] ?? 0) * 1000),
        mysqldCpuMsPerTx: perTx((x) => (x.cpuSeconds['mariadbd'] ?? 0) * 1000),
        foreignCores: Math.max(...own.map((x) => x.foreignCores)),
        due: await checkDueQuery(probe, s.db),
        admin: await checkAdminList(s.url),
        rows: await globalRows(probe, s.db),
      };
    };
    const before = await summarise(empty);
    const after = await summarise(filled);
    // Paired ratios: run i of the filled log against run i of the empty one, measured back to back.
    const paired = steps.get(filled.label)!.map((x, i) => x.tps / steps.get(empty.label)![i]!.tps);
    const change = median(paired) - 1;
    const noisy = Math.max(before.foreignCores, after.foreignCores) > 0.1;

    log(
      `\nthroughput at concurrency ${CONCURRENCY}, ${before.rows.toLocaleString('en')} vs ${after.rows.toLocaleString('en')} rows in dtx_global:\n` +
        `  median ${before.tps.toFixed(0)} vs ${after.tps.toFixed(0)} tx/s; best ${before.bestTps.toFixed(0)} vs ${after.bestTps.toFixed(0)} tx/s; ` +
        `paired ratios filled/empty ${paired.map((r) => r.toFixed(2)).join(', ')} → median change ${(change * 100).toFixed(1)}%` +
        ` — target |change| < 10%: ${Math.abs(change) < 0.1 ? 'met' : 'NOT met'}${noisy ? ' (machine not idle: time-based figures are noisy; the work figures below are not)' : ''}\n` +
        `  work per transaction: server row reads (Handler_read_*) ${before.rowsReadPerTx.toFixed(1)} vs ${after.rowsReadPerTx.toFixed(1)}, ` +
        `SQL statements ${before.statementsPerTx.toFixed(1)} vs ${after.statementsPerTx.toFixed(1)}, ` +
        `coordinator CPU ${before.coordinatorCpuMsPerTx.toFixed(2)} vs ${after.coordinatorCpuMsPerTx.toFixed(2)} ms, ` +
        `mysqld CPU ${before.mysqldCpuMsPerTx.toFixed(2)} vs ${after.mysqldCpuMsPerTx.toFixed(2)} ms`,
    );
    for (const [label, m] of [
      ['empty log', before],
      ['filled log', after],
    ] as const) {
      log(
        `\ndue query, ${label} (${m.rows.toLocaleString('en')} rows in dtx_global): ${m.due.rowsReturned} rows returned, median ${m.due.medianMs.toFixed(2)} ms, handler reads ${JSON.stringify(m.due.handlerReads)}`,
      );
      log(`  EXPLAIN:\n${formatPlan(m.due.explain)}`);
      if (m.due.analyze) log(`  ANALYZE:\n${formatPlan(m.due.analyze)}`);
      log(
        `  admin list: ${m.admin.note}${m.admin.available ? ` ${JSON.stringify(Object.fromEntries(Object.entries(m.admin.medianMs).map(([k, v]) => [k, Math.round(v * 100) / 100])))}` : ''}`,
      );
    }

    if (ctx.resultsFile) {
      const existing = existsSync(ctx.resultsFile) ? (JSON.parse(await readFile(ctx.resultsFile, 'utf8')) as Record<string, unknown>) : {};
      const strip = (m: SideMeasure) => ({ ...m, steps: m.steps.map((x) => ({ tps: x.tps, latencyMs: x.latencyMs, foreignCores: x.foreignCores })) });
      existing['scale'] = {
        measured_at: new Date().toISOString(),
        concurrency: CONCURRENCY,
        rows_empty: before.rows,
        rows_filled: after.rows,
        tps_empty: Math.round(before.tps * 10) / 10,
        tps_filled: Math.round(after.tps * 10) / 10,
        paired_ratios: paired.map((r) => Math.round(r * 1000) / 1000),
        tps_change: Math.round(change * 1000) / 1000,
        row_reads_per_tx_empty: before.rowsReadPerTx,
        row_reads_per_tx_filled: after.rowsReadPerTx,
        statements_per_tx_empty: before.statementsPerTx,
        statements_per_tx_filled: after.statementsPerTx,
        foreign_cores_max: Math.max(before.foreignCores, after.foreignCores),
        fill,
        empty: strip(before),
        filled: strip(after),
      };
      await writeFile(ctx.resultsFile, `${JSON.stringify(existing, null, 2)}\n`);
      log(`\nscale results added to ${ctx.resultsFile} (key "scale")`);
    }
  } finally {
    for (const client of clients) await client.close();
    for (const system of systems) {
      await system.stop();
      await probe.dropDatabases(system.databases);
    }
  }
}

async function globalRows(probe: MysqlProbe, db: string): Promise<number> {
  const [rows] = await probe.connection.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM ??.dtx_global', [db]);
  return Number(rows[0]?.['n'] ?? 0);
}
