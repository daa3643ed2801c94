/**
 * Reads the banks' and the coordinator's databases and checks the
 * invariants of a finished run: money conserved, no negative
 * account (TCC), nothing left reserved, every transaction terminal, no branch both
 * confirmed and cancelled, every op applied at most once, and (FMT) no undo
 * record left in a bank once nothing is open, no global row lock held.
 *
 * Each database is named by its URL (database-url.ts): on a MySQL/MariaDB or
 * PostgreSQL server, read at any time; or embedded (`embedded:<folder>`),
 * opened here, so only once the process that owns that folder has exited.
 */
import type { Knex } from 'knex';
import { ALL_RULES, TERMINAL_STATUSES, type GlobalStatus } from '@dtx/coordinator';
import { DEFAULT_FMT_UNDO_TABLE } from '@dtx/participant-sdk';
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
  /** What FMT transactions left behind. */
  fmt: FmtLeftovers;
}

/**
 * FMT's leftovers: undo records in the banks' databases (a committed branch's
 * go in batches shortly after its commit, a rolled-back one's with its
 * restore) and global row locks the coordinators' log holds (a lock is held
 * while its transaction is open or rolling back). Neither may outlive its
 * transaction.
 */
export interface FmtLeftovers {
  undoRecords: number;
  /** Per bank, the gids of the undo records left (20 at most each). */
  undoGids: { bank: string; gids: string[] }[];
  heldRowLocks: number;
  /** The gids holding them (20 at most). */
  lockGids: string[];
}

/** The statuses in which a transaction holds its global row locks (the coordinator's ROW_LOCK_HOLDING_STATUSES). */
const ROW_LOCK_HOLDING: readonly GlobalStatus[] = ['open', 'rolling-back'];
/** The coordinators' table of global row locks (FMT). */
const ROW_LOCK_TABLE = 'dtx_row_lock';

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

/** A bank's FMT undo records: how many, and of which gids (a database the bank never migrated has none). */
export async function fmtUndoRecords(knex: Knex): Promise<{ count: number; gids: string[] }> {
  if (!(await knex.schema.hasTable(DEFAULT_FMT_UNDO_TABLE))) return { count: 0, gids: [] };
  const [row] = await knex(DEFAULT_FMT_UNDO_TABLE).count({ n: '*' });
  const count = Number(row?.n ?? 0);
  const gids = count === 0 ? [] : (await knex(DEFAULT_FMT_UNDO_TABLE).distinct('gid').orderBy('gid').limit(20).pluck('gid')).map(String);
  return { count, gids };
}

/** The global row locks the log holds now: lock rows of transactions open or rolling back (a log from before FMT has none). */
export async function heldRowLocks(knex: Knex): Promise<{ count: number; gids: string[] }> {
  if (!(await knex.schema.hasTable(ROW_LOCK_TABLE))) return { count: 0, gids: [] };
  const held = () => knex({ l: ROW_LOCK_TABLE }).join({ g: 'dtx_global' }, 'g.gid', 'l.gid').whereIn('g.status', ROW_LOCK_HOLDING);
  const [row] = await held().count({ n: '*' });
  const count = Number(row?.n ?? 0);
  const gids = count === 0 ? [] : (await held().distinct('l.gid').orderBy('l.gid').limit(20).pluck('l.gid')).map(String);
  return { count, gids };
}

async function auditBank(
  url: string,
  bank: string,
): Promise<Pick<Audit, 'duplicateEffects' | 'confirmedAndCancelled'> & { totals: BankTotals; undo: { count: number; gids: string[] } }> {
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
      undo: await fmtUndoRecords(knex),
    };
  });
}

export async function auditCoordinator(url: string): Promise<Pick<Audit, 'transactions' | 'openGids'> & { locks: { count: number; gids: string[] } }> {
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
    return { transactions, openGids: open.map(String), locks: await heldRowLocks(knex) };
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
  const fmt: FmtLeftovers = { undoRecords: 0, undoGids: [], heldRowLocks: coordinator.locks.count, lockGids: coordinator.locks.gids };
  for (const result of bankResults) {
    banks[result.bank] = result.totals;
    duplicateEffects.push(...result.duplicateEffects);
    confirmedAndCancelled.push(...result.confirmedAndCancelled);
    fmt.undoRecords += result.undo.count;
    if (result.undo.count > 0) fmt.undoGids.push({ bank: result.bank, gids: result.undo.gids });
  }
  const totalMoney = Object.values(banks).reduce((sum, b) => sum + b.balance + b.frozen, 0);
  const { transactions, openGids } = coordinator;
  return { banks, totalMoney, duplicateEffects, confirmedAndCancelled, transactions, openGids, fmt };
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
  // A transaction still open may keep its undo records (and, open or rolling back, its row locks): reported above.
  if (result.openGids.length === 0) {
    for (const { bank, gids } of result.fmt.undoGids) {
      found.push({
        invariant: 'no FMT undo record left',
        detail: `bank ${bank}: undo records of ${gids.length}${gids.length === 20 ? '+' : ''} transaction(s)`,
        gids,
      });
    }
  }
  if (result.fmt.heldRowLocks > 0) {
    found.push({ invariant: 'no FMT row lock held', detail: `${result.fmt.heldRowLocks} global row lock(s) held`, gids: result.fmt.lockGids });
  }
  return found;
}
