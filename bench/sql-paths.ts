/**
 * Experiment behind docs/performance.md: what the coordinator's happy-path
 * SQL costs in CPU — in the coordinator process and in mysqld — written four
 * ways, on the real schema (the coordinator's migrations):
 *
 *   knex-today      the statements the store issues today, through knex:
 *                   begin (BEGIN, 3 INSERT, COMMIT), load (2 SELECT),
 *                   decide (BEGIN, UPDATE, INSERT, COMMIT),
 *                   record (BEGIN, 2 UPDATE, INSERT, COMMIT): 16 round trips, 3 commits
 *   mysql2-prepared the same 16 statements on mysql2 directly, prepared (execute)
 *   one-trip-commit each commit sent as one multi-statement round trip and no
 *                   load before the decision (branches kept from the begin): 3 round trips
 *   group-commit    one-trip-commit for 8 transactions at a time: 3 round trips per 8
 *
 * Variants run in turns (several rounds) so that other load on the machine
 * hits them alike; the best round of each is reported.
 *
 *   npx tsx bench/sql-paths.ts [--seconds=4] [--rounds=3] [--socket]
 *
 * --socket connects over the server's Unix socket instead of TCP on
 * 127.0.0.1, to see how much of a round trip is the loopback TCP stack.
 */
import { performance } from 'node:perf_hooks';
import knexFactory, { type Knex } from 'knex';
import { createPool, format, type Pool, type RowDataPacket } from 'mysql2/promise';
import { migrateLatest } from '../coordinator/store/mysql/migrator.ts';
import { provisionServers } from '../tools/environment.ts';
import { MysqlProbe } from './mysql-probe.ts';
import { sampleProcess } from './proc-stats.ts';

const arg = (name: string, fallback: number) => {
  const found = process.argv.find((a) => a.startsWith(`--${name}=`));
  return found ? Number(found.slice(name.length + 3)) : fallback;
};
const SECONDS = arg('seconds', 4);
const ROUNDS = arg('rounds', 3);
const IN_FLIGHT = 16;
const GROUP = 8;
const OWNER = 'bench-instance';

let counter = 0;
interface Tx {
  gid: string;
  now: number;
}
const newTx = (): Tx => ({ gid: `sqlpath-${process.pid}-${++counter}`, now: Date.now() });

const URL_A = 'http://127.0.0.1:4001/dtx/debit';
const URL_B = 'http://127.0.0.1:4002/dtx/credit';
const PAYLOAD = '{"account":"acct-1","amount":1}';

const globalRow = (t: Tx) => ({
  gid: t.gid, mode: 'tcc', status: 'trying', reason: null, created_at: t.now, updated_at: t.now, deadline_at: t.now + 60_000,
  finished_at: null, retry_count: 0, next_retry_at: t.now + 60_000, needs_attention: 0, attention_reason: null, lease_owner: null, lease_until: null,
});
const branchRows = (t: Tx) =>
  [['01', URL_A], ['02', URL_B]].map(([id, url]) => ({
    gid: t.gid, branch_id: id, confirm_url: `${url}/confirm`, cancel_url: `${url}/cancel`, payload: PAYLOAD, status: 'prepared', attempts: 0, last_error: null, created_at: t.now, updated_at: t.now,
  }));
const event = (t: Tx, kind: string, extra: Record<string, unknown> = {}) => ({
  gid: t.gid, at: t.now, kind, branch_id: null, op: null, from_status: null, to_status: null, outcome: null, attempt: null, message: null, actor: null, ...extra,
});
const beginEvents = (t: Tx) => [
  event(t, 'begin', { to_status: 'trying', message: 'deadline' }),
  event(t, 'register', { branch_id: '01', message: `confirm ${URL_A}/confirm cancel ${URL_A}/cancel` }),
  event(t, 'register', { branch_id: '02', message: `confirm ${URL_B}/confirm cancel ${URL_B}/cancel` }),
];
const decideEvent = (t: Tx) => event(t, 'status', { from_status: 'trying', to_status: 'confirming', actor: 'initiator' });
const recordEvents = (t: Tx) => [
  event(t, 'branch-call', { branch_id: '01', op: 'confirm', outcome: 'success', attempt: 1, message: 'HTTP 200' }),
  event(t, 'branch-call', { branch_id: '02', op: 'confirm', outcome: 'success', attempt: 1, message: 'HTTP 200' }),
  event(t, 'status', { from_status: 'confirming', to_status: 'confirmed' }),
];
const decideSet = (t: Tx) => ({ status: 'confirming', reason: null, updated_at: t.now, lease_owner: OWNER, lease_until: t.now + 15_000, next_retry_at: t.now + 15_000 });
const finishSet = (t: Tx) => ({ status: 'confirmed', updated_at: t.now, finished_at: t.now, next_retry_at: null, lease_owner: null, lease_until: null, needs_attention: 0 });

