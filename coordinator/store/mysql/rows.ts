/** Mapping between table rows and the domain model. */
import {
  clip,
  type Branch,
  type BranchStatus,
  type EventKind,
  type GlobalStatus,
  type GlobalTransaction,
  type Mode,
  type NewEvent,
  type Operation,
  type Operations,
  type OpPayloads,
  type TransactionEvent,
} from '../../domain/transaction.ts';

export interface GlobalRow {
  gid: string;
  mode: string;
  status: string;
  reason: string | null;
  caller: string | null;
  created_at: number | string;
  updated_at: number | string;
  deadline_at: number | string;
  decided_at: number | string | null;
  decided_by: string | null;
  finished_at: number | string | null;
  retry_count: number;
  next_retry_at: number | string | null;
  needs_attention: number | boolean;
  attention_reason: string | null;
  paused: number | boolean;
  lease_owner: string | null;
  lease_until: number | string | null;
  check_url: string | null;
  not_before: number | string | null;
  /** JSON array of caller names; null: none. */
  joinable_by: string | null;
}

export interface BranchRow {
  gid: string;
  branch_id: string;
  /** JSON text: operation → URL, in registration order. */
  operations: string;
  participant: string;
  payload: string;
  status: string;
  attempts: number;
  last_error: string | null;
  created_at: number | string;
  updated_at: number | string;
  registered_by: string | null;
  done_at: number | string | null;
  done_op: Operation | null;
  done_attempt: number | null;
  done_http: number | null;
  seq: number;
  depends_on: string | null;
  op_payloads: string | null;
  max_attempts: number | null;
  call_timeout_ms: number | null;
}

export interface EventRow {
  id: number | string;
  gid: string;
  at: number | string;
  kind: string;
  branch_id: string | null;
  op: string | null;
  from_status: string | null;
  to_status: string | null;
  outcome: string | null;
  attempt: number | null;
  message: string | null;
  actor: string | null;
}

const num = (value: number | string): number => Number(value);
const numOrNull = (value: number | string | null): number | null => (value === null ? null : Number(value));

export function toTransaction(row: GlobalRow): GlobalTransaction {
  return {
    gid: row.gid,
    mode: row.mode as Mode,
    status: row.status as GlobalStatus,
    reason: row.reason,
    caller: row.caller,
    createdAt: num(row.created_at),
    updatedAt: num(row.updated_at),
    deadlineAt: num(row.deadline_at),
    decidedAt: numOrNull(row.decided_at),
    decidedBy: row.decided_by,
    finishedAt: numOrNull(row.finished_at),
    retryCount: row.retry_count,
    nextRetryAt: numOrNull(row.next_retry_at),
    needsAttention: Boolean(row.needs_attention),
    attentionReason: row.attention_reason,
    paused: Boolean(row.paused),
    leaseOwner: row.lease_owner,
    leaseUntil: numOrNull(row.lease_until),
    checkUrl: row.check_url,
    notBefore: numOrNull(row.not_before),
    joinableBy: row.joinable_by === null ? [] : (JSON.parse(row.joinable_by) as string[]),
  };
}

export function toBranch(row: BranchRow): Branch {
  return {
    gid: row.gid,
    branchId: row.branch_id,
    operations: JSON.parse(row.operations) as Operations,
    participant: row.participant,
    payload: row.payload,
    opPayloads: row.op_payloads === null ? null : (JSON.parse(row.op_payloads) as OpPayloads),
    dependsOn: row.depends_on === null ? null : (JSON.parse(row.depends_on) as string[]),
    maxAttempts: row.max_attempts,
    callTimeoutMs: row.call_timeout_ms,
    status: row.status as BranchStatus,
    attempts: row.attempts,
    lastError: row.last_error,
    createdAt: num(row.created_at),
    updatedAt: num(row.updated_at),
    registeredBy: row.registered_by,
    completion:
      row.done_at === null || row.done_op === null
        ? null
        : { at: num(row.done_at), op: row.done_op, attempt: row.done_attempt ?? 0, httpStatus: row.done_http },
  };
}

export function toEvent(row: EventRow): TransactionEvent {
  return {
    id: num(row.id),
    gid: row.gid,
    at: num(row.at),
    kind: row.kind as EventKind,
    branchId: row.branch_id,
    op: row.op as Operation | null,
    fromStatus: row.from_status as GlobalStatus | null,
    toStatus: row.to_status as GlobalStatus | null,
    outcome: row.outcome,
    attempt: row.attempt,
    message: row.message,
    actor: row.actor,
  };
}

export function eventRow(event: NewEvent): Omit<EventRow, 'id'> {
  return {
    gid: event.gid,
    at: event.at,
    kind: event.kind,
    branch_id: event.branchId,
    op: event.op,
    from_status: event.fromStatus,
    to_status: event.toStatus,
    outcome: event.outcome,
    attempt: event.attempt,
    message: clip(event.message, 1024),
    actor: clip(event.actor, 128),
  };
}
