/**
 * The admin side of the transaction log on PostgreSQL. Listing pages by
 * keyset on (created_at, gid) as a row comparison, which an index on
 * (…, created_at, gid) answers as a range: page 10,000 costs what page 1
 * does. The counts read partial indexes of the open, flagged or paused rows,
 * never the finished ones the log accumulates.
 */
import { listRowLocks } from './row-locks.ts';
import type { RowLockHolder } from '../ports/transaction-store.ts';
import type { GlobalPatch, OperatorChange } from '../../domain/operator-decisions.ts';
import {
  type GlobalStatus,
  type GlobalTransaction,
  type Mode,
  type NewEvent,
  type OpenStatus,
  type TerminalStatus,
  type TransactionSnapshot,
} from '../../domain/transaction.ts';
import type { AdminStore, AuditEntry, AuditRecord, ListCursor, ListFilter, ListRequest, OpenCounts, Stats, StatusCount } from '../ports/admin-store.ts';
import { eventJson } from './hot-path-statements.ts';
import { Params } from './params.ts';
import type { PostgresWriter } from './postgres-writer.ts';
import { toTransaction, type GlobalRow } from './rows.ts';
import type { SqlSession } from './sql-database.ts';
import { TABLES } from './tables.ts';
import { storable, TEXT_LIMITS } from './text.ts';
import { operatorChangeEvents, snapshotAfterChange } from '../ports/contract-rules.ts';

const HOUR = 3_600_000;
/** The open statuses, as dtx_global_open's predicate names them (the planner matches the index by it). */
const OPEN_LIST = `('open', 'committing', 'rolling-back')`;

/** The operator's view of the PostgreSQL log: the {@link AdminStore} port. */
export class PostgresAdminStore implements AdminStore {
  constructor(private readonly writer: PostgresWriter) {}

  private get db() {
    return this.writer.db;
  }

  async list(request: ListRequest): Promise<{ items: GlobalTransaction[]; next: ListCursor | null }> {
    const p = new Params();
    const conditions = filterConditions(p, request.filter);
    const direction = request.order === 'newest' ? 'DESC' : 'ASC';
    if (request.after) {
      const past = request.order === 'newest' ? '<' : '>';
      conditions.push(`(g.created_at, g.gid) ${past} (${p.add(request.after.createdAt, 'bigint')}, ${p.add(request.after.gid, 'text')})`);
    }
    const { rows } = await this.db.query<GlobalRow>(
      `SELECT g.* FROM ${TABLES.global} g ${where(conditions)} ORDER BY g.created_at ${direction}, g.gid ${direction} LIMIT ${p.add(request.limit + 1, 'integer')}`,
      p.values,
    );
    const items = rows.slice(0, request.limit).map(toTransaction);
    const last = items[items.length - 1];
    return { items, next: rows.length > request.limit && last ? { createdAt: last.createdAt, gid: last.gid } : null };
  }

  async stats(now: number): Promise<Stats> {
    const since = now - HOUR;
    const [open, finished, counts] = await Promise.all([
      this.openByStatus(),
      this.byModeAndStatus<TerminalStatus>(
        `SELECT mode, status, count(*) AS n FROM ${TABLES.global} WHERE finished_at >= $1::bigint AND status IN ('committed', 'rolled-back') GROUP BY mode, status`,
        [since],
      ),
      // One round trip: each count reads a partial index (flagged, paused, due rows) or a range of the
      // last hour; the oldest open transaction is one index probe per open status.
      this.db.query<{
        attention: string | number;
        paused: string | number;
        backlog: string | number;
        flagged: string | number;
        oldest: string | number | null;
      }>(
        `SELECT
          (SELECT count(*) FROM ${TABLES.global} WHERE needs_attention) AS attention,
          (SELECT count(*) FROM ${TABLES.global} WHERE paused) AS paused,
          (SELECT count(*) FROM ${TABLES.global} WHERE next_retry_at <= $1::bigint) AS backlog,
          (SELECT count(DISTINCT gid) FROM ${TABLES.event} WHERE kind = 'attention' AND at >= $2::bigint) AS flagged,
          (SELECT min(first.created_at) FROM unnest(ARRAY['open', 'committing', 'rolling-back']) AS s(status),
             LATERAL (SELECT created_at FROM ${TABLES.global} WHERE status = s.status ORDER BY created_at LIMIT 1) AS first) AS oldest`,
        [now, since],
      ),
    ]);
    const row = counts.rows[0]!;
    return {
      open,
      finishedLastHour: finished,
      needsAttention: Number(row.attention),
      paused: Number(row.paused),
      oldestOpenCreatedAt: row.oldest === null ? null : Number(row.oldest),
      retryBacklog: Number(row.backlog),
      flaggedLastHour: Number(row.flagged),
    };
  }