/** INSERT of rows (all with the same keys) as SQL text with bindings inlined by mysql2's escaping. */
function insertSql(table: string, rows: Record<string, unknown>[]): string {
  const columns = Object.keys(rows[0]!);
  return format(`INSERT INTO ?? (??) VALUES ${rows.map(() => '(?)').join(', ')}`, [table, columns, ...rows.map((r) => columns.map((c) => r[c]))] as never[]);
}

type Path = (txs: Tx[]) => Promise<void>;

function knexToday(knex: Knex): Path {
  return async ([t]) => {
    const tx = t!;
    await knex.transaction(async (trx) => {
      await trx('dtx_global').insert(globalRow(tx));
      await trx('dtx_branch').insert(branchRows(tx));
      await trx('dtx_event').insert(beginEvents(tx));
    });
    await knex('dtx_global').where({ gid: tx.gid }).first();
    await knex('dtx_branch').where({ gid: tx.gid }).orderBy(['created_at', 'branch_id']);
    await knex.transaction(async (trx) => {
      const changed = await trx('dtx_global').where({ gid: tx.gid, status: 'trying' }).andWhere('deadline_at', '>', tx.now).update(decideSet(tx));
      if (changed !== 1) throw new Error('decide lost');
      await trx('dtx_event').insert(decideEvent(tx));
    });
    await knex.transaction(async (trx) => {
      const changed = await trx('dtx_global').where({ gid: tx.gid, status: 'confirming', lease_owner: OWNER }).update(finishSet(tx));
      if (changed !== 1) throw new Error('record lost');
      await trx('dtx_branch').where({ gid: tx.gid }).whereIn('branch_id', ['01', '02']).update({ status: 'confirmed', attempts: knex.raw('attempts + 1'), last_error: null, updated_at: tx.now });
      await trx('dtx_event').insert(recordEvents(tx));
    });
  };
}

function mysql2Prepared(pool: Pool): Path {
  const insertPrepared = (table: string, rows: Record<string, unknown>[]) => {
    const columns = Object.keys(rows[0]!);
    const placeholders = rows.map(() => `(${columns.map(() => '?').join(', ')})`).join(', ');
    return { sql: `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${placeholders}`, values: rows.flatMap((r) => columns.map((c) => r[c] as never)) };
  };
  return async ([t]) => {
    const tx = t!;
    const conn = await pool.getConnection();
    try {
      const run = async (q: { sql: string; values: never[] }) => conn.execute(q.sql, q.values);
      await conn.query('START TRANSACTION');
      await run(insertPrepared('dtx_global', [globalRow(tx)]));
      await run(insertPrepared('dtx_branch', branchRows(tx)));
      await run(insertPrepared('dtx_event', beginEvents(tx)));
      await conn.query('COMMIT');
      await conn.execute('SELECT * FROM dtx_global WHERE gid = ? LIMIT 1', [tx.gid]);
      await conn.execute('SELECT * FROM dtx_branch WHERE gid = ? ORDER BY created_at, branch_id', [tx.gid]);
      await conn.query('START TRANSACTION');
      const d = decideSet(tx);
      await conn.execute(
        "UPDATE dtx_global SET status = ?, reason = ?, updated_at = ?, lease_owner = ?, lease_until = ?, next_retry_at = ? WHERE gid = ? AND status = 'trying' AND deadline_at > ?",
        [d.status, d.reason, d.updated_at, d.lease_owner, d.lease_until, d.next_retry_at, tx.gid, tx.now],
      );
      await run(insertPrepared('dtx_event', [decideEvent(tx)]));
      await conn.query('COMMIT');
      await conn.query('START TRANSACTION');
      await conn.execute(
        "UPDATE dtx_global SET status = 'confirmed', updated_at = ?, finished_at = ?, next_retry_at = NULL, lease_owner = NULL, lease_until = NULL, needs_attention = 0 WHERE gid = ? AND status = 'confirming' AND lease_owner = ?",
        [tx.now, tx.now, tx.gid, OWNER],
      );
      await conn.execute("UPDATE dtx_branch SET status = 'confirmed', attempts = attempts + 1, last_error = NULL, updated_at = ? WHERE gid = ? AND branch_id IN ('01', '02')", [tx.now, tx.gid]);
      await run(insertPrepared('dtx_event', recordEvents(tx)));
      await conn.query('COMMIT');
    } finally {
      conn.release();
    }
  };
}

