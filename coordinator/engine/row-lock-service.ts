/**
 * Global row locks (FMT), as the participant that executed a branch takes
 * them before its local commit, and as anyone asks who holds a row.
 *
 * A lock request is the branch participant's alone: it is signed with the
 * key the coordinator signs its calls to that participant with (the key of
 * the branch's registered rollback URL), so neither an initiator nor another
 * participant can lock rows for a branch. The store then takes every key
 * or none, only while the transaction is still executing and before its
 * deadline (lockRows); a key another transaction holds is answered with
 * that holder, for the participant to wait and ask again, or give up.
 */
import { canonicalPk, verifyRowLockRequest, type RowKey } from '@dtx/protocol';
import type { Logger } from 'pino';
import { TransactionRefusedError } from '../domain/refusal.ts';
import type { Clock } from './ports.ts';
import { rulesFor } from '../modes/registry.ts';
import type { ParticipantPolicy } from '../security/participant-policy.ts';
import type { RowLockHolder, RowLockKey, TransactionStore } from '../store/ports/transaction-store.ts';

/** How far a lock request's timestamp may be from the coordinator's clock (clock skew and replay). */
export const ROW_LOCK_MAX_SKEW_MS = 5 * 60_000;

export interface RowLockServiceOptions {
  store: TransactionStore;
  participants: ParticipantPolicy;
  clock: Clock;
  logger: Logger;
}

/** A signed lock request, as received. */
export interface LockRequest {
  gid: string;
  branchId: string;
  keys: readonly RowKey[];
  timestamp: number;
  signature: string | undefined;
  /** The exact body bytes the signature covers. */
  body: string | Buffer;
}

export type LockOutcome = { kind: 'locked'; keys: number } | { kind: 'conflict'; holder: RowLockHolder };

/** Refused for its signature: answered 401 (the error handler maps the code). */
export class RowLockAuthError extends Error {
  override readonly name = 'RowLockAuthError';
  constructor(readonly reason: string) {
    super(`lock request not signed by the branch's participant (${reason})`);
  }
}

export class RowLockService {
  constructor(private readonly options: RowLockServiceOptions) {}

  async lock(request: LockRequest): Promise<LockOutcome> {
    const { store, clock, logger } = this.options;
    const { gid, branchId } = request;
    const snapshot = await store.load(gid);
    if (!snapshot) throw new TransactionRefusedError('NOT_FOUND', `no transaction with gid ${gid}`, gid);
    const rules = rulesFor(snapshot.transaction.mode);
    const words = rules.words;
    if (!rules.rowLocks) {
      throw new TransactionRefusedError('UNSUPPORTED_MODE', `transaction ${gid} is a ${rules.mode} transaction: its branches lock no rows`, gid);
    }
    const branch = snapshot.branches.find((b) => b.branchId === branchId);
    if (!branch) throw new TransactionRefusedError('NOT_REGISTERED', `transaction ${gid} has no branch ${branchId}`, gid);
    this.#authenticate(request, branch.operations[words.op['rolling-back']]);
    const keys = distinctKeys(request.keys);
    const now = clock.now();
    const result = await store.lockRows({ gid, branchId, keys, guard: rules.registrationGuard(now), now });
    if (!result) throw new TransactionRefusedError('NOT_FOUND', `no transaction with gid ${gid}`, gid);
    if (result.kind === 'conflict') {
      logger.debug({ gid, branchId, holder: result.holder.gid, key: result.holder.key }, 'row lock conflict');
      return result;
    }
    if (result.kind === 'refused') {
      const txn = result.before.transaction;
      if (txn.status === 'open') {
        throw new TransactionRefusedError(
          'DEADLINE_PASSED',
          `transaction ${gid} passed its deadline: its rows can no longer be locked`,
          gid,
          words.status[txn.status],
        );
      }
      throw new TransactionRefusedError(
        'ILLEGAL_STATE',
        `transaction ${gid} is ${words.status[txn.status]}: rows are locked only while ${words.status.open}`,
        gid,
        words.status[txn.status],
      );
    }
    logger.debug({ gid, branchId, keys: keys.length }, 'rows locked');
    return { kind: 'locked', keys: keys.length };
  }

  /** Who holds `keys` now (those held; free ones are left out). */
  held(keys: readonly RowKey[]): Promise<RowLockHolder[]> {
    return this.options.store.heldRowLocks(distinctKeys(keys));
  }

  #authenticate(request: LockRequest, url: string | undefined): void {
    const key = url === undefined ? null : this.options.participants.keyFor(url);
    // Unsigned calls only where the coordinator signs none either (development mode without a secret).
    if (key === null) return;
    const check = verifyRowLockRequest(key, request, request.signature, this.options.clock.now(), ROW_LOCK_MAX_SKEW_MS);
    if (!check.ok) throw new RowLockAuthError(check.reason);
  }
}

/** The keys as the log keys them (the primary key's canonical JSON), each once. */
function distinctKeys(keys: readonly RowKey[]): RowLockKey[] {
  const seen = new Map<string, RowLockKey>();
  for (const key of keys) {
    const lockKey = { resource: key.resource, table: key.table, pk: canonicalPk(key.pk) };
    seen.set(JSON.stringify(lockKey), lockKey);
  }
  return [...seen.values()];
}
