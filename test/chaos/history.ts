/**
 * A gid's story for a violation report: the coordinator's record and event
 * history (from its API, or from MySQL if no coordinator answers), what
 * each bank's ledger applied for it, and what FMT left of it: each bank's
 * undo records, and the global row locks the log has of it (held or not).
 */
import type { Knex } from 'knex';
import { DEFAULT_FMT_UNDO_TABLE } from '@dtx/participant-sdk';
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
    lines.push(...(await undoLines(db, bank, gid)));
  }
  lines.push(...(await rowLockLines(world, gid)));
  // Every source starts each line with the time of day: merged, they read in order.
  return { gid, status, lines: lines.sort() };
}

const clock = (at: number) => new Date(at).toISOString().slice(11, 23);

/** The gid's FMT undo records at `bank`, one line each (none where the bank has no undo table). */
async function undoLines(db: Knex, bank: string, gid: string): Promise<string[]> {
  try {
    if (!(await db.schema.hasTable(DEFAULT_FMT_UNDO_TABLE))) return [];
    const rows = (await db(DEFAULT_FMT_UNDO_TABLE).where({ gid }).orderBy(['branch_id', 'seq']).select('branch_id', 'seq', 'table_name', 'created_at')) as {
      branch_id: string;
      seq: number;
      table_name: string;
      created_at: number;
    }[];
    return rows.map((r) => `${clock(Number(r.created_at))} bank-${bank} FMT undo record left: branch ${r.branch_id} #${r.seq} ${r.table_name}`);
  } catch {
    return [`(bank-${bank} FMT undo records unavailable)`];
  }
}

/** The gid's global row locks in the log (a lock row stays after its transaction, free, until another takes it over). */
async function rowLockLines(world: ChaosWorld, gid: string): Promise<string[]> {
  try {
    if (!(await world.coordinatorDb.schema.hasTable('dtx_row_lock'))) return [];
    const rows = (await world
      .coordinatorDb('dtx_row_lock')
      .where({ gid })
      .orderBy('locked_at')
      .select('branch_id', 'resource', 'table_name', 'pk', 'locked_at')) as {
      branch_id: string;
      resource: string;
      table_name: string;
      pk: string;
      locked_at: number;
    }[];
    return rows.map((r) => `${clock(Number(r.locked_at))} row lock   branch ${r.branch_id} ${r.resource} ${r.table_name} ${r.pk}`);
  } catch {
    return ['(row locks unavailable)'];
  }
}