  async openCounts(): Promise<OpenCounts> {
    const [open, flagged] = await Promise.all([
      this.openByStatus(),
      this.db.query<{ n: string | number }>(`SELECT count(*) AS n FROM ${TABLES.global} WHERE needs_attention`),
    ]);
    return { open, needsAttention: Number(flagged.rows[0]?.n ?? 0) };
  }

  /** dtx_global_open holds the open rows only: an index-only count however large the log. */
  private openByStatus(): Promise<StatusCount<OpenStatus>[]> {
    return this.byModeAndStatus<OpenStatus>(`SELECT mode, status, count(*) AS n FROM ${TABLES.global} WHERE status IN ${OPEN_LIST} GROUP BY mode, status`, []);
  }

  private async byModeAndStatus<S extends GlobalStatus>(sql: string, values: unknown[]): Promise<StatusCount<S>[]> {
    const { rows } = await this.db.query<{ mode: string; status: string; n: string | number }>(sql, values);
    return rows.map((row) => ({ mode: row.mode as Mode, status: row.status as S, count: Number(row.n) }));
  }

  async applyOperatorChange(input: { before: TransactionSnapshot; change: OperatorChange; audit: AuditEntry }): Promise<TransactionSnapshot | 'stale' | null> {
    const { before, change, audit } = input;
    const txn = before.transaction;
    const now = audit.at;
    try {
      return await this.writer.transaction(async (session) => {
        // The compare-and-set: the row as the decision saw it. A phase-two round that recorded
        // meanwhile changed it (its updated_at at least), so the change is decided again.
        const p = new Params();
        const set = patchAssignments(p, change.set);
        set.push(`updated_at = ${p.add(now, 'bigint')}`);
        const changed = await session.query(
          `UPDATE ${TABLES.global} SET ${set.join(', ')}
            WHERE gid = ${p.add(txn.gid, 'text')} AND status = ${p.add(txn.status, 'text')} AND paused = ${p.add(txn.paused, 'boolean')}
              AND retry_count = ${p.add(txn.retryCount, 'integer')} AND updated_at = ${p.add(txn.updatedAt, 'bigint')}
              AND lease_owner IS NOT DISTINCT FROM ${p.add(txn.leaseOwner, 'text')}`,
          p.values,
        );
        if (changed.rowCount === 0) {
          const exists = await session.query(`SELECT 1 FROM ${TABLES.global} WHERE gid = $1::text`, [txn.gid]);
          return exists.rowCount > 0 ? 'stale' : null;
        }
        const lastError = storable(`resolved by hand by ${audit.actor}: ${audit.reason}`, TEXT_LIMITS.message);
        for (const branch of change.branches) {
          const resolved = await session.query(
            `UPDATE ${TABLES.branch} SET status = $1::text, last_error = $2::text, updated_at = $3::bigint WHERE gid = $4::text AND branch_id = $5::text AND status = 'pending'`,
            [branch.status, lastError, now, txn.gid, branch.branchId],
          );
          // Resolved meanwhile (a round confirmed it): roll the whole change back.
          if (resolved.rowCount === 0) throw new StaleChange();
        }
        const events = operatorChangeEvents(before, change, audit, now);
        await insertEvents(session, txn.gid, events);
        const record = auditStatement({ ...audit, detail: audit.detail ?? change.summary });
        await session.query(record.sql, record.values);
        return snapshotAfterChange(before, change, now);
      });
    } catch (error) {
      if (error instanceof StaleChange) return 'stale';
      throw error;
    }
  }

  async findRetryable(filter: ListFilter, limit: number): Promise<string[]> {
    const p = new Params();
    const conditions = [...filterConditions(p, filter), `g.status IN ('committing', 'rolling-back')`, 'NOT g.paused'];
    const { rows } = await this.db.query<{ gid: string }>(
      `SELECT g.gid FROM ${TABLES.global} g ${where(conditions)} ORDER BY g.created_at, g.gid LIMIT ${p.add(limit, 'integer')}`,
      p.values,
    );
    return rows.map((row) => row.gid);
  }

  rowLocks(request: { gid?: string; resource?: string; table?: string; limit: number }): Promise<RowLockHolder[]> {
    return listRowLocks(this.db, request);
  }

  async recordAudit(entry: AuditEntry): Promise<void> {
    const { sql, values } = auditStatement(entry);
    await this.writer.statement(sql, values);
  }

