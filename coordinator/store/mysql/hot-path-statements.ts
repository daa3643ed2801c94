/**
 * The SQL of the transaction log's hot path, as statement lists for
 * mysql-batch.ts: one round trip per commit. Every value is a binding.
 *
 * Each compare-and-set is the list's first statement and is followed by
 * REMEMBER_ROW_COUNT; everything after it is guarded by `@dtx_ok > 0`, so a
 * lost race leaves the log untouched.
 */
import type { TransitionGuard } from '../../domain/transition-guard.ts';
import { blankEvent, OPEN_STATUSES, OUTCOME_OF, participantOfBranch, type BranchRegistration, type NewEvent } from '../../domain/transaction.ts';
import { REMEMBER_ROW_COUNT, type Statement } from './mysql-batch.ts';
import { eventRow } from './rows.ts';
import { TABLES } from './tables.ts';
import type { BeginInput, DecisionInput, RoundRecord } from '../ports/transaction-store.ts';

const EVENT_COLUMNS = ['gid', 'at', 'kind', 'branch_id', 'op', 'from_status', 'to_status', 'outcome', 'attempt', 'message', 'actor'] as const;
const BRANCH_COLUMNS = [
  'gid',
  'branch_id',
  'operations',
  'participant',
  'payload',
  'status',
  'attempts',
  'created_at',
  'updated_at',
  'registered_by',
  'seq',
  'depends_on',
  'op_payloads',
  'max_attempts',
  'call_timeout_ms',
] as const;
const GUARD = '@dtx_ok > 0';
/** The order a transaction's branches are read in: as registered. */
export const BRANCH_ORDER = 'created_at, seq, branch_id';

const placeholders = (n: number) => Array.from({ length: n }, () => '?').join(', ');

function insertRows(table: string, columns: readonly string[], rows: unknown[][]): Statement {
  const row = `(${placeholders(columns.length)})`;
  return { sql: `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${rows.map(() => row).join(', ')}`, values: rows.flat() };
}

/** INSERT of literal rows that happens only if the compare-and-set before it succeeded. */
function guardedInsertRows(table: string, columns: readonly string[], rows: unknown[][]): Statement {
  const select = `SELECT ${placeholders(columns.length)} FROM DUAL WHERE ${GUARD}`;
  return { sql: `INSERT INTO ${table} (${columns.join(', ')}) ${rows.map(() => select).join(' UNION ALL ')}`, values: rows.flat() };
}

function eventValues(event: NewEvent): unknown[] {
  const row = eventRow(event);
  return EVENT_COLUMNS.map((column) => row[column]);
}

const jsonOrNull = (value: object | null | undefined): string | null => (value === null || value === undefined ? null : JSON.stringify(value));

/** `seq`: the branch's place in the list it was registered with (branches of one commit share their creation time). */
function branchValues(gid: string, branch: BranchRegistration, now: number, registeredBy: string | null, seq: number): unknown[] {
  return [
    gid,
    branch.branchId,
    JSON.stringify(branch.operations),
    participantOfBranch(branch.operations),
    branch.payload,
    'pending',
    0,
    now,
    now,
    registeredBy,
    seq,
    jsonOrNull(branch.dependsOn),
    jsonOrNull(branch.opPayloads),
    branch.maxAttempts ?? null,
    branch.callTimeoutMs ?? null,
  ];
}

/** A branch row to insert (the admin-free registration path uses knex). */
export function branchRow(
  gid: string,
  branch: BranchRegistration,
  now: number,
  registeredBy: string | null,
  seq: number,
): Record<(typeof BRANCH_COLUMNS)[number], unknown> {
  const values = branchValues(gid, branch, now, registeredBy, seq);
  return Object.fromEntries(BRANCH_COLUMNS.map((column, index) => [column, values[index]])) as Record<(typeof BRANCH_COLUMNS)[number], unknown>;
}

