/**
 * A gid's story for a violation report: the coordinator's record and event
 * history (from its API, or from MySQL if no coordinator answers) and what
 * each bank's ledger applied for it.
 */
import { clusterCredentials } from '../../examples/bank-transfer/cluster/cluster.ts';
import type { ChaosWorld } from './world.ts';
import { logWord } from './log-words.ts';

export interface GidHistory {
  gid: string;
  status: string | null;
  lines: string[];
}

interface EventView {
  at: string | number;
  kind: string;
  branchId: string | null;
  op: string | null;
  fromStatus: string | null;
  toStatus: string | null;
  outcome: string | null;
  attempt: number | null;
  message: string | null;
  actor?: string | null;
}

function eventLine(e: EventView): string {
  const at = typeof e.at === 'number' ? new Date(e.at).toISOString() : e.at;
  const parts = [at.slice(11, 23), e.kind.padEnd(11)];
  if (e.fromStatus || e.toStatus) parts.push(`${e.fromStatus ?? ''}→${e.toStatus ?? ''}`);
  if (e.branchId) parts.push(`branch ${e.branchId}`);
  if (e.op) parts.push(e.op);
  if (e.outcome) parts.push(`${e.outcome}${e.attempt ? ` (attempt ${e.attempt})` : ''}`);
  if (e.actor) parts.push(`by ${e.actor}`);
  if (e.message) parts.push(`— ${e.message.slice(0, 160)}`);
  return parts.join(' ');
}

async function fromApi(world: ChaosWorld, gid: string): Promise<{ status: string; events: EventView[] } | null> {
  const base = await world.coordinatorUrl();
  if (!base) return null;
  try {
    const response = await fetch(`${base}/v1/transactions/${encodeURIComponent(gid)}`, {
      headers: { authorization: `Bearer ${clusterCredentials(world.secret).toolsToken}` },
      signal: AbortSignal.timeout(5_000),
    });
    if (!response.ok) return null;
    const view = (await response.json()) as { transaction: { status: string }; events: EventView[] };
    return { status: view.transaction.status, events: view.events };
  } catch {
    return null;
  }
}

/** When the coordinator is down: the event rows alone (the happy path's lines live on the rows and are left out). */
async function fromDb(world: ChaosWorld, gid: string): Promise<{ status: string | null; events: EventView[] }> {
  const global = (await world.coordinatorDb('dtx_global').where({ gid }).first('mode', 'status')) as { mode: string; status: string } | undefined;
  // In the words of the transaction's mode, as the API would name them.
  const word = (status: string) => logWord(global?.mode ?? 'tcc', status);
  const rows = (await world.coordinatorDb('dtx_event').where({ gid }).orderBy('id')) as Record<string, unknown>[];
  const events = rows.map((r) => ({
    at: Number(r['at']),
    kind: String(r['kind']),
    branchId: (r['branch_id'] as string | null) ?? null,
    op: (r['op'] as string | null) ?? null,
    fromStatus: r['from_status'] ? word(r['from_status'] as string) : null,
    toStatus: r['to_status'] ? word(r['to_status'] as string) : null,
    outcome: (r['outcome'] as string | null) ?? null,
    attempt: (r['attempt'] as number | null) ?? null,
    message: (r['message'] as string | null) ?? null,
  }));
  return { status: global ? word(global.status) : null, events };
}

export async function gidHistory(world: ChaosWorld, gid: string): Promise<GidHistory> {
  const lines: string[] = [];
  let status: string | null = null;
  try {
    const record = (await fromApi(world, gid)) ?? (await fromDb(world, gid));
    status = record.status;
    lines.push(...record.events.map(eventLine));
  } catch (error) {
    lines.push(`(coordinator history unavailable: ${error instanceof Error ? error.message : String(error)})`);
  }
  for (const [bank, db] of Object.entries(world.bankDbs)) {
    try {
      const rows = (await db('ledger').where({ gid }).orderBy('id').select('branch_id', 'op', 'account', 'amount', 'at')) as {
        branch_id: string;
        op: string;
        account: string;
        amount: number;
        at: number;
      }[];
      for (const r of rows) {
        lines.push(`${new Date(Number(r.at)).toISOString().slice(11, 23)} bank-${bank} ledger: branch ${r.branch_id} ${r.op} ${r.account} ${r.amount}`);
      }
    } catch {
      lines.push(`(bank-${bank} ledger unavailable)`);
    }
  }
  // Both sources start each line with the time of day: merged, they read in order.
  return { gid, status, lines: lines.sort() };
}
