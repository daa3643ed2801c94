/**
 * The sender's side of a transactional message (two-phase message): the
 * message is prepared on the coordinator with its receivers, the sender's
 * local transaction commits its work together with the message's sender
 * row, then the message is submitted and the coordinator delivers it to
 * every receiver until each accepted it.
 *
 *   const outcome = await dtx
 *     .message({ checkUrl: 'http://orders/dtx/orders-outbox/check' })
 *     .deliver('points', { url: 'http://loyalty/dtx/award-points', payload: { account, points } })
 *     .commitWith(db, async (trx) => trx('orders').insert(order));
 *
 * Why the sender row: the sender may die between its commit and the submit.
 * The coordinator then asks the sender's check-back (defineMessageSender),
 * which reads that row: committed → the message is delivered; never
 * committed → dropped, and the row it writes refuses a late commit. So the
 * message is delivered exactly when the local transaction committed.
 */
import type { Knex } from 'knex';
import { isValidBranchId, MESSAGE_SENDER_BRANCH } from '@dtx/protocol';
import { senderCommitDecision } from '../barrier/decision.ts';
import { DEFAULT_BARRIER_TABLE } from '../barrier/input.ts';
import { answerCheckBack, assertSenderRowKey, claimSenderRow } from '../barrier/sender-row.ts';
import { DtxError } from '../errors.ts';
import type { CoordinatorClient } from './coordinator-client.ts';
import { CoordinatorRefusedError, CoordinatorUnavailableError, MessageAbortedError, MessageAlreadyCommittedError } from './errors.ts';

/**
 * A message's status on the coordinator: `prepared` until submitted (or
 * decided by the check-back); `submitted` while it is delivered (and
 * retried); `delivered` once every receiver accepted it; `aborting` /
 * `aborted` when it is dropped (nothing is delivered).
 */
export type MessageStatus = 'prepared' | 'submitted' | 'aborting' | 'delivered' | 'aborted';

/** Options of one message. */
export interface MessageOptions {
  /** Choose the gid (default: a time-ordered UUID). */
  gid: string;
  /**
   * The sender's check-back URL, called by the coordinator if the message is
   * still prepared after `timeoutMs`: the `check` endpoint of this service's
   * {@link defineMessageSender} resource, e.g. `https://orders.internal/dtx/orders-outbox/check`.
   * That participant must use the database and barrier table commitWith writes to.
   */
  checkUrl: string;
  /** How long after the prepare the coordinator waits for the submit before it asks the check-back. Default: the coordinator's. */
  timeoutMs?: number;
  /** Nothing is delivered before this time (the submit is still needed, or the check-back's yes). */
  deliverAt?: Date;
  /** Reason recorded with the submit (the message's decision). */
  reason?: string;
}

/** Where a receiver's deliver call goes: a resource URL served by this SDK (`<url>/deliver`), or the deliver URL spelled out. */
export type MessageReceiverTarget = { url: string; payload?: unknown } | { deliverUrl: string; payload?: unknown };

/** The body of the coordinator's prepare call (`POST /v1/messages`). */
export interface MessagePreparation {
  gid: string;
  checkUrl: string;
  timeoutMs?: number;
  /** ISO 8601. */
  deliverAt?: string;
  reason?: string;
  /** Each receiver: its branch id, its deliver URL, the JSON body of its deliver call. */
  branches: { id: string; url: string; payload?: unknown }[];
}

/** Options of {@link Message.commitWith}. */
export interface CommitWithOptions {
  /** The sender's barrier table, the one its defineMessageSender participant uses. Default `dtx_barrier`. */
  barrierTable?: string;
  /** How long the submit waits for the deliveries (ms). Default 0: return as soon as the message is submitted. */
  waitMs?: number;
}

/**
 * How a message ended on the sender's side, once its local transaction committed.
 *
 * @typeParam T - what the local transaction's function returned
 */
export interface MessageOutcome<T> {
  /** The message's id. */
  gid: string;
  /**
   * `submitted` or `delivered` (with a wait); `prepared` when the submit could
   * not reach the coordinator: the work is committed all the same, and the
   * coordinator's check-back will find it and deliver the message.
   */
  status: MessageStatus;
  /** What the local transaction's function returned. */
  result: T;
}

/** A transactional message being put together: add receivers, then {@link Message.commitWith}. Made by `DtxClient.message`. */
export class Message {
  readonly #receivers: { id: string; url: string; payload: unknown }[] = [];