/** The SQL condition of a transition guard on the global row, with its bindings. */
function guardCondition(guard: TransitionGuard): { sql: string; values: unknown[] } {
  const parts = ['status = ?'];
  const values: unknown[] = [guard.from];
  if (guard.deadlineAfter !== undefined) {
    parts.push('deadline_at > ?');
    values.push(guard.deadlineAfter);
  }
  if (guard.mode !== undefined) {
    parts.push('mode = ?');
    values.push(guard.mode);
  }
  if (guard.caller !== undefined) {
    // NULL-safe: an anonymous caller (development mode) decides only what it began.
    parts.push('caller <=> ?');
    values.push(guard.caller);
  }
  // Checked in code on the row read under lock (registerBranches), never in a statement.
  if (guard.joiner !== undefined) throw new Error('a joiner guard is not a statement guard');
  return { sql: parts.join(' AND '), values };
}

/** Guarded reads of the transaction and its branches after a won compare-and-set (empty otherwise). */
function guardedSnapshot(gid: string): Statement[] {
  return [
    { sql: `SELECT * FROM ${TABLES.global} WHERE gid = ? AND ${GUARD}`, values: [gid] },
    { sql: `SELECT * FROM ${TABLES.branch} WHERE gid = ? AND ${GUARD} ORDER BY ${BRANCH_ORDER}`, values: [gid] },
  ];
}

export function beginStatements(input: BeginInput, reason: string | null, actor: string | null): Statement[] {
  const { gid, now, decision } = input;
  const columns: Record<string, unknown> = {
    gid,
    mode: input.mode,
    caller: input.caller ?? null,
    created_at: now,
    updated_at: now,
    deadline_at: input.deadlineAt,
    check_url: input.checkUrl ?? null,
    joinable_by: input.joinableBy && input.joinableBy.length > 0 ? JSON.stringify(input.joinableBy) : null,
    not_before: input.notBefore ?? null,
    retry_count: 0,
    // Decided at once (a saga): phase two is leased to the caller's instance, and due when that lease ends.
    // Open: due at the deadline, when the timeout sweep (or a message's check-back) must look at it.
    ...(decision
      ? {
          status: decision.to,
          decided_at: now,
          decided_by: actor,
          reason,
          lease_owner: decision.owner,
          lease_until: decision.leaseUntil,
          next_retry_at: decision.leaseUntil,
        }
      : { status: 'open', next_retry_at: input.deadlineAt }),
  };
  const statements: Statement[] = [insertRows(TABLES.global, Object.keys(columns), [Object.values(columns)])];
  if (input.branches.length > 0) {
    statements.push(
      insertRows(
        TABLES.branch,
        BRANCH_COLUMNS,
        input.branches.map((b, seq) => branchValues(gid, b, now, input.caller, seq)),
      ),
    );
  }
  return statements;
}

/**
 * Result indexes: 0 the compare-and-set, 2 the transaction, 3 its branches.
 * The first decision (leaving `open`) is kept on the row; a later one (a
 * saga turning back from its actions) is a status event, and the row keeps
 * when and by whom the first was made.
 */
export function decisionStatements(input: DecisionInput, reason: string | null, actor: string | null): Statement[] {
  const guard = guardCondition(input.guard);
  const first = input.guard.from === 'open';
  const statements: Statement[] = [
    {
      sql: `UPDATE ${TABLES.global} SET status = ?, reason = ?, updated_at = ?, ${first ? 'decided_at = ?, decided_by = ?, ' : 'retry_count = 0, '}lease_owner = ?, lease_until = ?, next_retry_at = ? WHERE gid = ? AND ${guard.sql}`,
      values: [input.to, reason, input.now, ...(first ? [input.now, actor] : []), input.owner, input.leaseUntil, input.leaseUntil, input.gid, ...guard.values],
    },
    REMEMBER_ROW_COUNT,
  ];
  const snapshot = guardedSnapshot(input.gid);
  // After the reads, so the result indexes stay those of the first decision.
  const after: Statement[] = input.releaseRowLocks ? [releaseRowLocks(input.gid)] : [];
  if (!first) {
    const event = { ...blankEvent(input.gid, input.now, 'status'), fromStatus: input.guard.from, toStatus: input.to, message: reason, actor };
    after.push(guardedInsertRows(TABLES.event, EVENT_COLUMNS, [eventValues(event)]));
  }
  return [...statements, ...snapshot, ...after];
}

