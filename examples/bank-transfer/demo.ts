/**
 * `npm run demo`: the bank-transfer system end to end. Provisions private
 * MariaDB and Redis (like the tests; PostgreSQL too when a part is on it,
 * nothing when every part is embedded), starts coordinator(s), two banks and
 * the transfer service(s) as processes, runs random transfers with a
 * progress bar, waits until every transaction is finished (asking the
 * coordinator's admin API), stops the processes, reads their databases and
 * prints a summary with the money before and after. Each transfer is one TCC
 * transaction; with `--mode saga` a saga of two steps (debit, credit); with
 * `--mode msg` a debit committed by the payer's bank with a transactional
 * message that credits the payee's bank; with `--mode xa` one XA
 * transaction of both banks' databases; with `--mode fmt` one FMT
 * transaction: plain SQL committed at once in each bank, undone from its
 * undo records (row images) if the transaction rolls back.
 *
 * Where the databases are: `--log` for the coordinator's transaction log,
 * `--bank-db` for each bank's own database, each `mysql` (MariaDB, the
 * default), `postgres` (a private PostgreSQL server too) or `embedded`
 * (PostgreSQL inside the part's own process, PGlite, in a folder under the
 * run's temp folder, removed at the end like a private server's data). An
 * embedded log takes one coordinator and retries phase two in its process
 * (DTX_SCHEDULER=in-process: no Redis). `--embedded` is both embedded: no
 * server is provisioned at all, nothing is installed. XA transfers need the
 * banks on MariaDB; FMT transfers run on every store.
 *
 *   npm run demo -- --transfers 500 --concurrency 16 --error-rate 0.05 --coordinators 2
 *   npm run demo -- --mode saga
 *   npm run demo -- --mode msg
 *   npm run demo -- --mode xa
 *   npm run demo -- --mode fmt --bank-db postgres
 *   npm run demo -- --bank-db postgres --log postgres
 *   npm run demo -- --log embedded
 *   npm run demo -- --embedded --mode saga
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineCli, exitWithUsageError, parseCliOrExit } from '../../scripts/cli-options.ts';
import { provisionServers } from '../../tools/environment.ts';
import { pickFreePort } from '../../tools/free-port.ts';
import { waitFor } from '../../tools/wait.ts';
import { audit, violations } from './cluster/audit.ts';
import { clusterCredentials, startCluster, type Cluster, type DatabaseHome, type SchedulerSetting } from './cluster/cluster.ts';
import { moneyAtBanks, openTransactions } from './cluster/live-view.ts';
import { seededRandom } from './cluster/random.ts';
import { noResults, runTransfers, type TransferMode, type TransferResult } from './cluster/transfer-load.ts';

/** Where a part's database can be: on MariaDB, on PostgreSQL, or embedded in the part's process. */
const STORES = ['mysql', 'postgres', 'embedded'] as const;
type Store = (typeof STORES)[number];
/** What each store is called in the demo's lines. */
const STORE_NAMES: Record<Store, string> = { mysql: 'MariaDB', postgres: 'PostgreSQL', embedded: 'embedded PostgreSQL' };

