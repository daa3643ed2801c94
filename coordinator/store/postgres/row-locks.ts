/**
 * Global row locks on PostgreSQL (TransactionStore.lockRows and
 * heldRowLocks; see the port for their precondition and effect). The same
 * run as on MySQL: the transaction's row in share mode (ordering it against
 * a decision), the lock rows of its keys FOR UPDATE, the holders' statuses
 * read without a lock (a status only moves from holding to not holding).
 * New keys are inserted with ON CONFLICT DO NOTHING: a key another run
 * inserted meanwhile is not inserted, and the run answers from a second
 * look at it (it waited for that run to commit).
 */
import type { TransactionSnapshot } from '../../domain/transaction.ts';
import type { GlobalStatus } from '../../domain/transaction.ts';
import { guardHolds } from '../../domain/transition-guard.ts';
import { holdsRowLocks, ROW_LOCK_HOLDING_STATUSES, rowLockHash, rowLockHolder, type RowLockRow as StoredLockRow } from '../ports/contract-rules.ts';
import type { RowLockHolder, RowLockInput, RowLockKey, RowLockResult } from '../ports/transaction-store.ts';
import { toSnapshot, type SnapshotJson } from './rows.ts';
import type { SqlSession } from './sql-database.ts';
import { TABLES } from './tables.ts';

interface RowLockRow extends StoredLockRow {
  status?: GlobalStatus | null;
}

const COLUMNS = 'l.lock_hash, l.resource, l.table_name, l.pk, l.gid, l.branch_id, l.locked_at';
const HOLDING = `(${ROW_LOCK_HOLDING_STATUSES.map((s) => `'${s}'`).join(', ')})`;

/** One locking run, in `session` (a transaction); see the module comment. Throws RaceLostError when a new key was inserted by another run meanwhile. */
export async function lockRowsIn(session: SqlSession, input: RowLockInput): Promise<RowLockResult | null> {
  const { gid, branchId, keys, now } = input;
  const locked = await session.query(`SELECT 1 FROM ${TABLES.global} WHERE gid = $1::text FOR SHARE`, [gid]);
  if (locked.rowCount === 0) return null;
  const before: TransactionSnapshot | null = toSnapshot(
    (await session.query<{ snapshot: SnapshotJson | null }>('SELECT dtx_snapshot($1::text) AS snapshot', [gid])).rows[0]!.snapshot,
  );
  if (!before) return null;
  if (!guardHolds(input.guard, before.transaction) || !before.branches.some((b) => b.branchId === branchId)) return { kind: 'refused', before };
  const hashes = new Map(keys.map((key) => [rowLockHash(key), key]));
  const { rows: existing } = await session.query<RowLockRow>(
    `SELECT ${COLUMNS}, g.status FROM ${TABLES.rowLock} l LEFT JOIN ${TABLES.global} g ON g.gid = l.gid
      WHERE l.lock_hash = ANY($1::text[]) FOR UPDATE OF l`,
    [[...hashes.keys()]],
  );
  const held = existing.find((lock) => lock.gid !== gid && lock.status != null && holdsRowLocks(lock.status));
  if (held) return { kind: 'conflict', holder: rowLockHolder(held) };
  // Free locks left by finished transactions are taken over; new keys inserted.
  const stale = existing.filter((lock) => lock.gid !== gid).map((lock) => lock.lock_hash);
  if (stale.length > 0) await session.query(`DELETE FROM ${TABLES.rowLock} WHERE lock_hash = ANY($1::text[])`, [stale]);
  const ours = new Set(existing.filter((lock) => lock.gid === gid).map((lock) => lock.lock_hash));
  const fresh = [...hashes].filter(([hash]) => !ours.has(hash));
  if (fresh.length === 0) return { kind: 'locked' };
  const { rowCount } = await session.query(
    `INSERT INTO ${TABLES.rowLock} (lock_hash, resource, table_name, pk, gid, branch_id, locked_at)
      SELECT h, r, t, p, $5::text, $6::text, $7::bigint FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS k(h, r, t, p)
      ON CONFLICT (lock_hash) DO NOTHING`,
    [fresh.map(([h]) => h), fresh.map(([, k]) => k.resource), fresh.map(([, k]) => k.table), fresh.map(([, k]) => k.pk), gid, branchId, now],
  );
  if (rowCount !== fresh.length) throw new RowLockRaceError();
  return { kind: 'locked' };
}

/** Another run inserted one of the new keys first: the run is rolled back and made again, and then sees that lock. */
export class RowLockRaceError extends Error {
  override readonly name = 'RowLockRaceError';
  constructor() {
    super('another transaction locked one of these rows meanwhile');
  }
}

/** The held locks among `keys`. */
export async function heldRowLocksOn(session: SqlSession, keys: readonly RowLockKey[]): Promise<RowLockHolder[]> {
  if (keys.length === 0) return [];
  const { rows } = await session.query<RowLockRow>(
    `SELECT ${COLUMNS} FROM ${TABLES.rowLock} l JOIN ${TABLES.global} g ON g.gid = l.gid WHERE l.lock_hash = ANY($1::text[]) AND g.status IN ${HOLDING}`,
    [keys.map(rowLockHash)],
  );
  return rows.map(rowLockHolder);
}

/** Held locks, for the admin API: of one transaction, or of one resource (and table), oldest first. */
export async function listRowLocks(session: SqlSession, request: { gid?: string; resource?: string; table?: string; limit: number }): Promise<RowLockHolder[]> {
  const conditions = [`g.status IN ${HOLDING}`];
  const values: unknown[] = [];
  const add = (column: string, value: string | undefined) => {
    if (value === undefined) return;
    values.push(value);
    conditions.push(`l.${column} = $${values.length}::text`);
  };
  add('gid', request.gid);
  add('resource', request.resource);
  add('table_name', request.table);
  values.push(request.limit);
  const { rows } = await session.query<RowLockRow>(
    `SELECT ${COLUMNS} FROM ${TABLES.rowLock} l JOIN ${TABLES.global} g ON g.gid = l.gid WHERE ${conditions.join(' AND ')} ORDER BY l.locked_at, l.resource, l.table_name, l.pk LIMIT $${values.length}::integer`,
    values,
  );
  return rows.map(rowLockHolder);
}

/** Drops the transaction's row locks. */
export const RELEASE_ROW_LOCKS = `DELETE FROM ${TABLES.rowLock} WHERE gid = $1::text`;
