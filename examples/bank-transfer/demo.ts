/**
 * `npm run demo`: the bank-transfer system end to end. Provisions private
 * MariaDB and Redis (like the tests), starts coordinator(s), two banks and
 * the transfer service(s) as processes, runs random transfers with a
 * progress bar, waits until every transaction is finished, and prints a
 * summary with the money before and after. Each transfer is one TCC
 * transaction; with `--mode saga` a saga of two steps (debit, credit); with
 * `--mode msg` a debit committed by the payer's bank with a transactional
 * message that credits the payee's bank; with `--mode xa` one XA
 * transaction of both banks' databases.
 *
 *   npm run demo -- --transfers 500 --concurrency 16 --error-rate 0.05 --coordinators 2
 *   npm run demo -- --mode saga
 *   npm run demo -- --mode msg
 *   npm run demo -- --mode xa
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineCli, parseCliOrExit } from '../../scripts/cli-options.ts';
import { provisionServers } from '../../tools/environment.ts';
import { pickFreePort } from '../../tools/free-port.ts';
import { waitFor } from '../../tools/wait.ts';
import { audit, auditCoordinator, violations } from './cluster/audit.ts';
import { startCluster, type Cluster } from './cluster/cluster.ts';
import { seededRandom } from './cluster/random.ts';
import { noResults, runTransfers, type TransferMode, type TransferResult } from './cluster/transfer-load.ts';

const cli = defineCli({
  command: 'npm run demo --',
  options: {
    mode: {
      type: 'string',
      default: 'tcc',
      choices: ['tcc', 'saga', 'msg', 'xa'],
      description:
        'how each transfer runs: one TCC transaction, a saga (debit, then credit), a message (the payer bank debits, a message credits), or one XA transaction of both banks',
    },
    transfers: { type: 'integer', default: 200, min: 1, max: 1_000_000, description: 'random transfers to run' },
    concurrency: { type: 'integer', default: 8, min: 1, max: 512, description: 'transfers in flight at once' },
    coordinators: { type: 'integer', default: 1, min: 1, max: 8, description: 'coordinator processes' },
    'error-rate': { type: 'number', default: 0, min: 0, max: 0.9, valueName: '0..1', description: 'share of bank calls answered with an injected error' },
    accounts: { type: 'integer', default: 5, min: 2, max: 10_000, description: 'accounts per bank' },
    balance: { type: 'number', default: 1000, min: 1, max: 1e12, description: 'initial balance of each account' },
    'max-amount': { type: 'number', default: 600, min: 1, max: 1e12, description: 'largest amount of one transfer' },
    seed: { type: 'integer', default: () => Date.now() % 1_000_000, min: 0, max: 2 ** 31, description: 'seed of the random transfers (reproducible runs)' },
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

const out = process.stdout;
const say = (line: string) => out.write(`${line}\n`);
let servers: Awaited<ReturnType<typeof provisionServers>> | null = null;
let cluster: Cluster | null = null;
let cleaning: Promise<void> | null = null;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await cluster?.stop();
    await servers?.stop();
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
  if (mode === 'tcc' || mode === 'xa') {
    return [
      [mode === 'xa' ? 'committed' : 'confirmed', results.confirmed + results.pending],
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
  say('• provisioning private MariaDB and Redis…');
  servers = await provisionServers();
  const logDir = await mkdtemp(join(tmpdir(), 'dtx-demo-'));
  say(`• starting ${coordinatorCount} coordinator(s), 2 banks, transfer service(s) (logs in ${logDir})…`);
  cluster = await startCluster({
    mysqlUrl: servers.mysqlUrl,
    redisUrl: servers.redisUrl,
    redisPrefix: `dtxdemo${seed}`,
    databasePrefix: 'dtx_demo',
    secret: 'demo-secret',
    coordinators: coordinatorCount,
    accountsPerBank: args.accounts,
    initialBalance: args.balance,
    bankErrorRate: errorRate,
    logDir,
    freePort: pickFreePort,
    coordinatorEnv: { DTX_RETRY_BASE_MS: '200', DTX_RETRY_MAX_MS: '2000', DTX_LOG_LEVEL: 'warn' },
  });
  const before = await audit(cluster.coordinatorDbUrl, cluster.bankDbUrls);
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
  const coordinatorDb = cluster.coordinatorDbUrl;
  await waitFor(async () => (await auditCoordinator(coordinatorDb)).openGids.length === 0, {
    what: 'every transaction to be finished',
    timeoutMs: 120_000,
    intervalMs: 250,
  }).catch(() => undefined);
  const after = await audit(cluster.coordinatorDbUrl, cluster.bankDbUrls);
  const found = violations(after, before.totalMoney, mode);

  say('');
  say('Summary');
  say(
    `  transfers sent            ${transfers} in ${(load.elapsedMs / 1000).toFixed(1)} s (${((transfers / load.elapsedMs) * 1000).toFixed(0)}/s), drained in ${((Date.now() - drainStarted) / 1000).toFixed(1)} s`,
  );
  if (mode === 'tcc' || mode === 'xa') {
    const [done, doing, undone] = mode === 'xa' ? ['committed', 'committing', 'rolled back'] : ['confirmed', 'confirming', 'cancelled'];
    say(
      `  ${`answered ${done}`.padEnd(26)}${load.results.confirmed}${load.results.pending ? ` (+${load.results.pending} ${doing}, finished by recovery)` : ''}`,
    );
    say(`  refused: insufficient     ${load.results['insufficient-funds']}`);
    say(`  ${`failed (then ${undone})`.padEnd(26)}${load.results.failed + load.results.refused}`);
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
  say(`  money before              ${before.totalMoney}`);
  say(`  money after               ${after.totalMoney}  ${after.totalMoney === before.totalMoney ? '(conserved ✓)' : '(NOT CONSERVED ✗)'}`);
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