const cli = defineCli({
  command: 'npm run demo --',
  notes: [
    'Without --log, --bank-db and --embedded, everything is on MariaDB and phase two is retried through BullMQ on Redis.',
    'An embedded log (--log embedded, --embedded) takes one coordinator and retries in its process: no Redis.',
  ],
  options: {
    mode: {
      type: 'string',
      default: 'tcc',
      choices: ['tcc', 'saga', 'msg', 'xa', 'fmt'],
      description:
        'how each transfer runs: one TCC transaction, a saga (debit, then credit), a message (the payer bank debits, a message credits), one XA transaction of both banks, or one FMT transaction (plain SQL, undone from row images)',
    },
    transfers: { type: 'integer', default: 200, min: 1, max: 1_000_000, description: 'random transfers to run' },
    concurrency: { type: 'integer', default: 8, min: 1, max: 512, description: 'transfers in flight at once' },
    coordinators: { type: 'integer', default: 1, min: 1, max: 8, description: 'coordinator processes' },
    'error-rate': { type: 'number', default: 0, min: 0, max: 0.9, valueName: '0..1', description: 'share of bank calls answered with an injected error' },
    accounts: { type: 'integer', default: 5, min: 2, max: 10_000, description: 'accounts per bank' },
    balance: { type: 'number', default: 1000, min: 1, max: 1e12, description: 'initial balance of each account' },
    'max-amount': { type: 'number', default: 600, min: 1, max: 1e12, description: 'largest amount of one transfer' },
    seed: { type: 'integer', default: () => Date.now() % 1_000_000, min: 0, max: 2 ** 31, description: 'seed of the random transfers (reproducible runs)' },
    log: {
      type: 'string',
      choices: STORES,
      valueName: 'STORE',
      description: "where the coordinator's log is: MariaDB (when not given), PostgreSQL, or embedded PostgreSQL in the coordinator's process",
    },
    'bank-db': {
      type: 'string',
      choices: STORES,
      valueName: 'STORE',
      description: "where each bank's database is: MariaDB (when not given), PostgreSQL, or embedded PostgreSQL in the bank's process; --mode xa needs mysql",
    },
    embedded: {
      type: 'boolean',
      description: 'nothing to install: the log and both banks embedded, no MariaDB, PostgreSQL or Redis (--log embedded --bank-db embedded)',
    },
  },
});
const args = parseCliOrExit(cli);
// One of the option's choices: parseCliOrExit refused anything else.
const mode = args.mode as TransferMode;
const transfers = args.transfers;
const concurrency = args.concurrency;
const coordinatorCount = args.coordinators;
const errorRate = args['error-rate'];
const seed = args.seed;
const stores = chooseStores();

/** The stores the options name, or a usage error (exit 2) for a combination that cannot run. */
function chooseStores(): { log: Store; banks: Store } {
  // Choices of the options: parseCliOrExit refused anything else.
  const given = { log: args.log as Store | undefined, banks: args['bank-db'] as Store | undefined };
  if (args.embedded && (given.log ?? 'embedded') !== 'embedded')
    exitWithUsageError(cli, `--embedded puts the log in embedded PostgreSQL: it cannot go with --log ${given.log}`);
  if (args.embedded && (given.banks ?? 'embedded') !== 'embedded')
    exitWithUsageError(cli, `--embedded puts the banks in embedded PostgreSQL: it cannot go with --bank-db ${given.banks}`);
  const chosen = args.embedded ? { log: 'embedded' as const, banks: 'embedded' as const } : { log: given.log ?? 'mysql', banks: given.banks ?? 'mysql' };
  if (mode === 'xa' && chosen.banks !== 'mysql') {
    exitWithUsageError(
      cli,
      `--mode xa needs the banks on MariaDB (--bank-db mysql): XA transactions use MySQL's XA statements, which ${STORE_NAMES[chosen.banks]} does not have`,
    );
  }
  if (chosen.log === 'embedded' && coordinatorCount > 1) {
    exitWithUsageError(
      cli,
      `--coordinators ${coordinatorCount} needs the log on a server (--log mysql or postgres): an embedded log has one user, its coordinator's process`,
    );
  }
  return chosen;
}

/** The root of the demo cluster's keys and tokens (clusterCredentials). */
const DEMO_SECRET = 'demo-secret';

const out = process.stdout;
const say = (line: string) => out.write(`${line}\n`);
let servers: Awaited<ReturnType<typeof provisionServers>> | null = null;
let cluster: Cluster | null = null;
/** The embedded databases' folders, once the run has some: removed at the end, as the private servers' data is. */
let embeddedData: string | null = null;
let cleaning: Promise<void> | null = null;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await cluster?.stop();
    await servers?.stop();
    if (embeddedData) await rm(embeddedData, { recursive: true, force: true });
  })();
  return cleaning;
}
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  process.on(signal, () => {
    say('\ninterrupted: stopping every process…');
    void cleanup().finally(() => process.exit(code));
  });
}

/** What each mode's transfers are called in the demo's lines. */
const MODE_NAMES: Record<TransferMode, { title: string; transfers: string }> = {
  tcc: { title: 'TCC', transfers: 'transfers' },
  saga: { title: 'sagas', transfers: 'saga transfers' },
  msg: { title: 'transactional messages', transfers: 'message transfers' },
  xa: { title: 'XA', transfers: 'XA transfers' },
  fmt: { title: 'FMT', transfers: 'FMT transfers' },
};

/**
 * The answers as the progress bar counts them, in the mode's words. A saga's
 * answer does not say why it was compensated (a debit refused for
 * insufficient funds, or the deadline), so a saga has no insufficient count.
 * A message transfer is sent once its debit committed; its credit follows.
 */
