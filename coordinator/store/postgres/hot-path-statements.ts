/**
 * The SQL of the PostgreSQL log's hot path that only writes: a begin, a
 * round's record and a raised flag are each one statement — a CTE chain
 * whose compare-and-set comes first and whose other writes join its
 * RETURNING, so a lost race writes nothing — sent as one round trip and
 * committed as its own transaction. (A decision and a claim read after they
 * wait for a lock: they are functions, migrations/0002-hot-path-functions.ts.)
 *
 * Lists (a begin's branches, a round's calls and events) go as one json
 * parameter each, so a statement's text depends only on what kind of write
 * it is, never on how many rows it writes.
 */
import { blankEvent, OUTCOME_OF, participantOfBranch, type NewEvent } from '../../domain/transaction.ts';
import type { BeginInput, RoundRecord } from '../ports/transaction-store.ts';
import { Params } from './params.ts';
import { TABLES } from './tables.ts';
import { storable, TEXT_LIMITS } from './text.ts';
import { roundEvents } from '../ports/contract-rules.ts';

export interface Statement {
  sql: string;
  values: unknown[];
}

/** Result: one row `{ written }`, 1 if the compare-and-set (or the begin's insert) took, else 0. */
const WRITTEN = 'SELECT count(*)::int AS written FROM g';

/**
 * A begin: the transaction row, ON CONFLICT (gid) DO NOTHING (a re-send: the
 * gid compares byte for byte, COLLATE "C"), and its branches only if the row
 * was inserted. A branch id given twice is a unique violation, which throws.
 */
export function beginStatement(input: BeginInput): Statement {
  const p = new Params();
  const { decision } = input;
  const now = p.add(input.now, 'bigint');
  const caller = p.add(input.caller ?? null, 'text');
  const branches = input.branches.map(branchJson);
  // Decided at once (a saga): phase two is leased to the caller's instance, and due when that lease ends.
  // Open: due at the deadline, when the timeout sweep (or a message's check-back) must look at it.
  const sql = `WITH g AS (
      INSERT INTO ${TABLES.global} (gid, mode, status, reason, caller, joinable_by, created_at, updated_at, deadline_at,
        decided_at, decided_by, retry_count, next_retry_at, lease_owner, lease_until, check_url, not_before)
      VALUES (${p.add(input.gid, 'text')}, ${p.add(input.mode, 'text')}, ${p.add(decision?.to ?? 'open', 'text')},
        ${p.add(storable(decision?.reason ?? null, TEXT_LIMITS.reason), 'text')}, ${caller},
        ${p.add(input.joinableBy && input.joinableBy.length > 0 ? JSON.stringify(input.joinableBy) : null, 'jsonb')},
        ${now}, ${now}, ${p.add(input.deadlineAt, 'bigint')},
        ${p.add(decision ? input.now : null, 'bigint')}, ${p.add(storable(decision?.actor ?? null, TEXT_LIMITS.actor), 'text')}, 0,
        ${p.add(decision ? decision.leaseUntil : input.deadlineAt, 'bigint')},
        ${p.add(decision?.owner ?? null, 'text')}, ${p.add(decision?.leaseUntil ?? null, 'bigint')},
        ${p.add(input.checkUrl ?? null, 'text')}, ${p.add(input.notBefore ?? null, 'bigint')})
      ON CONFLICT (gid) DO NOTHING
      RETURNING gid
    ), b AS (
      INSERT INTO ${TABLES.branch} (gid, branch_id, seq, operations, participant, payload, op_payloads, depends_on, max_attempts, call_timeout_ms,
        status, attempts, created_at, updated_at, registered_by)
      SELECT g.gid, r.branch_id, r.seq, r.operations, r.participant, r.payload, r.op_payloads, r.depends_on, r.max_attempts, r.call_timeout_ms,
        'pending', 0, ${now}, ${now}, ${caller}
      FROM g, json_to_recordset(${p.add(JSON.stringify(branches), 'json')}) AS r(branch_id text, seq smallint, operations json, participant text,
        payload text, op_payloads jsonb, depends_on jsonb, max_attempts integer, call_timeout_ms integer)
    )
    ${WRITTEN}`;
  return { sql, values: p.values };
}