  async auditLog(request: { gid?: string; limit: number; beforeId?: number }): Promise<AuditRecord[]> {
    const p = new Params();
    const conditions: string[] = [];
    if (request.gid) conditions.push(`gid = ${p.add(request.gid, 'text')}`);
    if (request.beforeId) conditions.push(`id < ${p.add(request.beforeId, 'bigint')}`);
    const { rows } = await this.db.query<{
      id: number | string;
      at: number | string;
      actor: string;
      role: string;
      action: AuditEntry['action'];
      gid: string | null;
      branch_id: string | null;
      reason: string;
      detail: string | null;
    }>(`SELECT * FROM ${TABLES.audit} ${where(conditions)} ORDER BY id DESC LIMIT ${p.add(request.limit, 'integer')}`, p.values);
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
}

function where(conditions: readonly string[]): string {
  return conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
}

/** The list filter as conditions on `g` (the global row), each an indexed column or a partial index's predicate. */
function filterConditions(p: Params, filter: ListFilter): string[] {
  const conditions: string[] = [];
  if (filter.status) conditions.push(`g.status = ${p.add(filter.status, 'text')}`);
  if (filter.needsAttention !== undefined) conditions.push(filter.needsAttention ? 'g.needs_attention' : 'NOT g.needs_attention');
  if (filter.paused !== undefined) conditions.push(filter.paused ? 'g.paused' : 'NOT g.paused');
  if (filter.mode) conditions.push(`g.mode = ${p.add(filter.mode, 'text')}`);
  if (filter.createdAfter !== undefined) conditions.push(`g.created_at >= ${p.add(filter.createdAfter, 'bigint')}`);
  if (filter.createdBefore !== undefined) conditions.push(`g.created_at < ${p.add(filter.createdBefore, 'bigint')}`);
  // COLLATE "C": a prefix is a range of the primary key.
  if (filter.gidPrefix) conditions.push(`g.gid LIKE ${p.add(`${escapeLike(filter.gidPrefix)}%`, 'text')}`);
  if (filter.participant) {
    conditions.push(`EXISTS (SELECT 1 FROM ${TABLES.branch} b WHERE b.gid = g.gid AND b.participant = ${p.add(filter.participant, 'text')})`);
  }
  return conditions;
}

/** LIKE's wildcards (and its escape character) taken literally. */
function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

function patchAssignments(p: Params, patch: GlobalPatch): string[] {
  const set: string[] = [];
  if (patch.status !== undefined) set.push(`status = ${p.add(patch.status, 'text')}`);
  if (patch.nextRetryAt !== undefined) set.push(`next_retry_at = ${p.add(patch.nextRetryAt, 'bigint')}`);
  if (patch.paused !== undefined) set.push(`paused = ${p.add(patch.paused, 'boolean')}`);
  if (patch.finishedAt !== undefined) set.push(`finished_at = ${p.add(patch.finishedAt, 'bigint')}`);
  if (patch.needsAttention !== undefined) set.push(`needs_attention = ${p.add(patch.needsAttention, 'boolean')}`);
  if (patch.leaseOwner !== undefined) set.push(`lease_owner = ${p.add(patch.leaseOwner, 'text')}`);
  if (patch.leaseUntil !== undefined) set.push(`lease_until = ${p.add(patch.leaseUntil, 'bigint')}`);
  return set;
}

/** Events of one transaction, in the order given (their ids follow it). */
async function insertEvents(session: SqlSession, gid: string, events: NewEvent[]): Promise<void> {
  await session.query(
    `INSERT INTO ${TABLES.event} (gid, at, kind, branch_id, op, from_status, to_status, outcome, attempt, message, actor)
      SELECT $1::text, e.at, e.kind, e.branch_id, e.op, e.from_status, e.to_status, e.outcome, e.attempt, e.message, e.actor
      FROM ROWS FROM (json_to_recordset($2::json)
        AS (at bigint, kind text, branch_id text, op text, from_status text, to_status text, outcome text, attempt integer, message text, actor text))
        WITH ORDINALITY AS e(at, kind, branch_id, op, from_status, to_status, outcome, attempt, message, actor, n)
      ORDER BY e.n`,
    [gid, JSON.stringify(events.map(eventJson))],
  );
}

function auditStatement(entry: AuditEntry): { sql: string; values: unknown[] } {
  return {
    sql: `INSERT INTO ${TABLES.audit} (at, actor, role, action, gid, branch_id, reason, detail) VALUES ($1::bigint, $2::text, $3::text, $4::text, $5::text, $6::text, $7::text, $8::text)`,
    values: [
      entry.at,
      storable(entry.actor, TEXT_LIMITS.actor),
      entry.role,
      entry.action,
      entry.gid,
      entry.branchId,
      storable(entry.reason, TEXT_LIMITS.message),
      storable(entry.detail),
    ],
  };
}

/** Thrown inside an operator change's transaction to roll it back: the state it was decided on changed. */
class StaleChange extends Error {}
