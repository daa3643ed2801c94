/**
 * Mapping between the PostgreSQL log's rows and the domain model. Rows come
 * from node-postgres (bigint as a string), from PGlite (bigint as a number)
 * or from dtx_snapshot's json (bigint as a number); json and jsonb columns
 * come parsed from all three.
 */
import type {
  Branch,
  BranchStatus,
  EventKind,
  GlobalStatus,
  GlobalTransaction,
  Mode,
  Operation,
  Operations,
  OpPayloads,
  TransactionEvent,
  TransactionSnapshot,
} from '../../domain/transaction.ts';

type Bigint = number | string;

export interface GlobalRow {
  gid: string;
  mode: string;
  status: string;
  reason: string | null;
  caller: string | null;
  joinable_by: string[] | null;
  created_at: Bigint;
  updated_at: Bigint;
  deadline_at: Bigint;
  decided_at: Bigint | null;
  decided_by: string | null;
  finished_at: Bigint | null;
  retry_count: number;
  next_retry_at: Bigint | null;
  needs_attention: boolean;
  attention_reason: string | null;
  paused: boolean;
  lease_owner: string | null;
  lease_until: Bigint | null;
  check_url: string | null;
  not_before: Bigint | null;
}

export interface BranchRow {
  gid: string;
  branch_id: string;
  seq: number;
  operations: Operations;
  participant: string;
  payload: string;
  op_payloads: OpPayloads | null;
  depends_on: string[] | null;
  max_attempts: number | null;
  call_timeout_ms: number | null;
  status: string;
  attempts: number;
  last_error: string | null;
  created_at: Bigint;
  updated_at: Bigint;
  registered_by: string | null;
  done_at: Bigint | null;
  done_op: string | null;
  done_attempt: number | null;
  done_http: number | null;
}

export interface EventRow {
  id: Bigint;
  gid: string;
  at: Bigint;
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

const num = (value: Bigint): number => Number(value);
const numOrNull = (value: Bigint | null): number | null => (value === null ? null : Number(value));

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
    needsAttention: row.needs_attention,
    attentionReason: row.attention_reason,
    paused: row.paused,
    leaseOwner: row.lease_owner,
    leaseUntil: numOrNull(row.lease_until),
    checkUrl: row.check_url,
    notBefore: numOrNull(row.not_before),
    joinableBy: row.joinable_by ?? [],
  };
}

export function toBranch(row: BranchRow): Branch {
  return {
    gid: row.gid,
    branchId: row.branch_id,
    operations: row.operations,
    participant: row.participant,
    payload: row.payload,
    opPayloads: row.op_payloads,
    dependsOn: row.depends_on,
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
        : { at: num(row.done_at), op: row.done_op as Operation, attempt: row.done_attempt ?? 0, httpStatus: row.done_http },
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

/** What dtx_snapshot returns: the transaction row and its branch rows, or null. */
export interface SnapshotJson {
  transaction: GlobalRow;
  branches: BranchRow[];
}

export function toSnapshot(value: SnapshotJson | null): TransactionSnapshot | null {
  if (value === null) return null;
  return { transaction: toTransaction(value.transaction), branches: value.branches.map(toBranch) };
}
