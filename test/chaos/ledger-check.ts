/**
 * The banks' ledgers against the coordinator's log, transaction by
 * transaction: what the coordinator says happened must be what the banks
 * applied. This names the gids behind a money or reservation violation,
 * which the totals alone cannot.
 *
 * - confirmed: every branch applied try then confirm, nothing else;
 * - cancelled: every branch applied nothing (its try never ran or failed:
 *   null compensation), or try then cancel;
 * - open: not judged (the audit reports open transactions).
 */
import type { Knex } from 'knex';
import type { Violation } from '../../examples/bank-transfer/cluster/audit.ts';
import { tccWord } from './log-words.ts';

export interface LedgerMismatch {
  gid: string;
  status: string;
  branchId: string;
  bank: string;
  applied: string;
}

export async function ledgerMismatches(coordinatorDb: Knex, bankDbs: Record<string, Knex>, gidPrefix: string): Promise<LedgerMismatch[]> {
  const statuses = new Map<string, string>();
  const branches = new Map<string, string[]>();
  const globals = (await coordinatorDb('dtx_global').where('gid', 'like', `${gidPrefix}%`).select('gid', 'status')) as { gid: string; status: string }[];
  for (const g of globals) statuses.set(g.gid, tccWord(g.status));
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
  const gids = new Set([...statuses.keys(), ...applied.keys()]);
  for (const gid of gids) {
    const status = statuses.get(gid) ?? 'unknown to the coordinator';
    if (status === 'trying' || status === 'confirming' || status === 'cancelling') continue;
    const perBranch = applied.get(gid) ?? new Map<string, { bank: string; ops: string[] }>();
    const branchIds = new Set([...(branches.get(gid) ?? []), ...perBranch.keys()]);
    for (const branchId of branchIds) {
      const entry = perBranch.get(branchId);
      const ops = entry?.ops.join(',') ?? '';
      const ok = status === 'confirmed' ? ops === 'try,confirm' : status === 'cancelled' ? ops === '' || ops === 'try,cancel' : ops === '';
      if (!ok) mismatches.push({ gid, status, branchId, bank: entry?.bank ?? '-', applied: ops || 'nothing' });
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
