/**
 * What the fuzz compares before and after a refused request: cheap marks of
 * the whole transaction log and barrier (row counts, highest ids of the
 * append-only tables) plus the full rows of every transaction the request
 * names. Exact while nothing else writes, which settle() makes sure of.
 */
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import { TABLES } from '../../coordinator/store/mysql/tables.ts';
import { DEFAULT_BARRIER_TABLE } from '../../participant-sdk/barrier/input.ts';

export type Marks = Record<string, string | number>;

async function scalar(query: Knex.QueryBuilder | Knex.Raw): Promise<number> {
  const result: unknown = await query;
  const row = (Array.isArray(result) ? (Array.isArray(result[0]) ? result[0][0] : result[0]) : result) as Record<string, unknown> | undefined;
  const value = row ? Object.values(row)[0] : null;
  return value === null || value === undefined ? 0 : Number(value);
}

const digest = (rows: unknown) => createHash('sha256').update(JSON.stringify(rows)).digest('hex').slice(0, 16);

export async function takeMarks(logDb: Knex, participantDb: Knex, gids: readonly string[]): Promise<Marks> {
  const [global, branch, eventMax, auditMax, barrierCount, barrierMax, effectsMax] = await Promise.all([
    scalar(logDb(TABLES.global).count({ n: '*' })),
    scalar(logDb(TABLES.branch).count({ n: '*' })),
    scalar(logDb(TABLES.event).max({ n: 'id' })),
    scalar(logDb(TABLES.audit).max({ n: 'id' })),
    scalar(participantDb(DEFAULT_BARRIER_TABLE).count({ n: '*' })),
    scalar(participantDb(DEFAULT_BARRIER_TABLE).max({ n: 'id' })),
    scalar(participantDb('effects').max({ n: 'id' })),
  ]);
  const marks: Marks = { global, branch, eventMax, auditMax, barrierCount, barrierMax, effectsMax };
  if (gids.length > 0) {
    const [globals, branches] = await Promise.all([
      logDb(TABLES.global).whereIn('gid', gids).orderBy('gid'),
      logDb(TABLES.branch).whereIn('gid', gids).orderBy(['gid', 'branch_id']),
    ]);
    marks.rows = digest([globals, branches]);
  }
  return marks;
}

/** Names of the marks that differ, with both values. */
export function diffMarks(before: Marks, after: Marks): string[] {
  return Object.keys({ ...before, ...after })
    .filter((key) => before[key] !== after[key])
    .map((key) => `${key}: ${before[key]} → ${after[key]}`);
}

/**
 * Transactions something is still working on (statuses as the log stores
 * them, the model's names): a phase two that is running
 * or due (unless paused with no round in flight), a try phase whose deadline
 * comes within `marginMs` (the coordinator will abort it), or a held lease.
 */
export async function busyTransactions(logDb: Knex, now: number, marginMs: number): Promise<{ gid: string; status: string }[]> {
  return logDb(TABLES.global)
    .select('gid', 'status')
    .where((q) =>
      q
        .where((w) => w.whereIn('status', ['committing', 'rolling-back']).andWhere((p) => p.where('paused', false).orWhereNotNull('lease_owner')))
        .orWhere((w) => w.where('status', 'open').andWhere((p) => p.where('deadline_at', '<=', now + marginMs).orWhereNotNull('lease_owner'))),
    )
    .limit(20);
}

/** Whether any transaction's deadline falls in [from, to] (its abort by the coordinator may write meanwhile). */
export async function deadlineBetween(logDb: Knex, from: number, to: number): Promise<boolean> {
  const row: unknown = await logDb(TABLES.global).select('gid').whereBetween('deadline_at', [from, to]).first();
  return row !== undefined;
}