/** Drops the transaction's row locks, guarded like the rest of the batch. */
function releaseRowLocks(gid: string): Statement {
  return { sql: `DELETE FROM ${TABLES.rowLock} WHERE gid = ? AND ${GUARD}`, values: [gid] };
}

/** Result index 0: the compare-and-set (the lease still held). */
export function attentionStatements(gid: string, owner: string, reason: string, now: number): Statement[] {
  const event = { ...blankEvent(gid, now, 'attention'), message: reason };
  return [
    {
      sql: `UPDATE ${TABLES.global} SET needs_attention = 1, attention_reason = ?, updated_at = ? WHERE gid = ? AND lease_owner = ?`,
      values: [reason, now, gid, owner],
    },
    REMEMBER_ROW_COUNT,
    guardedInsertRows(TABLES.event, EVENT_COLUMNS, [eventValues(event)]),
  ];
}

/** Result indexes: 0 the compare-and-set, 2 the transaction, 3 its branches. */
export function claimStatements(gid: string, owner: string, now: number, leaseUntil: number): Statement[] {
  return [
    {
      sql: `UPDATE ${TABLES.global} SET lease_owner = ?, lease_until = ?, next_retry_at = ? WHERE gid = ? AND paused = 0 AND status IN (${placeholders(OPEN_STATUSES.length)}) AND next_retry_at <= ? AND (lease_until IS NULL OR lease_until <= ?)`,
      values: [owner, leaseUntil, leaseUntil, gid, ...OPEN_STATUSES, now, now],
    },
    REMEMBER_ROW_COUNT,
    ...guardedSnapshot(gid),
  ];
}

/** No branch of the transaction (bound first) is short of the done status (bound second), besides the `except` ones (bound after). */
function noBranchPending(except: number): string {
  const others = except > 0 ? ` AND branch_id NOT IN (${placeholders(except)})` : '';
  return `NOT EXISTS (SELECT 1 FROM ${TABLES.branch} WHERE gid = ? AND status <> ?${others})`;
}

/** The global row's update of a round: the compare-and-set that every other statement of the round depends on. */
function roundUpdate(record: RoundRecord, finishExcept: readonly string[], reason: string | null): Statement {
  const { gid, now, decision } = record;
  const guard = [gid, record.from, record.owner];
  switch (decision.kind) {
    case 'finish':
      return {
        // The flag and its reason stay in the event history; a pause set
        // while this last round ran has nothing left to pause.
        // The NOT EXISTS is the log's own guard: whatever snapshot the round
        // was planned from, the transaction does not end while a branch other
        // than those this round completes is still not done.
        sql: `UPDATE ${TABLES.global} SET status = ?, updated_at = ?, finished_at = ?, next_retry_at = NULL, lease_owner = NULL, lease_until = NULL, needs_attention = 0, attention_reason = NULL, paused = 0 WHERE gid = ? AND status = ? AND lease_owner = ? AND ${noBranchPending(finishExcept.length)}`,
        values: [decision.status, now, now, ...guard, gid, OUTCOME_OF[record.from], ...finishExcept],
      };
    case 'continue':
      // Progress: the failed-rounds count starts again, and the lease is kept
      // for the next round — unless an operator paused it meanwhile (refused).
      return {
        sql: `UPDATE ${TABLES.global} SET retry_count = 0, updated_at = ?, lease_until = ?, next_retry_at = ? WHERE gid = ? AND status = ? AND lease_owner = ? AND paused = 0`,
        values: [now, record.leaseUntil, record.leaseUntil, ...guard],
      };
    case 'turn':
      return {
        sql: `UPDATE ${TABLES.global} SET status = ?, reason = ?, retry_count = 0, updated_at = ?, lease_until = ?, next_retry_at = ? WHERE gid = ? AND status = ? AND lease_owner = ?`,
        values: [decision.to, reason, now, record.leaseUntil, record.leaseUntil, ...guard],
      };
    case 'retry':
      return {
        // An operator may have paused it while the round ran: it stays paused.
        sql: `UPDATE ${TABLES.global} SET retry_count = ?, next_retry_at = CASE WHEN paused THEN NULL ELSE ? END, needs_attention = ?, attention_reason = COALESCE(?, attention_reason), updated_at = ?, lease_owner = NULL, lease_until = NULL WHERE gid = ? AND status = ? AND lease_owner = ?`,
        values: [decision.retryCount, decision.nextRetryAt, decision.needsAttention, decision.attentionReason, now, ...guard],
      };
  }
}