function counted(results: Record<TransferResult, number>): [string, number][] {
  if (mode === 'msg') {
    return [
      ['delivered', results.confirmed],
      ['sent', results.pending],
      ['insufficient', results['insufficient-funds']],
      ['failed', results.failed + results.refused],
    ];
  }
  if (mode === 'tcc' || mode === 'xa' || mode === 'fmt') {
    return [
      [mode === 'tcc' ? 'confirmed' : 'committed', results.confirmed + results.pending],
      ['insufficient', results['insufficient-funds']],
      ['failed', results.failed + results.refused],
    ];
  }
  const counts: [string, number][] = [
    ['succeeded', results.confirmed],
    ['compensated', results.refused + results['insufficient-funds']],
    ['failed', results.failed],
  ];
  return results.undecided > 0 ? [...counts, ['running', results.undecided]] : counts;
}

function progress(done: number, total: number, results: Record<TransferResult, number>): void {
  const width = 30;
  const filled = Math.round((done / total) * width);
  const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
  const line = `  [${bar}] ${done}/${total}  ${counted(results)
    .map(([label, n]) => `${label} ${n}`)
    .join('  ')}`;
  if (out.isTTY) out.write(`\r${line}`);
  else if (done === total || done % Math.max(1, Math.floor(total / 10)) === 0) say(line);
}