/** Branches registered into an existing transaction (registerBranches, after its guard held under the row lock). */
export function insertBranchesStatement(gid: string, branches: BeginInput['branches'], now: number, registeredBy: string | null): Statement {
  const p = new Params();
  const rows = branches.map(branchJson);
  const at = p.add(now, 'bigint');
  const sql = `INSERT INTO ${TABLES.branch} (gid, branch_id, seq, operations, participant, payload, op_payloads, depends_on, max_attempts, call_timeout_ms,
      status, attempts, created_at, updated_at, registered_by)
    SELECT ${p.add(gid, 'text')}, r.branch_id, r.seq, r.operations, r.participant, r.payload, r.op_payloads, r.depends_on, r.max_attempts, r.call_timeout_ms,
      'pending', 0, ${at}, ${at}, ${p.add(registeredBy, 'text')}
    FROM json_to_recordset(${p.add(JSON.stringify(rows), 'json')}) AS r(branch_id text, seq smallint, operations json, participant text,
      payload text, op_payloads jsonb, depends_on jsonb, max_attempts integer, call_timeout_ms integer)`;
  return { sql, values: p.values };
}

/** The global row's compare-and-set of a round, by decision (see TransactionStore.recordRound). */
function roundUpdate(p: Params, record: RoundRecord, done: readonly string[]): string {
  const { decision } = record;
  const now = p.add(record.now, 'bigint');
  const where = `gid = ${p.add(record.gid, 'text')} AND status = ${p.add(record.from, 'text')} AND lease_owner = ${p.add(record.owner, 'text')}`;
  switch (decision.kind) {
    case 'finish':
      // The flag and its reason stay in the event history; a pause set while this last round ran has
      // nothing left to pause. The NOT EXISTS is the log's own guard: whatever snapshot the round was
      // planned from, the transaction does not end while a branch other than those this round completes
      // is still not done.
      return `UPDATE ${TABLES.global} SET status = ${p.add(decision.status, 'text')}, updated_at = ${now}, finished_at = ${now},
          next_retry_at = NULL, lease_owner = NULL, lease_until = NULL, needs_attention = false, attention_reason = NULL, paused = false
        WHERE ${where} AND NOT EXISTS (SELECT 1 FROM ${TABLES.branch} x WHERE x.gid = ${TABLES.global}.gid
          AND x.status <> ${p.add(OUTCOME_OF[record.from], 'text')} AND x.branch_id <> ALL (${p.add(done, 'text[]')}))`;
    case 'continue': {
      // Progress: the failed-rounds count starts again, and the lease is kept for the next round —
      // unless an operator paused it meanwhile (refused).
      const lease = p.add(record.leaseUntil, 'bigint');
      return `UPDATE ${TABLES.global} SET retry_count = 0, updated_at = ${now}, lease_until = ${lease}, next_retry_at = ${lease}
        WHERE ${where} AND NOT paused`;
    }
    case 'turn': {
      const lease = p.add(record.leaseUntil, 'bigint');
      return `UPDATE ${TABLES.global} SET status = ${p.add(decision.to, 'text')}, reason = ${p.add(storable(decision.reason, TEXT_LIMITS.reason), 'text')},
          retry_count = 0, updated_at = ${now}, lease_until = ${lease}, next_retry_at = ${lease}
        WHERE ${where}`;
    }
    case 'retry':
      // An operator may have paused it while the round ran: it stays paused.
      return `UPDATE ${TABLES.global} SET retry_count = ${p.add(decision.retryCount, 'integer')},
          next_retry_at = CASE WHEN paused THEN NULL ELSE ${p.add(decision.nextRetryAt, 'bigint')} END,
          needs_attention = ${p.add(decision.needsAttention, 'boolean')},
          attention_reason = COALESCE(${p.add(storable(decision.attentionReason, TEXT_LIMITS.reason), 'text')}, attention_reason),
          updated_at = ${now}, lease_owner = NULL, lease_until = NULL
        WHERE ${where}`;
  }
}

/** What a round does to one branch: a completing call, a failed (or ongoing) one, or a skip. */
interface BranchChange {
  branch_id: string;
  kind: 'success' | 'failure' | 'skip';
  op: string | null;
  attempt: number | null;
  http: number | null;
  error: string | null;
}

/**
 * A round's record: the compare-and-set, then (joined to it) every branch
 * change in one UPDATE and the round's events in one INSERT.
 *
 * @throws Error when a branch appears twice among the round's calls and skips (one UPDATE changes a row once)
 */