/** Result index 0: the compare-and-set. `reason`: a turn's, clipped to its column. */
export function roundStatements(
  record: RoundRecord,
  events: NewEvent[],
  clipError: (text: string | null) => string | null,
  reason: string | null = null,
): Statement[] {
  const { gid, now } = record;
  const doneStatus = OUTCOME_OF[record.from];
  const successes = record.results.filter((r) => r.outcome === 'success');
  const skipped = record.skipped.map((skip) => skip.branchId);
  const done = [...successes.map((r) => r.branchId), ...skipped];
  const statements: Statement[] = [roundUpdate(record, done, reason), REMEMBER_ROW_COUNT];

  // Each branch's completing call is kept on its row (the history reads it
  // there). A completion already recorded stays: the first one is the row's.
  if (successes.length > 0) {
    const each = (pick: (r: RoundRecord['results'][number]) => unknown) => ({
      sql: `CASE branch_id ${successes.map(() => 'WHEN ? THEN ?').join(' ')} END`,
      values: successes.flatMap((r) => [r.branchId, pick(r)]),
    });
    const op = each((r) => r.op);
    const attempt = each((r) => r.attempt);
    const http = each((r) => r.httpStatus);
    statements.push({
      sql: `UPDATE ${TABLES.branch} SET status = ?, attempts = attempts + 1, last_error = NULL, updated_at = ?, done_at = COALESCE(done_at, ?), done_op = COALESCE(done_op, ${op.sql}), done_attempt = COALESCE(done_attempt, ${attempt.sql}), done_http = COALESCE(done_http, ${http.sql}) WHERE gid = ? AND branch_id IN (${placeholders(successes.length)}) AND ${GUARD}`,
      values: [doneStatus, now, now, ...op.values, ...attempt.values, ...http.values, gid, ...successes.map((r) => r.branchId)],
    });
  }
  if (skipped.length > 0) {
    statements.push({
      sql: `UPDATE ${TABLES.branch} SET status = ?, updated_at = ? WHERE gid = ? AND branch_id IN (${placeholders(skipped.length)}) AND ${GUARD}`,
      values: [doneStatus, now, gid, ...skipped],
    });
  }
  for (const result of record.results) {
    if (result.outcome === 'success') continue;
    statements.push({
      sql: `UPDATE ${TABLES.branch} SET attempts = attempts + 1, last_error = ?, updated_at = ? WHERE gid = ? AND branch_id = ? AND ${GUARD}`,
      values: [clipError(result.error), now, gid, result.branchId],
    });
  }
  if (events.length > 0) statements.push(guardedInsertRows(TABLES.event, EVENT_COLUMNS, events.map(eventValues)));
  if (record.releaseRowLocks && record.decision.kind === 'finish') statements.push(releaseRowLocks(gid));
  return statements;
}
