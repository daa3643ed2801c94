/**
 * The admin side of the transaction log in MySQL. Listing uses keyset
 * paging on (created_at, gid), so a page costs the same on page 1 and page
 * 10,000, and every filter has an index (see migrations/0002).
 */
import { listRowLocks } from './row-locks.ts';
import type { RowLockHolder } from '../ports/transaction-store.ts';
import type { Knex } from 'knex';
import type { GlobalPatch, OperatorChange } from '../../domain/operator-decisions.ts';
import {
  clip,
  OPEN_STATUSES,
  TERMINAL_STATUSES,
  type GlobalStatus,
  type GlobalTransaction,
  type Mode,
  type OpenStatus,
  type TransactionSnapshot,
} from '../../domain/transaction.ts';
import type { AdminStore, AuditEntry, AuditRecord, ListFilter, ListRequest, OpenCounts, Stats, ListCursor, StatusCount } from '../ports/admin-store.ts';
import type { MysqlWriter } from './mysql-writer.ts';
import { eventRow, toTransaction, type GlobalRow } from './rows.ts';
import { TABLES } from './tables.ts';
import { operatorChangeEvents, snapshotAfterChange } from '../ports/contract-rules.ts';

const HOUR = 3_600_000;

/**
 * A participant with at least this many branches is "common": listing its
 * transactions walks the age index and probes each row's branches, instead
 * of collecting all of its transactions and sorting them (see list()).
 */
const COMMON_PARTICIPANT_BRANCHES = 10_000;
/** Slack for clocks of instances that registered a branch later than its transaction began. */
const CLOCK_SLACK_MS = 60_000;

export interface MysqlAdminStoreOptions {
  /** Override COMMON_PARTICIPANT_BRANCHES (tests use a small value). */
  commonParticipantBranches?: number;
}

/** The operator's view of the MySQL log: the {@link AdminStore} port. */
export class MysqlAdminStore implements AdminStore {
  private readonly knex: Knex;
  private readonly commonParticipantBranches: number;

  constructor(
    private readonly writer: MysqlWriter,
    options: MysqlAdminStoreOptions = {},
  ) {
    this.knex = writer.knex;
    this.commonParticipantBranches = options.commonParticipantBranches ?? COMMON_PARTICIPANT_BRANCHES;
  }

  /**
   * Keyset paging on (created_at, gid), each filter with its index; the
   * EXPLAIN of every variant is in docs/operations.md. The optimizer, left
   * alone, walks the wrong index on large logs (seconds per page at a million
   * rows), because the rows it skips are correlated with the order: names the
   * index (listIndex) instead. The cursor also bounds created_at alone, so it
   * is a range on that index and page 1,000 costs what page 1 does.
   *
   * A participant filter first probes how common the participant is: a rare
   * one's transactions are collected from its branch index and sorted (the
   * optimizer's semi-join); for a common one that collection is large, so the
   * age index is walked instead, from its newest branch down, with a
   * primary-key probe of each transaction's branches.
   */
  async list(request: ListRequest): Promise<{ items: GlobalTransaction[]; next: ListCursor | null }> {
    const direction = request.order === 'newest' ? 'desc' : 'asc';
    const { participant, ...rest } = request.filter;
    const common = participant ? await this.isCommonParticipant(participant) : false;
    const index = participant && !common ? null : listIndex(rest);
    const from = index ? this.knex.raw('?? as g force index (??)', [TABLES.global, index]) : `${TABLES.global} as g`;
    const query = this.filtered(this.knex<GlobalRow>(from).select('g.*'), rest);
    if (participant && common) {
      query.whereRaw('(select 1 from ?? as b where b.gid = g.gid and b.participant = ? limit 1) is not null', [TABLES.branch, participant]);
      // A transaction begins no later than its branches are registered (give or take the instances' clocks).
      if (direction === 'desc')
        query.whereRaw('g.created_at <= (select max(created_at) from ?? where participant = ?) + ?', [TABLES.branch, participant, CLOCK_SLACK_MS]);
    } else if (participant) {
      this.filtered(query, { participant });
    }
    if (request.after) {
      const { createdAt, gid } = request.after;
      const past = direction === 'desc' ? '<' : '>';
      query.andWhere('g.created_at', `${past}=`, createdAt).andWhere((q) => q.where('g.created_at', past, createdAt).orWhere('g.gid', past, gid));
    }
    const rows = await query
      .orderBy([
        { column: 'g.created_at', order: direction },
        { column: 'g.gid', order: direction },
      ])
      .limit(request.limit + 1);
    const items = rows.slice(0, request.limit).map(toTransaction);
    const last = items[items.length - 1];
    return { items, next: rows.length > request.limit && last ? { createdAt: last.createdAt, gid: last.gid } : null };
  }

