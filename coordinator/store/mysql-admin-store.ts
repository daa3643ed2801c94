/**
 * The admin side of the transaction log in MySQL. Listing uses keyset
 * paging on (created_at, gid), so a page costs the same on page 1 and page
 * 10,000, and every filter has an index (see migrations/0002).
 */
import type { Knex } from 'knex';
import type { GlobalPatch, OperatorChange } from '../domain/operator-decisions.ts';
import type { GlobalTransaction, NewEvent, TransactionSnapshot } from '../domain/transaction.ts';
import type { AdminStore, AuditEntry, AuditRecord, ListFilter, ListRequest, Stats, ListCursor } from './admin-store.ts';
import type { MysqlWriter } from './mysql-writer.ts';
import { blankEvent, clip, eventRow, toBranch, toTransaction, type BranchRow, type GlobalRow } from './rows.ts';
import { TABLES } from './tables.ts';

const HOUR = 3_600_000;

export class MysqlAdminStore implements AdminStore {
  private readonly knex: Knex;

  constructor(private readonly writer: MysqlWriter) {
    this.knex = writer.knex;
  }

  async list(request: ListRequest): Promise<{ items: GlobalTransaction[]; next: ListCursor | null }> {
    const direction = request.order === 'newest' ? 'desc' : 'asc';
    const query = this.filtered(this.knex<GlobalRow>(`${TABLES.global} as g`).select('g.*'), request.filter);
    if (request.after) {
      const { createdAt, gid } = request.after;
      const past = direction === 'desc' ? '<' : '>';
      query.andWhere((q) => q.where('g.created_at', past, createdAt).orWhere((q2) => q2.where('g.created_at', createdAt).andWhere('g.gid', past, gid)));
    }
    const rows = await query.orderBy([{ column: 'g.created_at', order: direction }, { column: 'g.gid', order: direction }]).limit(request.limit + 1);
    const items = rows.slice(0, request.limit).map(toTransaction);
    const last = items[items.length - 1];
    return { items, next: rows.length > request.limit && last ? { createdAt: last.createdAt, gid: last.gid } : null };
  }

  async stats(now: number): Promise<Stats> {
    const k = this.knex;
    const count = async (query: Knex.QueryBuilder, distinct?: string): Promise<number> => {
      const [row] = (await (distinct ? query.countDistinct({ n: distinct }) : query.count({ n: '*' }))) as { n: number | string }[];
      return Number(row?.n ?? 0);
    };
    // Each count is an index range over open rows or the last hour's events:
    // the cost does not grow with the finished rows the log accumulates.
    const [trying, confirming, cancelling, confirmed, cancelled, attention, paused, backlog, flagged] = await Promise.all([
      count(k(TABLES.global).where({ status: 'trying' })),
      count(k(TABLES.global).where({ status: 'confirming' })),
      count(k(TABLES.global).where({ status: 'cancelling' })),
      count(k(TABLES.event).where({ kind: 'status', to_status: 'confirmed' }).andWhere('at', '>=', now - HOUR)),
      count(k(TABLES.event).where({ kind: 'status', to_status: 'cancelled' }).andWhere('at', '>=', now - HOUR)),
      count(k(TABLES.global).where({ needs_attention: true })),
      count(k(TABLES.global).where({ paused: true })),
      count(k(TABLES.global).where('next_retry_at', '<=', now)),
      count(k(TABLES.event).where({ kind: 'attention' }).andWhere('at', '>=', now - HOUR), 'gid'),
    ]);
    const oldest = await Promise.all(
      (['trying', 'confirming', 'cancelling'] as const).map(async (status) => {
        const [row] = (await k(TABLES.global).where({ status }).min({ at: 'created_at' })) as { at: number | string | null }[];
        return row?.at === null || row?.at === undefined ? null : Number(row.at);
      }),
    );
    const known = oldest.filter((v): v is number => v !== null);
    return {
      open: { trying, confirming, cancelling },
      finishedLastHour: { confirmed, cancelled },
      needsAttention: attention,
      paused,
      oldestOpenCreatedAt: known.length ? Math.min(...known) : null,
      retryBacklog: backlog,
      flaggedLastHour: flagged,
    };
  }

  async changeByOperator(
    gid: string,
    audit: AuditEntry,
    decide: (snapshot: TransactionSnapshot) => OperatorChange,
  ): Promise<TransactionSnapshot | null> {
    return this.writer.write(async (trx) => {
      // FOR UPDATE: a phase-two round finishing at the same moment waits for
      // this commit, then its own guarded write sees the new state.
      const row = await trx<GlobalRow>(TABLES.global).where({ gid }).forUpdate().first();
      if (!row) return null;
      const branches = (await trx<BranchRow>(TABLES.branch).where({ gid }).orderBy(['created_at', 'branch_id'])).map(toBranch);
      const before = { transaction: toTransaction(row), branches };
      const change = decide(before);
      const now = audit.at;
      if (Object.keys(change.set).length > 0) {
        await trx(TABLES.global).where({ gid }).update({ ...patchColumns(change.set), updated_at: now });
      }
      for (const branch of change.branches) {
        await trx(TABLES.branch)
          .where({ gid, branch_id: branch.branchId })
          .update({ status: branch.status, last_error: clip(`resolved by hand by ${audit.actor}: ${audit.reason}`, 1024), updated_at: now });
      }
      const events: NewEvent[] = [
        { ...blankEvent(gid, now, 'operator'), branchId: audit.branchId, message: `${audit.action}: ${change.summary}. Reason: ${audit.reason}`, actor: audit.actor },
      ];
      if (change.set.status && change.set.status !== before.transaction.status) {
        events.push({ ...blankEvent(gid, now, 'status'), fromStatus: before.transaction.status, toStatus: change.set.status, actor: audit.actor, message: audit.reason });
      }
      await trx(TABLES.event).insert(events.map(eventRow));
      await trx(TABLES.audit).insert(auditRow({ ...audit, detail: audit.detail ?? change.summary }));
      return {
        transaction: { ...before.transaction, ...change.set, updatedAt: now },
        branches: branches.map((b) => {
          const changed = change.branches.find((c) => c.branchId === b.branchId);
          return changed ? { ...b, status: changed.status } : b;
        }),
      } as TransactionSnapshot;
    });
  }

  async findRetryable(filter: ListFilter, limit: number): Promise<string[]> {
    const query = this.filtered(this.knex(`${TABLES.global} as g`).select('g.gid'), filter)
      .whereIn('g.status', ['confirming', 'cancelling'])
      .andWhere('g.paused', false)
      .orderBy([{ column: 'g.created_at', order: 'asc' }, { column: 'g.gid', order: 'asc' }])
      .limit(limit);
    return (await query).map((row: { gid: string }) => row.gid);
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
