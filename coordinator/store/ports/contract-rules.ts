/**
 * The pure parts of the store ports' contract, the same for every store: a
 * store applies them inside its own atomic operation, so that what a
 * registration may insert, what history a round or an operator's change
 * leaves, and what a change answers never depend on which database holds the
 * log.
 */
import { createHash } from 'node:crypto';
import { blankEvent, type GlobalStatus, type NewEvent, type TransactionSnapshot } from '../../domain/transaction.ts';
import { guardHolds } from '../../domain/transition-guard.ts';
import type { OperatorChange } from '../../domain/operator-decisions.ts';
import type { AuditEntry } from './admin-store.ts';
import type { RegisterInput, RoundRecord, RowLockHolder, RowLockKey } from './transaction-store.ts';

/** The precondition of registerBranches (see the port): the mode's guard holds, and every branch is new. */
export function mayRegister(before: TransactionSnapshot, input: RegisterInput): boolean {
  const known = new Set(before.branches.map((b) => b.branchId));
  return input.branches.length > 0 && guardHolds(input.guard, before.transaction) && input.branches.every((b) => !known.has(b.branchId));
}

/**
 * The history rows of a round: what its rows cannot show. A branch's first
 * success is on its row; every other call, a later success (a saga step's
 * compensation after its action), a skipped branch, a turn and a raised
 * flag are events.
 */
export function roundEvents(record: RoundRecord): NewEvent[] {
  const { gid, now, decision } = record;
  const events: NewEvent[] = record.results
    .filter((result) => result.outcome !== 'success' || result.completedBefore)
    .map((result) => ({
      ...blankEvent(gid, now, 'branch-call'),
      branchId: result.branchId,
      op: result.op,
      outcome: result.outcome,
      attempt: result.attempt,
      message: result.error ?? (result.httpStatus === null ? null : `HTTP ${result.httpStatus}`),
    }));
  for (const { branchId, op } of record.skipped) {
    events.push({ ...blankEvent(gid, now, 'branch-call'), branchId, op, outcome: 'skipped', message: 'nothing to do: the branch never ran' });
  }
  if (decision.kind === 'turn') {
    events.push({ ...blankEvent(gid, now, 'status'), fromStatus: record.from, toStatus: decision.to, message: decision.reason, actor: 'coordinator' });
  }
  if (decision.kind === 'retry' && decision.attentionReason) {
    events.push({ ...blankEvent(gid, now, 'attention'), message: decision.attentionReason });
  }
  return events;
}

/** The history an operator's change leaves (applyOperatorChange): the action with its reason, and a status change if it made one. */
export function operatorChangeEvents(before: TransactionSnapshot, change: OperatorChange, audit: AuditEntry, now: number): NewEvent[] {
  const txn = before.transaction;
  const events: NewEvent[] = [
    {
      ...blankEvent(txn.gid, now, 'operator'),
      branchId: audit.branchId,
      message: `${audit.action}: ${change.summary}. Reason: ${audit.reason}`,
      actor: audit.actor,
    },
  ];
  if (change.set.status && change.set.status !== txn.status) {
    events.push({ ...blankEvent(txn.gid, now, 'status'), fromStatus: txn.status, toStatus: change.set.status, actor: audit.actor, message: audit.reason });
  }
  return events;
}

/** What applyOperatorChange answers once the change is applied: the snapshot it loaded, changed as it wrote. */
export function snapshotAfterChange(before: TransactionSnapshot, change: OperatorChange, now: number): TransactionSnapshot {
  return {
    transaction: { ...before.transaction, ...change.set, updatedAt: now },
    branches: before.branches.map((b) => {
      const resolved = change.branches.find((c) => c.branchId === b.branchId);
      return resolved ? { ...b, status: resolved.status } : b;
    }),
  } as TransactionSnapshot;
}

/**
 * The statuses in which a transaction's row locks are held: its rows are not
 * final yet (still being written, or being restored). A lock left by a
 * transaction in any other status is free.
 */
export const ROW_LOCK_HOLDING_STATUSES: readonly GlobalStatus[] = ['open', 'rolling-back'];

/** Whether a lock of a transaction in `status` is held (see ROW_LOCK_HOLDING_STATUSES). */
export function holdsRowLocks(status: GlobalStatus): boolean {
  return ROW_LOCK_HOLDING_STATUSES.includes(status);
}

/** A row lock's identity in the log: the SHA-256 (hex) of its canonical key, one fixed-size primary key whatever the key's length. */
export function rowLockHash(key: RowLockKey): string {
  return createHash('sha256')
    .update(JSON.stringify([key.resource, key.table, key.pk]))
    .digest('hex');
}

/** A row lock as every store keeps it (the same columns on each). */
export interface RowLockRow {
  lock_hash: string;
  resource: string;
  table_name: string;
  pk: string;
  gid: string;
  branch_id: string;
  locked_at: number | string;
}

/** The holder a lock row stands for. */
export function rowLockHolder(row: RowLockRow): RowLockHolder {
  return { key: { resource: row.resource, table: row.table_name, pk: row.pk }, gid: row.gid, branchId: row.branch_id, lockedAt: Number(row.locked_at) };
}