/** Each commit as one round trip; the decision needs no load (the branches are known from the begin). Works on 1 or many transactions. */
function oneTripCommits(pool: Pool): Path {
  return async (txs) => {
    const gids = txs.map((t) => t.gid);
    const now = txs[0]!.now;
    const conn = await pool.getConnection();
    try {
      await conn.query(
        [
          'START TRANSACTION',
          insertSql('dtx_global', txs.map(globalRow)),
          insertSql('dtx_branch', txs.flatMap(branchRows)),
          insertSql('dtx_event', txs.flatMap(beginEvents)),
          'COMMIT',
        ].join(';\n'),
      );
      const d = decideSet(txs[0]!);
      await conn.query(
        [
          'START TRANSACTION',
          format("UPDATE dtx_global SET status = ?, reason = NULL, updated_at = ?, lease_owner = ?, lease_until = ?, next_retry_at = ? WHERE gid IN (?) AND status = 'trying' AND deadline_at > ?", [d.status, now, OWNER, d.lease_until, d.next_retry_at, gids, now]),
          insertSql('dtx_event', txs.map(decideEvent)),
          'COMMIT',
        ].join(';\n'),
      );
      await conn.query(
        [
          'START TRANSACTION',
          format("UPDATE dtx_global SET status = 'confirmed', updated_at = ?, finished_at = ?, next_retry_at = NULL, lease_owner = NULL, lease_until = NULL, needs_attention = 0 WHERE gid IN (?) AND status = 'confirming' AND lease_owner = ?", [now, now, gids, OWNER]),
          format("UPDATE dtx_branch SET status = 'confirmed', attempts = attempts + 1, last_error = NULL, updated_at = ? WHERE gid IN (?)", [now, gids]),
          insertSql('dtx_event', txs.flatMap(recordEvents)),
          'COMMIT',
        ].join(';\n'),
      );
    } catch (error) {
      await conn.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      conn.release();
    }
  };
}

async function serverSocket(probe: MysqlProbe): Promise<string> {
  const [rows] = await probe.connection.query<RowDataPacket[]>('SELECT @@socket AS s');
  return String(rows[0]?.['s']);
}

interface Measured {
  txs: number;
  clientCpuUsPerTx: number;
  serverCpuUsPerTx: number;
  statementsPerTx: number;
  commitsPerTx: number;
  txPerSecond: number;
}

async function measure(path: Path, batch: number, workers: number, probe: MysqlProbe, mysqlPid: number): Promise<Measured> {
  const cpu0 = process.cpuUsage();
  const server0 = sampleProcess(mysqlPid)?.cpuSeconds ?? 0;
  const status0 = await probe.status();
  const t0 = performance.now();
  const end = t0 + SECONDS * 1000;
  let txs = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (performance.now() < end) {
        const now = Date.now();
        await path(Array.from({ length: batch }, () => ({ ...newTx(), now })));
        txs += batch;
      }
    }),
  );
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const server = (sampleProcess(mysqlPid)?.cpuSeconds ?? 0) - server0;
  const status1 = await probe.status();
  return {
    txs,
    clientCpuUsPerTx: (cpu.user + cpu.system) / txs,
    serverCpuUsPerTx: (server * 1e6) / txs,
    // Minus the probe's own SHOW STATUS.
    statementsPerTx: (status1.Questions - status0.Questions - 1) / txs,
    commitsPerTx: (status1.Com_commit - status0.Com_commit) / txs,
    txPerSecond: txs / wall,
  };
}

