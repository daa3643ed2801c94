/**
 * A transactional message's sender row: one barrier row per message, key
 * (gid, MESSAGE_SENDER_BRANCH, `check`), claimed by whichever comes first of
 * the sender's local transaction (commitWith, origin `commit`) and the
 * coordinator's check-back (origin `check`).
 *
 * Why one key for both: the unique key makes the race atomic. The sender
 * claims the row first thing in its local transaction, so the row commits or
 * rolls back with its work; a check-back arriving meanwhile blocks on the row
 * lock, then finds the committed row (answer: committed) or, after a
 * rollback, inserts it (answer: never committed). Once the check-back's row
 * is committed, a late sender transaction finds it and must roll back
 * (anti-suspension): the message it would have sent is already dropped.
 */
import type { Knex } from 'knex';
import { MESSAGE_SENDER_BRANCH } from '@dtx/protocol';
import { DtxError } from '../errors.ts';
import { checkBackAnswer, type SenderRowOrigin } from './decision.ts';
import type { BarrierDialect, BarrierKey } from './dialect.ts';
import { barrierDialectOf } from './dialect-of.ts';
import { assertBarrierKey, assertTableName, DEFAULT_BARRIER_TABLE } from './input.ts';
import { isRetryableLockError, withLockRetry } from './lock-retry.ts';

/** The check op's row is the only one a sender has. */
const SENDER_OP = 'check';

/** Throws BarrierInputError unless the table and gid are writable as they are (before any SQL, as the barrier does). */
export function assertSenderRowKey(table: string, gid: string): void {
  assertTableName(table);
  assertBarrierKey(gid, MESSAGE_SENDER_BRANCH, SENDER_OP);
}

/**
 * Claim the sender's row of `gid` with `origin` (the dialect's claim, as
 * every barrier row), then say who holds it. If another open transaction
 * holds the key, the claim waits for it to commit (→ not inserted, its
 * origin read back) or roll back (→ inserted).
 *
 * Precondition: assertSenderRowKey passed; `trx` is on the mysql2 or pg
 * client. Effect: on `inserted`, the row is written in `trx` (committed or
 * rolled back with it); otherwise a shared lock on the existing row until
 * `trx` ends.
 */
export async function claimSenderRow(
  trx: Knex.Transaction,
  table: string,
  gid: string,
  origin: SenderRowOrigin,
  now: number,
  dialect: BarrierDialect = barrierDialectOf(trx),
): Promise<{ inserted: boolean; origin: string }> {
  const query = async (sql: string, values: readonly unknown[]) => dialect.fromKnexRaw(await trx.raw(sql, values as Knex.RawBinding[]));
  const key: BarrierKey = { table, gid, branchId: MESSAGE_SENDER_BRANCH };
  if (await dialect.claim(query, { ...key, op: SENDER_OP, originOp: origin, createdAt: now })) return { inserted: true, origin };
  // A locked read: the latest committed row, whatever the transaction's isolation level.
  const [row] = await dialect.lockedRows(query, key, [SENDER_OP]);
  if (!row) {
    // Ignored for another reason than this key (a truncated key matching another row): never guess.
    throw new DtxError('BARRIER_ROW_MISSING', `barrier insert was ignored but no sender row exists for message ${gid}`);
  }
  return { inserted: false, origin: row.originOp };
}

/** What {@link answerCheckBack} needs. */
export interface CheckBackOptions {
  /** Barrier table name; defaults to `dtx_barrier`. */
  table?: string;
  /** The message's gid. */
  gid: string;
  /** Clock for `created_at`, in epoch milliseconds. */
  now: () => number;
  /** Attempts on deadlock / lock wait timeout, the first included. Default 2: a check-back is asked again later anyway. */
  maxAttempts?: number;
  /** Told about each retried lock conflict. */
  onRetry?: (error: unknown, attempt: number) => void;
}

/**
 * Answer the coordinator's check-back for message `gid`: claim its sender
 * row (origin `check`) in a READ COMMITTED transaction of its own and say
 * whether the sender committed. A sender transaction in flight is waited
 * for (up to the database's lock wait timeout; then the call fails and the
 * coordinator asks again).
 *
 * This is the check-back alone, for a sender that receives the coordinator's
 * calls some other way than through createParticipant (which answers it for
 * a defineMessageSender resource): answer 200 for `committed`, 409 otherwise.
 *
 * @returns `committed` or `not-committed` (the row written now, or earlier, by a check-back)
 * @throws BarrierInputError on an invalid gid or table; the database's errors
 *
 * @example
 * ```ts
 * import { answerCheckBack } from '@dtx/participant-sdk';
 *
 * const answer = await answerCheckBack(db, { gid, now: Date.now });   // after checking the call's signature
 * const statusCode = answer === 'committed' ? 200 : 409;
 * ```
 */
export async function answerCheckBack(knex: Knex, options: CheckBackOptions): Promise<'committed' | 'not-committed'> {
  return answerCheckBackOn(barrierDialectOf(knex), knex, options);
}

/** answerCheckBack with the dialect chosen beforehand (createParticipant chooses it once). */
export async function answerCheckBackOn(dialect: BarrierDialect, knex: Knex, options: CheckBackOptions): Promise<'committed' | 'not-committed'> {
  const table = options.table ?? DEFAULT_BARRIER_TABLE;
  assertSenderRowKey(table, options.gid);
  const attempt = async () => {
    const row = await knex.transaction((trx) => claimSenderRow(trx, table, options.gid, 'check', options.now(), dialect), {
      isolationLevel: 'read committed',
    });
    return checkBackAnswer(row.origin);
  };
  return withLockRetry(attempt, {
    maxAttempts: options.maxAttempts ?? 2,
    baseDelayMs: 20,
    retryable: (error) => isRetryableLockError(error, dialect),
    ...(options.onRetry ? { onRetry: options.onRetry } : {}),
  });
}