  /** @internal */
  constructor(
    private readonly coordinator: CoordinatorClient,
    private readonly options: MessageOptions,
    private readonly now: () => number,
  ) {}

  /** The message's id. */
  get gid(): string {
    return this.options.gid;
  }

  /**
   * Add a receiver: the coordinator POSTs its deliver URL (op `deliver`,
   * branch id `id`, body the payload) once the message is submitted, and
   * retries until it answers 2xx.
   *
   * @param id - the receiver's branch id within the message ([A-Za-z0-9_.-], 1..64; not `sender`)
   * @param target - a receiver resource's URL (defineMessageReceiver: `<url>/deliver`) or `deliverUrl`, and the payload (default `null`)
   * @returns this message, to add more receivers
   * @throws DtxError `INVALID_RECEIVER` for a malformed, reserved or repeated id
   */
  deliver(id: string, target: MessageReceiverTarget): this {
    if (!isValidBranchId(id)) throw new DtxError('INVALID_RECEIVER', `receiver id ${JSON.stringify(id)} must be 1-64 characters of [A-Za-z0-9_.-]`);
    if (id === MESSAGE_SENDER_BRANCH) throw new DtxError('INVALID_RECEIVER', `receiver id ${MESSAGE_SENDER_BRANCH} is the sender's own, for its check-back`);
    if (this.#receivers.some((receiver) => receiver.id === id)) throw new DtxError('INVALID_RECEIVER', `receiver ${id} is added twice`);
    const url = 'url' in target ? `${target.url.replace(/\/+$/, '')}/deliver` : target.deliverUrl;
    this.#receivers.push({ id, url, payload: target.payload ?? null });
    return this;
  }

  /**
   * Send the message with the sender's local transaction:
   * 1. prepare it on the coordinator (nothing is delivered yet);
   * 2. run `work` in a knex transaction on `knex`, after claiming the
   *    message's sender row in it first, and commit: the row commits with
   *    the work, or neither does;
   * 3. submit it: the coordinator delivers it to every receiver.
   *
   * If step 2 fails, the message is dropped by the sender's own record: the
   * sender row is claimed as "never committed" (so a twin of this gid sent
   * again cannot commit later), then the message is aborted and the error
   * rethrown — unless a twin had committed it, then it is submitted. Both
   * are best effort: a message left prepared is decided by the check-back. If only the COMMIT failed, the transaction may have
   * committed: the message is left prepared, for the check-back to decide by
   * what the database holds. If step 3 cannot reach the coordinator, the
   * commit stands and the outcome says `prepared`: the check-back delivers
   * the message later.
   *
   * @typeParam T - what `work` returns
   * @param knex - the sender's database: where its barrier table is (that of its defineMessageSender participant)
   * @param work - the sender's local work, on the transaction the sender row is in
   * @param options - the barrier table, and how long the submit waits for the deliveries
   * @returns the gid, the status after the submit, and `work`'s result
   * @throws MessageAbortedError when the message was dropped first (its check-back
   *   answered "never committed", or it was aborted): nothing of `work` committed;
   *   MessageAlreadyCommittedError when this gid's local transaction committed
   *   before (the work is not run again); whatever `work` throws, after the
   *   abort; the database's error when the transaction fails;
   *   CoordinatorRefusedError when the coordinator refuses the prepare (nothing
   *   ran) or the submit (the work is committed: a case for an operator);
   *   CoordinatorUnavailableError when the prepare cannot reach it (nothing ran);
   *   DtxError `INVALID_RECEIVER` without receivers; BarrierInputError on a bad barrier table
   *
   * @example
   * ```ts
   * import { MessageAbortedError } from '@dtx/participant-sdk';
   *
   * try {
   *   const outcome = await dtx
   *     .message({ checkUrl: 'http://orders:4003/dtx/orders-outbox/check', timeoutMs: 10_000 })
   *     .deliver('points', { url: 'http://loyalty:4004/dtx/award-points', payload: { account: 'alice', points: 30 } })
   *     .commitWith(db, async (trx) => {
   *       const [id] = await trx('orders').insert({ account: 'alice', total: 30 });
   *       return id;
   *     });
   *   console.log(outcome.gid, outcome.status, outcome.result);   // 'submitted' ('prepared' if the submit did not get through)
   * } catch (error) {
   *   if (error instanceof MessageAbortedError) console.log('dropped before it committed:', error.gid);
   *   else throw error;
   * }
   * ```
   */
  async commitWith<T>(knex: Knex, work: (trx: Knex.Transaction) => Promise<T>, options: CommitWithOptions = {}): Promise<MessageOutcome<T>> {
    const { gid } = this;
    const table = options.barrierTable ?? DEFAULT_BARRIER_TABLE;
    assertSenderRowKey(table, gid);
    if (this.#receivers.length === 0) throw new DtxError('INVALID_RECEIVER', `message ${gid} has no receiver`);

    const prepared = await this.coordinator.prepareMessage({
      gid,
      checkUrl: this.options.checkUrl,
      timeoutMs: this.options.timeoutMs,
      deliverAt: this.options.deliverAt?.toISOString(),
      reason: this.options.reason,
      branches: this.#receivers,
    });
    // A re-sent gid: only a message still prepared may still commit here.
    if (prepared.status === 'aborting' || prepared.status === 'aborted') throw aborted(gid, `message ${gid} is ${prepared.status}`);
    if (prepared.status !== 'prepared') throw alreadyCommitted(gid);

    let workReturned = false;
    let result: T;
    try {
      result = await knex.transaction(async (trx) => {
        // First: a check-back in flight is waited for, and one that wins blocks this commit.
        const row = await claimSenderRow(trx, table, gid, 'commit', this.now());
        const decision = senderCommitDecision(row.inserted, row.origin);
        if (decision === 'aborted') throw aborted(gid, `message ${gid} was dropped by its check-back before this transaction committed`);
        if (decision === 'already-committed') throw alreadyCommitted(gid);
        const value = await work(trx);
        workReturned = true;
        return value;
      });
    } catch (error) {
      if (error instanceof MessageAlreadyCommittedError) {
        await this.#submitQuietly();
      } else if (!(error instanceof MessageAbortedError) && !workReturned) {
        // Rolled back for sure (a failed transaction is never committed): nothing must be delivered.
        await this.#dropQuietly(knex, table, error);
      }
      // Otherwise the COMMIT itself failed and may have happened: the check-back reads the row and decides.
      throw error;
    }

    try {
      const submitted = await this.coordinator.submit<MessageStatus>(gid, { mode: 'msg', reason: this.options.reason, waitMs: options.waitMs ?? 0 });
      return { gid, status: submitted.status, result };
    } catch (error) {
      // The work is committed: never throw it away. The check-back will answer "committed".
      if (error instanceof CoordinatorUnavailableError) return { gid, status: 'prepared', result };
      throw error;
    }
  }

  /**
   * This transaction rolled back, but a twin (the same gid sent again by a re-sent request) may
   * have committed, or may be committing right now: the message is dropped only by the sender's
   * own record. Claiming the sender row as the check-back would (waiting for a twin in flight)
   * either makes "never committed" final here, so a late twin is refused, or finds the twin's
   * commit, and the message is submitted instead. The coordinator's abort asks the check-back
   * again anyway; if this fails, that answer decides.
   */
  async #dropQuietly(knex: Knex, table: string, cause: unknown): Promise<void> {
    let answer: 'committed' | 'not-committed' | 'unknown' = 'unknown';
    try {
      answer = await answerCheckBack(knex, { table, gid: this.gid, now: this.now });
    } catch {
      // The database may be what failed the work: the coordinator's check-back decides.
    }
    if (answer === 'committed') return this.#submitQuietly();
    const reason = (cause instanceof Error ? cause.message : String(cause)).slice(0, 500);
    try {
      await this.coordinator.abort<MessageStatus>(this.gid, { mode: 'msg', reason, waitMs: 0 });
    } catch (error) {
      if (error instanceof CoordinatorRefusedError || error instanceof CoordinatorUnavailableError) return;
      throw error;
    }
  }

  /** Left to the check-back if it fails (it finds the committed row and delivers the message). */
  async #submitQuietly(): Promise<void> {
    try {
      await this.coordinator.submit<MessageStatus>(this.gid, { mode: 'msg', reason: this.options.reason, waitMs: 0 });
    } catch (error) {
      if (error instanceof CoordinatorRefusedError || error instanceof CoordinatorUnavailableError) return;
      throw error;
    }
  }
}

function aborted(gid: string, message: string): MessageAbortedError {
  return new MessageAbortedError(gid, `${message}: nothing of the local transaction committed, nothing is delivered`);
}

function alreadyCommitted(gid: string): MessageAlreadyCommittedError {
  return new MessageAlreadyCommittedError(gid, `the local transaction of message ${gid} already committed; its work is not run again`);
}
