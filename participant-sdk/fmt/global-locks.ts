/**
 * Global row locks, as FMT sees them: the coordinator keeps them (one per
 * row a global transaction wrote, until its phase two ends), the participant
 * asks for them through an injected {@link GlobalLocks}. Local row locks end
 * with the local transaction; these make a row written by a global
 * transaction off limits to other global transactions (and to local
 * `runWithGlobalLock` work) until that transaction commits or rolls back
 * everywhere, which is what keeps a later rollback's restore from
 * overwriting someone else's work.
 */

/**
 * One row: which database (`resource`, a name the participant gives it),
 * which table (schema-qualified: `schema.table`, MySQL `database.table`, as
 * the catalog spells it), which key: the primary key's values in key-column
 * order, in their image form (images.ts): the database's text for each
 * value, a binary value as `b64:<base64>`. The protocol's RowKey: the
 * coordinator keys its locks by it.
 */
import type { RowKey } from '@dtx/protocol';
export type { RowKey };

/**
 * The coordinator's global locks, bound by the caller to one global
 * transaction and branch (the lock holder).
 */
export interface GlobalLocks {
  /**
   * Take every key for this global transaction, or none. Keys it already
   * holds are no conflict.
   * @throws FmtLockConflictError (code FMT_LOCK_CONFLICT, `holderGid`, `key`)
   *   after its own bounded wait
   */
  acquire(keys: RowKey[]): Promise<void>;
  /**
   * Wait until no other global transaction holds any of the keys (without
   * taking them): for `selectForUpdate` and for local writes under
   * `runWithGlobalLock`.
   * @throws FmtLockConflictError after a bounded wait
   */
  waitFree(keys: RowKey[]): Promise<void>;
}

/** A stable string for a key, to dedupe and to look rows up (the same key, the same string). */
export function rowKeyId(key: RowKey): string {
  return JSON.stringify([key.resource, key.table, key.pk]);
}

/** The keys without repeats, in first-seen order. */
export function uniqueKeys(keys: readonly RowKey[]): RowKey[] {
  const seen = new Map<string, RowKey>();
  for (const key of keys) if (!seen.has(rowKeyId(key))) seen.set(rowKeyId(key), key);
  return [...seen.values()];
}
