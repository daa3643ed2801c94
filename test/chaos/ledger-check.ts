/**
 * The banks' ledgers against the coordinator's log, transaction by
 * transaction: what the coordinator says happened must be what the banks
 * applied. This names the gids behind a money or reservation violation,
 * which the totals alone cannot. Each transaction is judged by its mode:
 *
 * - TCC confirmed: every branch applied try then confirm, nothing else;
 * - TCC cancelled: every branch applied nothing (its try never ran or failed:
 *   null compensation), or try then cancel;
 * - saga succeeded: every step applied its action, and no compensation;
 * - saga compensated: every step applied nothing (its action never ran, was
 *   refused or failed: null compensation), or its action then its
 *   compensation — never a compensation without its action;
 * - message delivered: the sender committed its debit once (its `sender`
 *   line, op `commit`), and every receiver applied the delivery once;
 * - message aborted: nothing anywhere — neither the sender's debit nor any
 *   delivery;
 * - XA committed: every branch's prepared work committed once; rolled back:
 *   nothing of any branch;
 * - FMT committed: every branch's executed SQL kept once (its `execute`
 *   line, an INSERT of the execute like its UPDATE); rolled back: nothing of
 *   any branch (the line went with the rows its undo record restored);
 * - open: not judged (the audit reports open transactions).
 */
import type { Knex } from 'knex';
import { MESSAGE_SENDER_BRANCH } from '@dtx/participant-sdk';
import type { Violation } from '../../examples/bank-transfer/cluster/audit.ts';
import { LOGGED, logWord } from './log-words.ts';

type Expected = { committed: readonly string[]; 'rolled-back': readonly string[] };

/** Per mode, the ledgers (ops in commit order, comma-joined) a branch may show once its transaction ended committed or rolled back. */
const EXPECTED: Record<string, Expected> = {
  tcc: { committed: ['try,confirm'], 'rolled-back': ['', 'try,cancel'] },
  saga: { committed: ['action'], 'rolled-back': ['', 'action,compensate'] },
  msg: { committed: ['deliver'], 'rolled-back': [''] },
  // An XA branch writes its line in its prepared work: there once it committed, never after a rollback.
  xa: { committed: ['prepare'], 'rolled-back': [''] },
  // An FMT branch's line is written by its execute and committed with it: kept on commit, taken out again by the rollback's restore.
  fmt: { committed: ['execute'], 'rolled-back': [''] },
};

/** A message's sender is no registered branch: its line is the debit committed with the message's sender row. */
const MESSAGE_SENDER: Expected = { committed: ['commit'], 'rolled-back': [''] };

function expectedOf(mode: string, branchId: string): Expected | undefined {
  return mode === 'msg' && branchId === MESSAGE_SENDER_BRANCH ? MESSAGE_SENDER : EXPECTED[mode];
}

export interface LedgerMismatch {
  gid: string;
  status: string;
  branchId: string;
  bank: string;
  applied: string;
}

export async function ledgerMismatches(coordinatorDb: Knex, bankDbs: Record<string, Knex>, gidPrefix: string): Promise<LedgerMismatch[]> {
  const logged = new Map<string, { mode: string; status: string }>();
  const branches = new Map<string, string[]>();
  const globals = (await coordinatorDb('dtx_global').where('gid', 'like', `${gidPrefix}%`).select('gid', 'mode', 'status')) as {
    gid: string;
    mode: string;
    status: string;
  }[];
  for (const g of globals) logged.set(g.gid, { mode: g.mode, status: g.status });
  const registered = (await coordinatorDb('dtx_branch').where('gid', 'like', `${gidPrefix}%`).select('gid', 'branch_id')) as {
    gid: string;
    branch_id: string;
  }[];
  for (const b of registered) branches.set(b.gid, [...(branches.get(b.gid) ?? []), b.branch_id]);

  // gid → branch → ops applied, over both banks (a branch lives in exactly one).
  const applied = new Map<string, Map<string, { bank: string; ops: string[] }>>();
  for (const [bank, db] of Object.entries(bankDbs)) {
    const rows = (await db('ledger').where('gid', 'like', `${gidPrefix}%`).select('gid', 'branch_id', 'op').orderBy('id')) as {
      gid: string;
      branch_id: string;
      op: string;
    }[];
    for (const row of rows) {
      const perBranch = applied.get(row.gid) ?? new Map<string, { bank: string; ops: string[] }>();
      const entry = perBranch.get(row.branch_id) ?? { bank, ops: [] };
      entry.ops.push(row.op);
      perBranch.set(row.branch_id, entry);
      applied.set(row.gid, perBranch);
    }
  }

  const mismatches: LedgerMismatch[] = [];
  const gids = new Set([...logged.keys(), ...applied.keys()]);
  for (const gid of gids) {
    const log = logged.get(gid);
    if (log && !LOGGED.terminal.includes(log.status as (typeof LOGGED.terminal)[number])) continue;
    const status = log ? logWord(log.mode, log.status) : 'unknown to the coordinator';
    const perBranch = applied.get(gid) ?? new Map<string, { bank: string; ops: string[] }>();
    // A message's sender is judged too: a delivered message whose debit is missing is money created.
    const sender = log?.mode === 'msg' ? [MESSAGE_SENDER_BRANCH] : [];
    const branchIds = new Set([...(branches.get(gid) ?? []), ...sender, ...perBranch.keys()]);
    for (const branchId of branchIds) {
      // Unknown to the coordinator (or a status no mode here ends in): no branch may have applied anything.
      const allowed = (log && expectedOf(log.mode, branchId)?.[log.status as 'committed' | 'rolled-back']) ?? [''];
      const entry = perBranch.get(branchId);
      const ops = entry?.ops.join(',') ?? '';
      if (!allowed.includes(ops)) mismatches.push({ gid, status, branchId, bank: entry?.bank ?? '-', applied: ops || 'nothing' });
    }
  }
  return mismatches;
}

export function mismatchViolations(mismatches: LedgerMismatch[]): Violation[] {
  return mismatches.map((m) => ({
    invariant: 'the banks applied what the coordinator logged',
    detail: `${m.status} transaction, branch ${m.branchId} (bank ${m.bank}) applied: ${m.applied}`,
    gids: [m.gid],
  }));
}