  /** At least commonParticipantBranches branches: an index-only count that stops there. */
  private async isCommonParticipant(participant: string): Promise<boolean> {
    const probe = this.knex(TABLES.branch).select(this.knex.raw('1')).where({ participant }).limit(this.commonParticipantBranches);
    const [row] = (await this.knex.count({ n: '*' }).from(probe.as('p'))) as { n: number | string }[];
    return Number(row?.n ?? 0) >= this.commonParticipantBranches;
  }

  async stats(now: number): Promise<Stats> {
    const k = this.knex;
    const count = async (query: Knex.QueryBuilder, distinct?: string): Promise<number> => {
      const [row] = (await (distinct ? query.countDistinct({ n: distinct }) : query.count({ n: '*' }))) as { n: number | string }[];
      return Number(row?.n ?? 0);
    };
    // Each count is an index range over open rows or the last hour's
    // finished ones: the cost does not grow with the finished rows the log
    // accumulates (idx_global_status_mode, idx_global_finished).
    const [open, finished, attention, paused, backlog, flagged] = await Promise.all([
      this.openByStatus(),
      this.byModeAndStatus(TERMINAL_STATUSES, (q) => q.andWhere('finished_at', '>=', now - HOUR)),
      count(k(TABLES.global).where({ needs_attention: true })),
      count(k(TABLES.global).where({ paused: true })),
      count(k(TABLES.global).where('next_retry_at', '<=', now)),
      count(
        k(TABLES.event)
          .where({ kind: 'attention' })
          .andWhere('at', '>=', now - HOUR),
        'gid',
      ),
    ]);
    const oldest = await Promise.all(
      OPEN_STATUSES.map(async (status) => {
        const [row] = (await k(TABLES.global).where({ status }).min({ at: 'created_at' })) as { at: number | string | null }[];
        return row?.at === null || row?.at === undefined ? null : Number(row.at);
      }),
    );
    const known = oldest.filter((v): v is number => v !== null);
    return {
      open,
      finishedLastHour: finished,
      needsAttention: attention,
      paused,
      oldestOpenCreatedAt: known.length ? Math.min(...known) : null,
      retryBacklog: backlog,
      flaggedLastHour: flagged,
    };
  }

  async openCounts(): Promise<OpenCounts> {
    // idx_global_status_mode and idx_global_attention: both read only open
    // rows (a finished transaction has needs_attention cleared), never the
    // finished ones the log accumulates.
    const [open, [flagged]] = await Promise.all([
      this.openByStatus(),
      this.knex(TABLES.global).where({ needs_attention: true }).count({ n: '*' }) as Promise<{ n: number | string }[]>,
    ]);
    return { open, needsAttention: Number(flagged?.n ?? 0) };
  }

  private openByStatus(): Promise<StatusCount<OpenStatus>[]> {
    return this.byModeAndStatus(OPEN_STATUSES, (q) => q);
  }

  private async byModeAndStatus<S extends GlobalStatus>(
    statuses: readonly S[],
    narrow: (query: Knex.QueryBuilder) => Knex.QueryBuilder,
  ): Promise<StatusCount<S>[]> {
    const query = this.knex(TABLES.global).select('mode', 'status').count({ n: '*' }).whereIn('status', statuses).groupBy('status', 'mode');
    const rows = (await narrow(query)) as { mode: string; status: string; n: number | string }[];
    return rows.map((row) => ({ mode: row.mode as Mode, status: row.status as S, count: Number(row.n) }));
  }

  async applyOperatorChange(input: { before: TransactionSnapshot; change: OperatorChange; audit: AuditEntry }): Promise<TransactionSnapshot | 'stale' | null> {
    const { before, change, audit } = input;
    const txn = before.transaction;
    const gid = txn.gid;
    const now = audit.at;
    try {
      return await this.writer.write(async (trx) => {
        // The compare-and-set: the row as the decision saw it. A phase-two round that
        // recorded meanwhile changed it (its updated_at at least), so the change is decided again.
        const guard = trx(TABLES.global).where({ gid, status: txn.status, paused: txn.paused, retry_count: txn.retryCount, updated_at: txn.updatedAt });
        if (txn.leaseOwner === null) guard.whereNull('lease_owner');
        else guard.where('lease_owner', txn.leaseOwner);
        const changed = await guard.update({ ...patchColumns(change.set), updated_at: now });
        if (changed === 0) {
          const exists = await trx(TABLES.global).select('gid').where({ gid }).first();
          return exists ? 'stale' : null;
        }
        for (const branch of change.branches) {
          const resolved = await trx(TABLES.branch)
            .where({ gid, branch_id: branch.branchId, status: 'pending' })
            .update({ status: branch.status, last_error: clip(`resolved by hand by ${audit.actor}: ${audit.reason}`, 1024), updated_at: now });
          // Resolved meanwhile (a round confirmed it): roll the whole change back.
          if (resolved === 0) throw new StaleChange();
        }
        const events = operatorChangeEvents(before, change, audit, now);
        await trx(TABLES.event).insert(events.map(eventRow));
        await trx(TABLES.audit).insert(auditRow({ ...audit, detail: audit.detail ?? change.summary }));
        return snapshotAfterChange(before, change, now);
      });
    } catch (error) {
      if (error instanceof StaleChange) return 'stale';
      throw error;
    }
  }

