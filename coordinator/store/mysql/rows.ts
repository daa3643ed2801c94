/** Mapping between table rows and the domain model. */
import type {
  Branch,
  BranchStatus,
  EventKind,
  GlobalStatus,
  GlobalTransaction,
  Mode,
  NewEvent,
  TransactionEvent,
} from '../../domain/transaction.ts';
import type { BranchOp } from '../../../participant-sdk/protocol/wire.ts';

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
  finished_at: number | string | null;
  retry_count: number;
  next_retry_at: number | string | null;
  needs_attention: number | boolean;
  attention_reason: string | null;
  paused: number | boolean;
  lease_owner: string | null;
  lease_until: number | string | null;
}

export interface BranchRow {
  gid: string;
  branch_id: string;
  confirm_url: string;
  cancel_url: string;
  participant: string;
  payload: string;
  status: string;
  attempts: number;
  last_error: string | null;
  created_at: number | string;
  updated_at: number | string;
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
    finishedAt: numOrNull(row.finished_at),
    retryCount: row.retry_count,
    nextRetryAt: numOrNull(row.next_retry_at),
    needsAttention: Boolean(row.needs_attention),
    attentionReason: row.attention_reason,
    paused: Boolean(row.paused),
    leaseOwner: row.lease_owner,
    leaseUntil: numOrNull(row.lease_until),
  };
}

export function toBranch(row: BranchRow): Branch {
  return {
    gid: row.gid,
    branchId: row.branch_id,
    confirmUrl: row.confirm_url,
    cancelUrl: row.cancel_url,
    participant: row.participant,
    payload: row.payload,
    status: row.status as BranchStatus,
    attempts: row.attempts,
    lastError: row.last_error,
    createdAt: num(row.created_at),
    updatedAt: num(row.updated_at),
  };
}

export function toEvent(row: EventRow): TransactionEvent {
  return {
    id: num(row.id),
    gid: row.gid,
    at: num(row.at),
    kind: row.kind as EventKind,
    branchId: row.branch_id,
    op: row.op as BranchOp | null,
    fromStatus: row.from_status as GlobalStatus | null,
    toStatus: row.to_status as GlobalStatus | null,
    outcome: row.outcome,
    attempt: row.attempt,
    message: row.message,
    actor: row.actor,
  };
}

/** Columns are bounded; error texts from participants are not. */
export function clip(text: string | null, max: number): string | null {
  if (text === null) return null;
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
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

/** An event with every optional field empty, to be filled by the caller. */
export function blankEvent(gid: string, at: number, kind: EventKind): NewEvent {
  return {
    gid,
    at,
    kind,
    branchId: null,
    op: null,
    fromStatus: null,
    toStatus: null,
    outcome: null,
    attempt: null,
    message: null,
    actor: null,
  };
}
