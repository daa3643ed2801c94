/**
 * Small helpers for the crash-recovery and multi-coordinator suites: a direct
 * reader of the coordinator's transaction log (to look at a transaction while
 * no coordinator is running), and the per-branch effect counts of a test
 * participant.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import knexFactory, { type Knex } from 'knex';

/** A gid unique to this call, `<label>-<hex>`. */
export function uniqueGid(label: string): string {
  return `${label}-${randomBytes(5).toString('hex')}`;
}

export interface GlobalLogRow {
  gid: string;
  status: string;
  retryCount: number;
  nextRetryAt: number | null;
  leaseOwner: string | null;
  leaseUntil: number | null;
  needsAttention: boolean;
}

/** Reads `dtx_global` / `dtx_branch` directly (statuses as stored: the model's names, `committed`, …): works while no coordinator is up. */
export interface CoordinatorLogReader {
  knex: Knex;
  row(gid: string): Promise<GlobalLogRow | null>;
  /** Every transaction's status, by gid. */
  statuses(): Promise<Map<string, string>>;
  branchStatuses(gid: string): Promise<Record<string, string>>;
  close(): Promise<void>;
}

export function openCoordinatorLog(databaseUrl: string): CoordinatorLogReader {
  const knex = knexFactory({ client: 'mysql2', connection: databaseUrl, pool: { min: 0, max: 4 } });
  const nullableNumber = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));
  return {
    knex,
    row: async (gid) => {
      const row = (await knex('dtx_global').where({ gid }).first()) as Record<string, unknown> | undefined;
      if (!row) return null;
      return {
        gid: String(row.gid),
        status: String(row.status),
        retryCount: Number(row.retry_count),
        nextRetryAt: nullableNumber(row.next_retry_at),
        leaseOwner: (row.lease_owner as string | null) ?? null,
        leaseUntil: nullableNumber(row.lease_until),
        needsAttention: Boolean(row.needs_attention),
      };
    },
    statuses: async () => {
      const rows = (await knex('dtx_global').select('gid', 'status')) as { gid: string; status: string }[];
      return new Map(rows.map((r) => [r.gid, r.status]));
    },
    branchStatuses: async (gid) => {
      const rows = (await knex('dtx_branch').where({ gid }).select('branch_id', 'status')) as { branch_id: string; status: string }[];
      return Object.fromEntries(rows.map((r) => [r.branch_id, r.status]));
    },
    close: () => knex.destroy(),
  };
}

/** `gid → branch id → op → applied count`, from a test participant's `effects` table. */
export type EffectCounts = Map<string, Map<string, Record<'try' | 'confirm' | 'cancel', number>>>;

export async function effectCounts(knex: Knex, gids?: readonly string[]): Promise<EffectCounts> {
  const query = knex('effects').select('gid', 'branch_id', 'op').count({ n: '*' }).groupBy('gid', 'branch_id', 'op');
  if (gids) query.whereIn('gid', [...gids]);
  const rows = (await query) as { gid: string; branch_id: string; op: 'try' | 'confirm' | 'cancel'; n: number | string }[];
  const counts: EffectCounts = new Map();
  for (const row of rows) {
    let branches = counts.get(row.gid);
    if (!branches) counts.set(row.gid, (branches = new Map()));
    let ops = branches.get(row.branch_id);
    if (!ops) branches.set(row.branch_id, (ops = { try: 0, confirm: 0, cancel: 0 }));
    ops[row.op] = Number(row.n);
  }
  return counts;
}

/** One pino JSON line of a child coordinator's log, as far as these tests read it. */
export interface CoordinatorLogLine {
  msg?: string;
  gid?: string;
  instance?: string;
  [key: string]: unknown;
}

/** Parses a child coordinator's pino log file (lines that are not JSON are skipped). */
export async function readCoordinatorLog(file: string): Promise<CoordinatorLogLine[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const lines: CoordinatorLogLine[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      lines.push(JSON.parse(line) as CoordinatorLogLine);
    } catch {
      // a line cut by SIGKILL
    }
  }
  return lines;
}