const servers = await provisionServers();
const probe = await MysqlProbe.open(servers.mysqlUrl);
const database = `bench_sqlpaths_${process.pid}`;
await probe.freshDatabases([database]);
const dbUrl = new URL(servers.mysqlUrl);
dbUrl.pathname = `/${database}`;
const socketPath = process.argv.includes('--socket') ? await serverSocket(probe) : null;
const credentials = { user: decodeURIComponent(dbUrl.username), password: decodeURIComponent(dbUrl.password), database };
const knex = knexFactory({ client: 'mysql2', connection: socketPath ? { ...credentials, socketPath } : dbUrl.toString(), pool: { min: 0, max: 20 } });
const pool = createPool(socketPath ? { ...credentials, socketPath, connectionLimit: 20, multipleStatements: true } : { uri: dbUrl.toString(), connectionLimit: 20, multipleStatements: true });
if (socketPath) process.stdout.write(`connecting over the Unix socket ${socketPath}\n`);
try {
  await migrateLatest(knex);
  const mysqlPid = (await probe.serverPid()) ?? 0;
  const variants: { name: string; path: Path; batch: number; workers: number }[] = [
    { name: 'knex-today', path: knexToday(knex), batch: 1, workers: IN_FLIGHT },
    { name: 'mysql2-prepared', path: mysql2Prepared(pool), batch: 1, workers: IN_FLIGHT },
    { name: 'one-trip-commit', path: oneTripCommits(pool), batch: 1, workers: IN_FLIGHT },
    { name: `group-commit x${GROUP}`, path: oneTripCommits(pool), batch: GROUP, workers: IN_FLIGHT / GROUP },
  ];
  const best = new Map<string, Measured>();
  for (const v of variants) await measure(v.path, v.batch, v.workers, probe, mysqlPid); // warm-up
  for (let round = 1; round <= ROUNDS; round++) {
    for (const v of variants) {
      const m = await measure(v.path, v.batch, v.workers, probe, mysqlPid);
      const prev = best.get(v.name);
      if (!prev || m.clientCpuUsPerTx + m.serverCpuUsPerTx < prev.clientCpuUsPerTx + prev.serverCpuUsPerTx) best.set(v.name, m);
      process.stdout.write(`round ${round} ${v.name}: ${m.txPerSecond.toFixed(0)} tx/s, client ${m.clientCpuUsPerTx.toFixed(0)} µs/tx, mysqld ${m.serverCpuUsPerTx.toFixed(0)} µs/tx\n`);
    }
  }
  process.stdout.write(`\nhappy-path SQL of one 2-branch transaction, ${IN_FLIGHT} in flight, best of ${ROUNDS} rounds of ${SECONDS} s:\n`);
  process.stdout.write('variant               stmts/tx  commits/tx  client CPU µs/tx  mysqld CPU µs/tx  total µs/tx    tx/s\n');
  for (const [name, m] of best) {
    process.stdout.write(
      `${name.padEnd(20)}  ${m.statementsPerTx.toFixed(2).padStart(8)}  ${m.commitsPerTx.toFixed(2).padStart(10)}  ${m.clientCpuUsPerTx.toFixed(0).padStart(16)}  ${m.serverCpuUsPerTx.toFixed(0).padStart(16)}  ${(m.clientCpuUsPerTx + m.serverCpuUsPerTx).toFixed(0).padStart(11)}  ${m.txPerSecond.toFixed(0).padStart(6)}\n`,
    );
  }
} finally {
  await knex.destroy();
  await pool.end();
  await probe.dropDatabases([database]).catch(() => undefined);
  await probe.close();
  await servers.stop();
}
