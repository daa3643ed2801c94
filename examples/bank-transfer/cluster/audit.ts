/**
 * Reads the banks' and the coordinator's databases and checks the
 * invariants of a finished run: money conserved, no negative
 * account (TCC), nothing left reserved, every transaction terminal, no branch both
 * confirmed and cancelled, every op applied at most once.
 *
 * Each database is named by its URL (database-url.ts): on a MySQL/MariaDB or
 * PostgreSQL server, read at any time; or embedded (`embedded:<folder>`),
 * opened here, so only once the process that owns that folder has exited.
 */
import type { Knex } from 'knex';
import { ALL_RULES, TERMINAL_STATUSES, type GlobalStatus } from '@dtx/coordinator';
import { openDatabase } from '../shared/database-url.ts';
import type { BankName } from './cluster.ts';
import type { TransferMode } from './transfer-load.ts';

export interface BankTotals {
  balance: number;
  frozen: number;
  incoming: number;
  negativeAccounts: string[];
}

export interface Audit {
  banks: Record<string, BankTotals>;
  /** Sum of balance + frozen over every bank (incoming is not yet anyone's money). */
  totalMoney: number;
  transactions: Record<string, number>;
  openGids: string[];
  /** (gid, branch, op) applied more than once. */
  duplicateEffects: { bank: string; gid: string; branchId: string; op: string; times: number }[];
  /** Branches with both a confirm and a cancel applied. */
  confirmedAndCancelled: { bank: string; gid: string; branchId: string }[];
}

export interface Violation {
  invariant: string;
  detail: string;
  gids: string[];
}

async function withDb<T>(url: string, work: (knex: Knex) => Promise<T>): Promise<T> {
  const database = await openDatabase(url, { poolMax: 2 });
  try {
    return await work(database.knex);
  } finally {
    await database.close();
  }
}

async function auditBank(url: string, bank: string): Promise<Pick<Audit, 'duplicateEffects' | 'confirmedAndCancelled'> & { totals: BankTotals }> {
  return withDb(url, async (knex) => {
    const [sums] = await knex('accounts').sum({ balance: 'balance', frozen: 'frozen', incoming: 'incoming' });
    const negative = await knex('accounts').where('balance', '<', 0).orWhere('frozen', '<', 0).orWhere('incoming', '<', 0).pluck('id');
    const duplicates = (await knex('ledger')
      .select('gid', 'branch_id', 'op')
      .count({ times: '*' })
      .groupBy('gid', 'branch_id', 'op')
      .having(knex.raw('count(*) > 1'))) as unknown as { gid: string; branch_id: string; op: string; times: number }[];
    const both = await knex('ledger')
      .select('gid', 'branch_id')
      .whereIn('op', ['confirm', 'cancel'])
      .groupBy('gid', 'branch_id')
      .having(knex.raw('count(distinct op) > 1'));
    return {
      totals: {
        balance: Number(sums?.balance ?? 0),
        frozen: Number(sums?.frozen ?? 0),
        incoming: Number(sums?.incoming ?? 0),
        negativeAccounts: negative.map(String),
      },
      duplicateEffects: duplicates.map((d) => ({ bank, gid: String(d.gid), branchId: String(d.branch_id), op: String(d.op), times: Number(d.times) })),
      confirmedAndCancelled: both.map((b) => ({ bank, gid: String(b.gid), branchId: String(b.branch_id) })),
    };
  });
}

export async function auditCoordinator(url: string): Promise<Pick<Audit, 'transactions' | 'openGids'>> {
  return withDb(url, async (knex) => {
    const counts = (await knex('dtx_global').select('mode', 'status').count({ n: '*' }).groupBy('mode', 'status')) as unknown as {
      mode: string;
      status: string;
      n: number;
    }[];
    const open = await knex('dtx_global').whereNotIn('status', TERMINAL_STATUSES).orderBy('created_at').limit(1000).pluck('gid');
    // The log keeps the model's status names; each transaction is counted in its mode's words (TCC's confirmed, a saga's succeeded).
    const transactions: Record<string, number> = {};
    for (const c of counts) {
      const word = ALL_RULES.find((rules) => rules.mode === c.mode)?.words.status[c.status as GlobalStatus] ?? String(c.status);
      transactions[word] = (transactions[word] ?? 0) + Number(c.n);
    }
    return { transactions, openGids: open.map(String) };
  });
}

/**
 * The whole audit: every bank's database and the log.
 *
 * Precondition: the process owning an embedded database (`embedded:<folder>`) has exited.
 */
export async function audit(coordinatorDbUrl: string, bankDbUrls: Record<BankName, string>): Promise<Audit> {
  const banks: Record<string, BankTotals> = {};
  const duplicateEffects: Audit['duplicateEffects'] = [];
  const confirmedAndCancelled: Audit['confirmedAndCancelled'] = [];
  // Side by side: opening an embedded database takes a second or two of CPU.
  const [coordinator, ...bankResults] = await Promise.all([
    auditCoordinator(coordinatorDbUrl),
    ...Object.entries(bankDbUrls).map(async ([bank, url]) => ({ bank, ...(await auditBank(url, bank)) })),
  ]);
  for (const result of bankResults) {
    banks[result.bank] = result.totals;
    duplicateEffects.push(...result.duplicateEffects);
    confirmedAndCancelled.push(...result.confirmedAndCancelled);
  }
  const totalMoney = Object.values(banks).reduce((sum, b) => sum + b.balance + b.frozen, 0);
  return { banks, totalMoney, duplicateEffects, confirmedAndCancelled, ...coordinator };
}

/**
 * The invariants, checked once every transaction should be terminal. With
 * saga transfers an account may end below zero: a credit compensated after
 * the credited money was spent (nothing is reserved, and a compensation
 * never refuses); money is still conserved.
 */
export function violations(result: Audit, expectedMoney: number, mode: TransferMode = 'tcc'): Violation[] {
  const found: Violation[] = [];
  if (result.totalMoney !== expectedMoney) {
    found.push({ invariant: 'money conserved', detail: `expected ${expectedMoney}, found ${result.totalMoney}`, gids: [] });
  }
  for (const [bank, totals] of Object.entries(result.banks)) {
    if (mode === 'tcc' && totals.negativeAccounts.length > 0) {
      found.push({ invariant: 'no negative account', detail: `bank ${bank}: ${totals.negativeAccounts.join(', ')}`, gids: [] });
    }
    if (result.openGids.length === 0 && (totals.frozen !== 0 || totals.incoming !== 0)) {
      found.push({ invariant: 'nothing left reserved', detail: `bank ${bank}: frozen ${totals.frozen}, incoming ${totals.incoming}`, gids: [] });
    }
  }
  if (result.openGids.length > 0) {
    found.push({ invariant: 'every transaction terminal', detail: `${result.openGids.length} still open`, gids: result.openGids.slice(0, 20) });
  }
  for (const d of result.duplicateEffects) {
    found.push({ invariant: 'each op applied at most once', detail: `bank ${d.bank} ${d.op} of branch ${d.branchId} applied ${d.times} times`, gids: [d.gid] });
  }
  for (const b of result.confirmedAndCancelled) {
    found.push({ invariant: 'no branch both confirmed and cancelled', detail: `bank ${b.bank} branch ${b.branchId}`, gids: [b.gid] });
  }
  return found;
}