try {
  say(`dtx bank-transfer demo (${MODE_NAMES[mode].title}) — seed ${seed}`);
  const logDir = await mkdtemp(join(tmpdir(), 'dtx-demo-'));
  const onServers = [stores.log, stores.banks].filter((store) => store !== 'embedded');
  if (onServers.length > 0) {
    const postgres = onServers.includes('postgres');
    say(`• provisioning private MariaDB${postgres ? ', PostgreSQL' : ''} and Redis…`);
    servers = await provisionServers({ postgres });
  }
  const provisioned = servers;
  /** Where the parts on `store` keep their databases: a server provisioned above, or folders under the run's temp folder. */
  const homeOf = (store: Store): DatabaseHome => {
    if (store === 'embedded') {
      embeddedData = join(logDir, 'data');
      return { kind: 'embedded', dir: embeddedData };
    }
    if (!provisioned) throw new Error(`no server provisioned for ${store}`);
    return store === 'postgres' ? { kind: 'postgres', serverUrl: provisioned.postgresUrl! } : { kind: 'mysql', serverUrl: provisioned.mysqlUrl };
  };
  // An embedded log is its coordinator's alone, and so are the retries: no queue to share.
  const scheduler: SchedulerSetting =
    stores.log === 'embedded' || !provisioned ? { kind: 'in-process' } : { kind: 'bullmq', redisUrl: provisioned.redisUrl, redisPrefix: `dtxdemo${seed}` };
  say(
    `• log on ${STORE_NAMES[stores.log]}, banks on ${STORE_NAMES[stores.banks]}, retries ${scheduler.kind === 'bullmq' ? 'through BullMQ on Redis' : 'in the coordinator process'}${onServers.length === 0 ? ': no server at all' : ''}`,
  );
  say(`• starting ${coordinatorCount} coordinator(s), 2 banks, transfer service(s) (logs in ${logDir})…`);
  cluster = await startCluster({
    log: homeOf(stores.log),
    banks: homeOf(stores.banks),
    scheduler,
    databasePrefix: 'dtx_demo',
    secret: DEMO_SECRET,
    coordinators: coordinatorCount,
    accountsPerBank: args.accounts,
    initialBalance: args.balance,
    bankErrorRate: errorRate,
    logDir,
    freePort: pickFreePort,
    coordinatorEnv: { DTX_RETRY_BASE_MS: '200', DTX_RETRY_MAX_MS: '2000', DTX_LOG_LEVEL: 'warn' },
  });
  // Asked of the banks: an embedded database cannot be opened here while its bank runs.
  const moneyBefore = await moneyAtBanks(cluster.bankUrls);
  say(
    `• running ${transfers} random ${MODE_NAMES[mode].transfers}, ${concurrency} at a time${errorRate > 0 ? `, ${errorRate * 100}% injected bank errors` : ''}:`,
  );
  const running = noResults();
  const load = await runTransfers({
    transferUrls: cluster.transferUrls,
    accountIds: cluster.accountIds,
    count: transfers,
    concurrency,
    maxAmount: args['max-amount'],
    mode,
    random: seededRandom(seed),
    gidPrefix: `demo-${seed}-${Date.now().toString(36)}`,
    timeoutMs: 30_000,
    onResult: (result, done) => {
      running[result]++;
      progress(done, transfers, running);
    },
  });
  if (out.isTTY) out.write('\n');
  say('• waiting for every transaction to finish…');
  const drainStarted = Date.now();
  const coordinatorUrl = cluster.coordinatorUrls[0]!;
  const viewerToken = clusterCredentials(DEMO_SECRET).toolsAdminToken;
  await waitFor(async () => (await openTransactions(coordinatorUrl, viewerToken)) === 0, {
    what: 'every transaction to be finished',
    timeoutMs: 120_000,
    intervalMs: 250,
  }).catch(() => undefined);
  const drainedMs = Date.now() - drainStarted;
  // Stopped first: nothing moves any more, and an embedded database is readable only once its process is gone.
  say('• stopping the processes and reading their databases…');
  await cluster.stop();
  const after = await audit(cluster.coordinatorDbUrl, cluster.bankDbUrls);
  const found = violations(after, moneyBefore, mode);

  say('');
  say('Summary');
  say(
    `  transfers sent            ${transfers} in ${(load.elapsedMs / 1000).toFixed(1)} s (${((transfers / load.elapsedMs) * 1000).toFixed(0)}/s), drained in ${(drainedMs / 1000).toFixed(1)} s`,
  );
  if (mode === 'tcc' || mode === 'xa' || mode === 'fmt') {
    // XA and FMT say it in the same words (the coordinator's log too: committed, rolled-back).
    const [done, doing, undone] = mode === 'tcc' ? ['confirmed', 'confirming', 'cancelled'] : ['committed', 'committing', 'rolled back'];
    say(
      `  ${`answered ${done}`.padEnd(26)}${load.results.confirmed}${load.results.pending ? ` (+${load.results.pending} ${doing}, finished by recovery)` : ''}`,
    );
    say(`  refused: insufficient     ${load.results['insufficient-funds']}`);
    // An FMT execute is refused when a row it wrote stays locked by another transfer past the banks' lock wait.
    const locked =
      mode === 'fmt' && load.results.refused > 0 ? ` (${load.results.refused} refused: mostly a row another transfer held past the lock wait)` : '';
    say(`  ${`failed (then ${undone})`.padEnd(26)}${load.results.failed + load.results.refused}${locked}`);
  } else if (mode === 'msg') {
    say(`  answered delivered        ${load.results.confirmed}`);
    say(`  answered sent             ${load.results.pending} (debit committed, the credit delivered after the answer)`);
    say(`  refused: insufficient     ${load.results['insufficient-funds']}`);
    say(`  failed (nothing sent)     ${load.results.failed + load.results.refused}`);
  } else {
    say(`  answered succeeded        ${load.results.confirmed}`);
    say(`  answered compensated      ${load.results.refused + load.results['insufficient-funds']} (a debit refused for insufficient funds, or the deadline)`);
    if (load.results.undecided > 0) say(`  answered running          ${load.results.undecided} (finished by the coordinator after the answer)`);
    say(`  failed (no answer)        ${load.results.failed}`);
  }
  say(
    `  coordinator log           ${Object.entries(after.transactions)
      .map(([s, n]) => `${s} ${n}`)
      .join(', ')}`,
  );
  say(`  still open                ${after.openGids.length}`);
  if (mode === 'fmt' || after.fmt.undoRecords > 0 || after.fmt.heldRowLocks > 0) {
    say(`  FMT undo records left     ${after.fmt.undoRecords}`);
    say(`  FMT row locks held        ${after.fmt.heldRowLocks}`);
  }
  say(`  money before              ${moneyBefore}`);
  say(`  money after               ${after.totalMoney}  ${after.totalMoney === moneyBefore ? '(conserved ✓)' : '(NOT CONSERVED ✗)'}`);
  for (const [bank, totals] of Object.entries(after.banks)) {
    say(`    bank ${bank}: balance ${totals.balance}, frozen ${totals.frozen}, incoming ${totals.incoming}`);
  }
  if (found.length > 0) {
    say('Violations:');
    for (const v of found) say(`  ✗ ${v.invariant}: ${v.detail}${v.gids.length ? ` (gids ${v.gids.join(', ')})` : ''}`);
    process.exitCode = 1;
  } else {
    say('All invariants hold ✓');
  }
} catch (error) {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