export function roundStatement(record: RoundRecord): Statement {
  const changes: BranchChange[] = [
    ...record.results.map((r) => ({
      branch_id: r.branchId,
      kind: r.outcome === 'success' ? ('success' as const) : ('failure' as const),
      op: r.op,
      attempt: r.attempt,
      http: r.httpStatus,
      error: r.outcome === 'success' ? null : storable(r.error, TEXT_LIMITS.message),
    })),
    ...record.skipped.map((s) => ({ branch_id: s.branchId, kind: 'skip' as const, op: null, attempt: null, http: null, error: null })),
  ];
  if (new Set(changes.map((c) => c.branch_id)).size !== changes.length) throw new Error(`a round of ${record.gid} names a branch twice`);
  const done = changes.filter((c) => c.kind !== 'failure').map((c) => c.branch_id);
  const events = roundEvents(record).map(eventJson);

  const p = new Params();
  const update = roundUpdate(p, record, done);
  const now = p.add(record.now, 'bigint');
  const doneStatus = p.add(OUTCOME_OF[record.from], 'text');
  // Each branch's completing call is kept on its row (the history reads it there); a completion
  // already recorded stays: the first one is the row's.
  const sql = `WITH g AS (${update} RETURNING gid),
    branches AS (
      UPDATE ${TABLES.branch} b SET
        status = CASE WHEN c.kind = 'failure' THEN b.status ELSE ${doneStatus} END,
        attempts = b.attempts + CASE WHEN c.kind = 'skip' THEN 0 ELSE 1 END,
        last_error = CASE c.kind WHEN 'success' THEN NULL WHEN 'failure' THEN c.error ELSE b.last_error END,
        updated_at = ${now},
        done_at = CASE WHEN c.kind = 'success' THEN COALESCE(b.done_at, ${now}) ELSE b.done_at END,
        done_op = CASE WHEN c.kind = 'success' THEN COALESCE(b.done_op, c.op) ELSE b.done_op END,
        done_attempt = CASE WHEN c.kind = 'success' THEN COALESCE(b.done_attempt, c.attempt) ELSE b.done_attempt END,
        done_http = CASE WHEN c.kind = 'success' THEN COALESCE(b.done_http, c.http) ELSE b.done_http END
      FROM g, json_to_recordset(${p.add(JSON.stringify(changes), 'json')})
        AS c(branch_id text, kind text, op text, attempt integer, http smallint, error text)
      WHERE b.gid = g.gid AND b.branch_id = c.branch_id
    ),
    events AS (${insertEventsFrom(p, events)})
    ${WRITTEN}`;
  return { sql, values: p.values };
}

/** A raised flag: the compare-and-set on the lease, and its attention event. */
export function attentionStatement(gid: string, owner: string, reason: string, now: number): Statement {
  const p = new Params();
  const event = eventJson({ ...blankEvent(gid, now, 'attention'), message: reason });
  const sql = `WITH g AS (
      UPDATE ${TABLES.global} SET needs_attention = true, attention_reason = ${p.add(storable(reason, TEXT_LIMITS.reason), 'text')},
        updated_at = ${p.add(now, 'bigint')}
      WHERE gid = ${p.add(gid, 'text')} AND lease_owner = ${p.add(owner, 'text')}
      RETURNING gid
    ),
    events AS (${insertEventsFrom(p, [event])})
    ${WRITTEN}`;
  return { sql, values: p.values };
}

/** An event as the json the event inserts read, its free text made storable. */
export function eventJson(event: NewEvent): Record<string, unknown> {
  return {
    at: event.at,
    kind: event.kind,
    branch_id: event.branchId,
    op: event.op,
    from_status: event.fromStatus,
    to_status: event.toStatus,
    outcome: event.outcome,
    attempt: event.attempt,
    message: storable(event.message, TEXT_LIMITS.message),
    actor: storable(event.actor, TEXT_LIMITS.actor),
  };
}

/** INSERT of events (as eventJson gives them) for the row `g` returned, in the order given: their ids follow it. */
function insertEventsFrom(p: Params, events: Record<string, unknown>[]): string {
  return `INSERT INTO ${TABLES.event} (gid, at, kind, branch_id, op, from_status, to_status, outcome, attempt, message, actor)
      SELECT g.gid, e.at, e.kind, e.branch_id, e.op, e.from_status, e.to_status, e.outcome, e.attempt, e.message, e.actor
      FROM g, ROWS FROM (json_to_recordset(${p.add(JSON.stringify(events), 'json')})
        AS (at bigint, kind text, branch_id text, op text, from_status text, to_status text, outcome text, attempt integer, message text, actor text))
        WITH ORDINALITY AS e(at, kind, branch_id, op, from_status, to_status, outcome, attempt, message, actor, n)
      ORDER BY e.n`;
}

/** A registered branch as the JSON the statements read it from (json_to_recordset), in its registration order `seq`. */
function branchJson(b: BeginInput['branches'][number], seq: number): Record<string, unknown> {
  return {
    branch_id: b.branchId,
    seq,
    operations: b.operations,
    participant: participantOfBranch(b.operations),
    payload: b.payload,
    op_payloads: b.opPayloads ?? null,
    depends_on: b.dependsOn ?? null,
    max_attempts: b.maxAttempts ?? null,
    call_timeout_ms: b.callTimeoutMs ?? null,
  };
}
