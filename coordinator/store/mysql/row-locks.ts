/**
 * Global row locks on MySQL/MariaDB (TransactionStore.lockRows and
 * heldRowLocks; see the port for their precondition and effect).
 *
 * A locking run holds the transaction's row in share mode (ordering it
 * against a decision, as a registration does), then the lock rows of its
 * keys FOR UPDATE. Holders' statuses are read without a lock: a status only
 * ever moves from holding to not holding (open → committing, rolling-back →
 * rolled-back), so a holder read as not holding stays so, and one read as
 * holding at worst answers a conflict the caller retries. Two runs inserting
 * the same new key meet on the primary key: the second fails with a
 * duplicate key and runs again, then sees the first's lock.
 */
import type { Knex } from 'knex';
import type { GlobalStatus, TransactionSnapshot } from '../../domain/transaction.ts';
import { guardHolds } from '../../domain/transition-guard.ts';
import { holdsRowLocks, ROW_LOCK_HOLDING_STATUSES, rowLockHash, rowLockHolder, type RowLockRow } from '../ports/contract-rules.ts';
import type { RowLockHolder, RowLockInput, RowLockKey, RowLockResult } from '../ports/transaction-store.ts';
import { BRANCH_ORDER } from './hot-path-statements.ts';
import { toBranch, toTransaction, type BranchRow, type GlobalRow } from './rows.ts';
import { TABLES } from './tables.ts';

/** One locking run, in `trx`; see the module comment. */
export async function lockRowsIn(trx: Knex.Transaction, input: RowLockInput): Promise<RowLockResult | null> {
  const { gid, branchId, keys, now } = input;
  const row = await trx<GlobalRow>(TABLES.global).where({ gid }).forShare().first();
  if (!row) return null;
  const transaction = toTransaction(row);
  const branches = (await trx<BranchRow>(TABLES.branch).where({ gid }).orderByRaw(BRANCH_ORDER)).map(toBranch);
  if (!guardHolds(input.guard, transaction) || !branches.some((b) => b.branchId === branchId)) {
    const before: TransactionSnapshot = { transaction, branches };
    return { kind: 'refused', before };
  }
  const hashes = new Map(keys.map((key) => [rowLockHash(key), key]));
  const existing = await trx<RowLockRow>(TABLES.rowLock)
    .whereIn('lock_hash', [...hashes.keys()])
    .forUpdate();
  const others = existing.filter((lock) => lock.gid !== gid);
  const statuses = new Map<string, GlobalStatus>();
  if (others.length > 0) {
    const holders = await trx<GlobalRow>(TABLES.global)
      .select('gid', 'status')
      .whereIn('gid', [...new Set(others.map((lock) => lock.gid))]);
    for (const holder of holders) statuses.set(holder.gid, holder.status as GlobalStatus);
  }
  // A holder gone from the log (cleaned up) holds nothing.
  const held = others.find((lock) => {
    const status = statuses.get(lock.gid);
    return status !== undefined && holdsRowLocks(status);
  });
  if (held) return { kind: 'conflict', holder: rowLockHolder(held) };
  // Free locks left by finished transactions are taken over; new keys inserted.
  const taken = new Set(existing.map((lock) => lock.lock_hash));
  if (others.length > 0)
    await trx(TABLES.rowLock)
      .whereIn(
        'lock_hash',
        others.map((lock) => lock.lock_hash),
      )
      .delete();
  const fresh = [...hashes].filter(([hash]) => !taken.has(hash) || others.some((lock) => lock.lock_hash === hash));
  if (fresh.length > 0) {
    await trx(TABLES.rowLock).insert(
      fresh.map(([hash, key]) => ({ lock_hash: hash, resource: key.resource, table_name: key.table, pk: key.pk, gid, branch_id: branchId, locked_at: now })),
    );
  }
  return { kind: 'locked' };
}

/** The held locks among `keys`: their rows, joined with their holders' statuses. */
export async function heldRowLocksOn(knex: Knex, keys: readonly RowLockKey[]): Promise<RowLockHolder[]> {
  if (keys.length === 0) return [];
  const rows = await heldQuery(knex).whereIn('l.lock_hash', keys.map(rowLockHash));
  return rows.map(rowLockHolder);
}

/** Held locks, for the admin API: of one transaction, or of one resource (and table), oldest first. */
export async function listRowLocks(knex: Knex, request: { gid?: string; resource?: string; table?: string; limit: number }): Promise<RowLockHolder[]> {
  const query = heldQuery(knex).orderBy(['l.locked_at', 'l.resource', 'l.table_name', 'l.pk']).limit(request.limit);
  if (request.gid !== undefined) query.where('l.gid', request.gid);
  if (request.resource !== undefined) query.where('l.resource', request.resource);
  if (request.table !== undefined) query.where('l.table_name', request.table);
  return (await query).map(rowLockHolder);
}

function heldQuery(knex: Knex): Knex.QueryBuilder<RowLockRow, RowLockRow[]> {
  return knex<RowLockRow>({ l: TABLES.rowLock })
    .join({ g: TABLES.global }, 'g.gid', 'l.gid')
    .whereIn('g.status', ROW_LOCK_HOLDING_STATUSES)
    .select('l.lock_hash', 'l.resource', 'l.table_name', 'l.pk', 'l.gid', 'l.branch_id', 'l.locked_at');
}