  async findRetryable(filter: ListFilter, limit: number): Promise<string[]> {
    const query = this.filtered(this.knex(`${TABLES.global} as g`).select('g.gid'), filter)
      .whereIn('g.status', ['committing', 'rolling-back'] satisfies GlobalStatus[])
      .andWhere('g.paused', false)
      .orderBy([
        { column: 'g.created_at', order: 'asc' },
        { column: 'g.gid', order: 'asc' },
      ])
      .limit(limit);
    return (await query).map((row: { gid: string }) => row.gid);
  }

  rowLocks(request: { gid?: string; resource?: string; table?: string; limit: number }): Promise<RowLockHolder[]> {
    return listRowLocks(this.knex, request);
  }

  async recordAudit(entry: AuditEntry): Promise<void> {
    await this.writer.write(async (trx) => {
      await trx(TABLES.audit).insert(auditRow(entry));
    });
  }

  async auditLog(request: { gid?: string; limit: number; beforeId?: number }): Promise<AuditRecord[]> {
    const query = this.knex(TABLES.audit).select('*').orderBy('id', 'desc').limit(request.limit);
    if (request.gid) query.where({ gid: request.gid });
    if (request.beforeId) query.andWhere('id', '<', request.beforeId);
    const rows = (await query) as {
      id: number | string;
      at: number | string;
      actor: string;
      role: string;
      action: AuditEntry['action'];
      gid: string | null;
      branch_id: string | null;
      reason: string;
      detail: string | null;
    }[];
    return rows.map((r) => ({
      id: Number(r.id),
      at: Number(r.at),
      actor: r.actor,
      role: r.role,
      action: r.action,
      gid: r.gid,
      branchId: r.branch_id,
      reason: r.reason,
      detail: r.detail,
    }));
  }

  private filtered<Q extends Knex.QueryBuilder>(query: Q, filter: ListFilter): Q {
    if (filter.status) query.where('g.status', filter.status);
    if (filter.needsAttention !== undefined) query.where('g.needs_attention', filter.needsAttention);
    if (filter.paused !== undefined) query.where('g.paused', filter.paused);
    if (filter.mode) query.where('g.mode', filter.mode);
    if (filter.createdAfter !== undefined) query.where('g.created_at', '>=', filter.createdAfter);
    if (filter.createdBefore !== undefined) query.where('g.created_at', '<', filter.createdBefore);
    if (filter.gidPrefix) query.where('g.gid', 'like', `${escapeLike(filter.gidPrefix)}%`);
    if (filter.participant) {
      const participant = filter.participant;
      query.whereExists((sub) => sub.select(this.knex.raw('1')).from(`${TABLES.branch} as b`).whereRaw('b.gid = g.gid').andWhere('b.participant', participant));
    }
    return query;
  }
}

/**
 * The index a list walks: the most selective equality that leads a
 * (column, created_at) index — so rows come in page order and the cursor is a
 * range — or the primary key for a gid prefix (gids are time-ordered, UUIDv7:
 * walking by age until an old prefix shows up would read most of the log).
 */
export function listIndex(filter: Omit<ListFilter, 'participant'>): string {
  if (filter.needsAttention === true) return 'idx_global_attention';
  if (filter.paused === true) return 'idx_global_paused_age';
  // Open statuses are few rows; a finished status is most of the log, where a gid prefix narrows more.
  if (filter.status && (OPEN_STATUSES as readonly GlobalStatus[]).includes(filter.status)) return 'idx_global_status_age';
  if (filter.gidPrefix) return 'PRIMARY';
  if (filter.status) return 'idx_global_status_age';
  if (filter.mode) return 'idx_global_mode_age';
  return 'idx_global_age';
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

function patchColumns(patch: GlobalPatch): Record<string, unknown> {
  const columns: Record<string, unknown> = {};
  if (patch.status !== undefined) columns.status = patch.status;
  if (patch.nextRetryAt !== undefined) columns.next_retry_at = patch.nextRetryAt;
  if (patch.paused !== undefined) columns.paused = patch.paused;
  if (patch.finishedAt !== undefined) columns.finished_at = patch.finishedAt;
  if (patch.needsAttention !== undefined) columns.needs_attention = patch.needsAttention;
  if (patch.leaseOwner !== undefined) columns.lease_owner = patch.leaseOwner;
  if (patch.leaseUntil !== undefined) columns.lease_until = patch.leaseUntil;
  return columns;
}

function auditRow(entry: AuditEntry) {
  return {
    at: entry.at,
    actor: clip(entry.actor, 128),
    role: entry.role,
    action: entry.action,
    gid: entry.gid,
    branch_id: entry.branchId,
    reason: clip(entry.reason, 1024),
    detail: entry.detail,
  };
}

/** Thrown inside an operator change's transaction to roll it back: the state it was decided on changed. */
class StaleChange extends Error {}
