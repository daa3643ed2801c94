/**
 * Defining the resources a participant exposes: a name and one handler per op.
 *
 * A resource definition is typed by its payload P (and, for try, its result
 * R); the participant only sees the erased, mode-independent shape
 * `Resource`: a TCC resource (try/confirm/cancel), a saga resource
 * (action/compensate) or a message receiver (deliver), each a member of the
 * union, routed and run behind the barrier the same way; and a message
 * sender, whose one op (check) is answered by the SDK itself.
 */
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { BranchSql } from './barrier/barrier.ts';
import type { FmtBranchContext } from './fmt/fmt-resource.ts';
import { ParticipantConfigError } from './errors.ts';
import { isValidCallerName, type BranchOp } from '@dtx/protocol';

/** What every handler gets for one call. */
export interface CallContext<P> {
  /** The global transaction's id. */
  gid: string;
  /** This branch's id within the transaction. */
  branchId: string;
  /** The op being run: `try`, `confirm` or `cancel` for a TCC resource; `action` or `compensate` for a saga resource; `deliver` for a message receiver. */
  op: BranchOp;
  /**
   * The service this call acts for, authenticated: on a try or a prepare, the initiator whose key
   * signed it (its name in `initiatorKeys`); on a call from the coordinator, the caller that
   * registered the branch (a message: its sender), as the coordinator authenticated it by its API
   * token. Null when the call carries none (a coordinator in development mode without tokens). In
   * insecure development mode it is whatever the header says, unverified.
   */
  caller: string | null;
  /** The parsed JSON body; `null` when the call had no body. Not validated: check it in the handler. */
  payload: P;
  /**
   * The body exactly as sent: the payload as the initiator registered it.
   * Parse it yourself where JSON.parse would alter a value (integers beyond
   * 2^53, decimals that must keep their digits).
   */
  rawPayload: string;
  /**
   * Runs one statement in the local transaction the barrier rows are in (`?`
   * placeholders, values escaped by mysql2). Do all business SQL in it, or it is not covered.
   */
  sql: BranchSql;
  /** A pino child logger carrying gid, branchId and op. */
  log: Logger;
}

/**
 * What a handler of a {@link defineTcc}, {@link defineSaga} or {@link defineMessageReceiver} resource gets for one call: the
 * call's identity and payload, `sql`, and the same local transaction as a
 * knex transaction. Everything done through `trx` (or `sql`) commits or rolls
 * back together with the barrier rows, which is what makes the handler
 * idempotent.
 *
 * @typeParam P - the payload's type, as the initiator sends it (not validated)
 */
export interface BranchContext<P> extends CallContext<P> {
  /** The local transaction the barrier rows are in, for knex's query builder. */
  trx: Knex.Transaction;
}

/**
 * What a handler of a {@link defineSqlTcc}, {@link defineSqlSaga} or {@link defineSqlMessageReceiver} resource gets: `sql` only, run on the
 * local transaction's mysql2 connection. Cheaper than a knex transaction per
 * call; see runInSqlBarrier.
 *
 * @typeParam P - the payload's type, as the initiator sends it (not validated)
 */
export type SqlBranchContext<P> = CallContext<P>;

/**
 * Who may run a resource's first op. Optional on every definition that has one.
 */
export interface CallerAllowList {
  /**
   * Only these callers (their names on the coordinator, as `ctx.caller` shows them) may run the
   * resource's first op: try, action, deliver or prepare. A call for anyone else is refused with
   * 409 `CALLER_NOT_ALLOWED` before the barrier: the initiator's try fails and it aborts, a saga
   * turns back, a delivery is retried and flagged for an operator. The ops that undo or finish a
   * branch are never refused for their caller: they only act on what the first op did here (or
   * answer a null compensation). Default: any authenticated caller.
   */
  callers?: readonly string[];
}

/**
 * The three handlers of a TCC resource whose handlers use knex, as given to
 * {@link defineTcc}. Each runs inside the barrier, in one local transaction
 * with the barrier rows.
 *
 * @typeParam P - the payload's type
 * @typeParam R - what try returns to the initiator
 */
export interface TccResourceDefinition<P, R = unknown> extends CallerAllowList {
  /** Path segment of the resource: [a-z0-9-], e.g. `transfer-out`. */
  name: string;
  /** Reserve. Its return value is sent back to the caller (must be JSON-serialisable). Throw BranchRejectedError to refuse. */
  try(ctx: BranchContext<P>): Promise<R> | R;
  /** Use the reservation. Must eventually succeed: the coordinator retries it until it does. */
  confirm(ctx: BranchContext<P>): Promise<void> | void;
  /** Release the reservation. Only runs if try committed here; must eventually succeed. */
  cancel(ctx: BranchContext<P>): Promise<void> | void;
}

/**
 * The three handlers of a plain-SQL TCC resource, as given to
 * {@link defineSqlTcc}: the same ops as {@link TccResourceDefinition}, with
 * handlers on {@link SqlBranchContext}.
 *
 * @typeParam P - the payload's type
 * @typeParam R - what try returns to the initiator
 */
export interface SqlTccResourceDefinition<P, R = unknown> extends CallerAllowList {
  /** Path segment of the resource: [a-z0-9-], e.g. `transfer-out`. */
  name: string;
  /** Reserve. Its return value is sent back to the caller (must be JSON-serialisable). Throw BranchRejectedError to refuse. */
  try(ctx: SqlBranchContext<P>): Promise<R> | R;
  /** Use the reservation. Must eventually succeed: the coordinator retries it until it does. */
  confirm(ctx: SqlBranchContext<P>): Promise<void> | void;
  /** Release the reservation. Only runs if try committed here; must eventually succeed. */
  cancel(ctx: SqlBranchContext<P>): Promise<void> | void;
}

/** A handler with its payload type erased, as the participant runs it (its context matches the resource's `transaction`). */
export type BranchHandler = (ctx: BranchContext<unknown> | SqlBranchContext<unknown> | FmtBranchContext<unknown>) => Promise<unknown>;

/**
 * The saga step of a resource whose handlers use knex, as given to
 * {@link defineSaga}: an action and the compensation that undoes it. Each
 * runs inside the barrier, in one local transaction with the barrier rows.
 *
 * @typeParam P - the payload's type (the action and the compensation each get
 *   the payload registered for them)
 */
export interface SagaResourceDefinition<P> extends CallerAllowList {
  /** Path segment of the resource: [a-z0-9-], e.g. `transfer-out`. */
  name: string;
  /**
   * Do the step's work; it commits with the barrier row. Throw BranchRejectedError to refuse (409):
   * the saga rolls back, and since the refusal rolled back everything the action did here, its
   * compensation then arrives as a null compensation.
   */
  action(ctx: BranchContext<P>): Promise<void> | void;
  /**
   * Undo the action. Runs once, and only if the action committed here; must eventually succeed (the
   * coordinator retries it until it does). Never refuse: a BranchRejectedError is answered 409 as
   * for a TCC cancel, which the coordinator retries all the same and flags for an operator.
   */
  compensate(ctx: BranchContext<P>): Promise<void> | void;
}

/**
 * The saga step of a plain-SQL resource, as given to {@link defineSqlSaga}:
 * the same ops as {@link SagaResourceDefinition}, with handlers on
 * {@link SqlBranchContext}.
 *
 * @typeParam P - the payload's type
 */
export interface SqlSagaResourceDefinition<P> extends CallerAllowList {
  /** Path segment of the resource: [a-z0-9-], e.g. `transfer-out`. */
  name: string;
  /** Do the step's work; see {@link SagaResourceDefinition.action}. Throw BranchRejectedError to refuse (the saga rolls back). */
  action(ctx: SqlBranchContext<P>): Promise<void> | void;
  /** Undo the action; see {@link SagaResourceDefinition.compensate}. Must eventually succeed; never refuse. */
  compensate(ctx: SqlBranchContext<P>): Promise<void> | void;
}

/**
 * The receiving end of a transactional message whose handler uses knex, as
 * given to {@link defineMessageReceiver}. The handler runs inside the
 * barrier, in one local transaction with the barrier row.
 *
 * @typeParam P - the payload's type, as the sender registered it
 */
export interface MessageReceiverDefinition<P> extends CallerAllowList {
  /** Path segment of the resource: [a-z0-9-], e.g. `send-receipt`. */
  name: string;
  /**
   * Apply the message; it commits with the barrier row, so a re-delivery never applies it twice.
   * Must eventually succeed: the coordinator retries the delivery until it answers 2xx. A
   * BranchRejectedError is answered 409, which the coordinator retries all the same and flags
   * for an operator; BranchOngoingError is 425 (asked again later).
   */
  deliver(ctx: BranchContext<P>): Promise<void> | void;
}

/**
 * The receiving end of a transactional message, as given to
 * {@link defineSqlMessageReceiver}: the same op as
 * {@link MessageReceiverDefinition}, with its handler on {@link SqlBranchContext}.
 *
 * @typeParam P - the payload's type
 */
export interface SqlMessageReceiverDefinition<P> extends CallerAllowList {
  /** Path segment of the resource: [a-z0-9-], e.g. `send-receipt`. */
  name: string;
  /** Apply the message; see {@link MessageReceiverDefinition.deliver}. Must eventually succeed. */
  deliver(ctx: SqlBranchContext<P>): Promise<void> | void;
}

/** The sender's end of its transactional messages, as given to {@link defineMessageSender}: a name, nothing else. */
export interface MessageSenderDefinition {
  /** Path segment of the resource: [a-z0-9-], e.g. `orders-outbox`. */
  name: string;
}

/**
 * The transaction mode a resource takes part in: `tcc` (try/confirm/cancel),
 * `saga` (action/compensate), `msg` (a message receiver: deliver),
 * `msg-sender` (a message sender's check-back: check), `xa` (an XA branch:
 * prepare/commit/rollback) or `fmt` (an FMT branch: execute/commit/rollback).
 */
export type ResourceMode = 'tcc' | 'saga' | 'msg' | 'msg-sender' | 'xa' | 'fmt';

/**
 * The ops a resource of each mode answers, in protocol order. A call for any
 * other op (a saga op on a TCC resource, a TCC op on a saga resource...) is
 * answered 404 `UNKNOWN_OP`.
 */
export const RESOURCE_OPS: Readonly<Record<ResourceMode, readonly BranchOp[]>> = Object.freeze({
  tcc: Object.freeze(['try', 'confirm', 'cancel'] as const),
  saga: Object.freeze(['action', 'compensate'] as const),
  msg: Object.freeze(['deliver'] as const),
  'msg-sender': Object.freeze(['check'] as const),
  xa: Object.freeze(['prepare', 'commit', 'rollback'] as const),
  fmt: Object.freeze(['execute', 'commit', 'rollback'] as const),
});

/** How handlers reach the local transaction: a knex transaction (`ctx.trx`) or plain SQL (`ctx.sql`). */
export type LocalTransactionKind = 'knex' | 'sql';

export interface ResourceBase<P, R> {
  readonly name: string;
  readonly mode: ResourceMode;
  readonly transaction: LocalTransactionKind;
  /** The handlers of the resource's ops (RESOURCE_OPS of its mode); a message sender has none, its check-back is built in. */
  readonly handlers: Readonly<Partial<Record<BranchOp, BranchHandler>>>;
  /** Who may run its first op (CallerAllowList); null: any authenticated caller. */
  readonly callers: readonly string[] | null;
  /** Type-level only (never set): lets callers infer the payload and result types. */
  readonly __types?: { payload: P; result: R };
}

/**
 * A TCC resource, ready to be served by {@link createParticipant}: what
 * {@link defineTcc} and {@link defineSqlTcc} return. Opaque to users: pass it
 * in `resources`, do not build it by hand.
 *
 * @typeParam P - the payload's type
 * @typeParam R - what try returns
 */
export interface TccResource<P = unknown, R = unknown> extends ResourceBase<P, R> {
  /** Always `tcc`: served at `/<name>/{try,confirm,cancel}`. */
  readonly mode: 'tcc';
}

/**
 * A saga resource, ready to be served by {@link createParticipant}: what
 * {@link defineSaga} and {@link defineSqlSaga} return. Opaque to users: pass
 * it in `resources`, do not build it by hand.
 *
 * @typeParam P - the payload's type
 */
export interface SagaResource<P = unknown> extends ResourceBase<P, null> {
  /** Always `saga`: served at `/<name>/{action,compensate}`. */
  readonly mode: 'saga';
}

/**
 * A message receiver, ready to be served by {@link createParticipant}: what
 * {@link defineMessageReceiver} and {@link defineSqlMessageReceiver} return.
 * Opaque to users: pass it in `resources`, do not build it by hand.
 *
 * @typeParam P - the payload's type
 */
export interface MessageReceiverResource<P = unknown> extends ResourceBase<P, null> {
  /** Always `msg`: served at `/<name>/deliver`. */
  readonly mode: 'msg';
}

/**
 * A message sender's check-back, ready to be served by
 * {@link createParticipant}: what {@link defineMessageSender} returns. Opaque
 * to users: pass it in `resources`, do not build it by hand.
 */
export interface MessageSenderResource extends ResourceBase<null, null> {
  /** Always `msg-sender`: served at `/<name>/check`. */
  readonly mode: 'msg-sender';
}

/**
 * An XA resource, ready to be served by {@link createParticipant}: what
 * {@link defineXa} returns. Opaque to users: pass it in `resources`, do not
 * build it by hand.
 *
 * @typeParam P - the payload's type
 * @typeParam R - what prepare returns
 */
export interface XaResource<P = unknown, R = unknown> extends ResourceBase<P, R> {
  /** Always `xa`: served at `/<name>/{prepare,commit,rollback}`; only prepare has a handler. */
  readonly mode: 'xa';
}

/**
 * An FMT resource, ready to be served by {@link createParticipant}: what
 * defineFmt returns. Opaque to users: pass it in `resources`, do not build it
 * by hand.
 *
 * @typeParam P - the payload's type
 * @typeParam R - what execute returns
 */
export interface FmtResource<P = unknown, R = unknown> extends ResourceBase<P, R> {
  /** Always `fmt`: served at `/<name>/{execute,commit,rollback}`; only execute has a handler. */
  readonly mode: 'fmt';
}

/** Any resource a participant can serve. */
export type Resource =
  | TccResource<unknown, unknown>
  | SagaResource<unknown>
  | MessageReceiverResource<unknown>
  | MessageSenderResource
  | XaResource<unknown, unknown>
  | FmtResource<unknown, unknown>;

const RESOURCE_NAME = /^[a-z0-9-]{1,64}$/;

/**
 * Check a resource name: 1..64 characters of [a-z0-9-], since it becomes a
 * path segment of the participant's URLs.
 *
 * @throws ParticipantConfigError when the name is not such a string
 */
export function assertResourceName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !RESOURCE_NAME.test(name)) {
    throw new ParticipantConfigError('resources', `resource name ${JSON.stringify(name)} must be 1..64 characters of [a-z0-9-]`);
  }
}

/**
 * Define a TCC resource whose handlers use a knex transaction (`ctx.trx`):
 * the way to expose a reservable business operation to dtx. The participant
 * serves it at `POST <prefix>/<name>/{try,confirm,cancel}` and runs each
 * handler behind the barrier, so duplicates, a cancel before its try and a
 * try after its cancel never reach your code.
 *
 * @typeParam P - the payload's type, as the initiator sends it (not validated: check it)
 * @typeParam R - what try returns to the initiator
 * @param def - the resource's name and its three handlers
 * @returns the resource, to pass in {@link ParticipantOptions.resources}
 * @throws ParticipantConfigError on a bad name or a missing handler
 *
 * @example
 * ```ts
 * import { BranchRejectedError, defineTcc } from '@dtx/participant-sdk';
 *
 * const debit = defineTcc<{ account: string; amount: number }>({
 *   name: 'debit',
 *   async try({ payload, trx }) {
 *     const changed = await trx('accounts').where('id', payload.account).andWhere('balance', '>=', payload.amount)
 *       .update({ balance: trx.raw('balance - ?', [payload.amount]), frozen: trx.raw('frozen + ?', [payload.amount]) });
 *     if (changed === 0) throw new BranchRejectedError('insufficient funds', { code: 'INSUFFICIENT_FUNDS' });
 *   },
 *   async confirm({ payload, trx }) {
 *     await trx('accounts').where('id', payload.account).update({ frozen: trx.raw('frozen - ?', [payload.amount]) });
 *   },
 *   async cancel({ payload, trx }) {
 *     await trx('accounts').where('id', payload.account)
 *       .update({ balance: trx.raw('balance + ?', [payload.amount]), frozen: trx.raw('frozen - ?', [payload.amount]) });
 *   },
 * });
 * ```
 */
export function defineTcc<P, R = unknown>(def: TccResourceDefinition<P, R>): TccResource<P, R> {
  return tccResource(def, 'knex');
}

/**
 * Define a TCC resource whose handlers run plain SQL on the local
 * transaction (`ctx.sql`). Needs the participant's knex on the mysql2 client.
 * Why: it spares the knex transaction object built per call (~90 KB), which
 * is what makes a busy participant's latency tail; prefer it for handlers
 * that need nothing but SQL.
 *
 * @typeParam P - the payload's type, as the initiator sends it (not validated: check it)
 * @typeParam R - what try returns to the initiator
 * @param def - the resource's name and its three handlers
 * @returns the resource, to pass in {@link ParticipantOptions.resources}
 * @throws ParticipantConfigError on a bad name or a missing handler (and, from
 *   createParticipant, when its knex is not on the mysql2 client)
 *
 * @example
 * ```ts
 * import { defineSqlTcc } from '@dtx/participant-sdk';
 *
 * const credit = defineSqlTcc<{ account: string; amount: number }>({
 *   name: 'credit',
 *   async try({ payload, sql }) {
 *     await sql('update accounts set incoming = incoming + ? where id = ?', [payload.amount, payload.account]);
 *   },
 *   async confirm({ payload, sql }) {
 *     await sql('update accounts set incoming = incoming - ?, balance = balance + ? where id = ?', [payload.amount, payload.amount, payload.account]);
 *   },
 *   async cancel({ payload, sql }) {
 *     await sql('update accounts set incoming = incoming - ? where id = ?', [payload.amount, payload.account]);
 *   },
 * });
 * ```
 */
export function defineSqlTcc<P, R = unknown>(def: SqlTccResourceDefinition<P, R>): TccResource<P, R> {
  return tccResource(def, 'sql');
}

/**
 * Define a saga step whose handlers use a knex transaction (`ctx.trx`): an
 * action and the compensation that undoes it. The participant serves it at
 * `POST <prefix>/<name>/{action,compensate}` behind the barrier, like a TCC
 * resource:
 * - a repeated action or compensation answers success without running again;
 * - a compensation whose action never ran here (or was refused, or failed)
 *   answers success without running (a null compensation: nothing to undo),
 *   and a late action of that branch is then refused for good (409 `SUSPENDED`);
 * - a compensation after a successful action runs once and undoes it.
 *
 * Refusing: an action may throw BranchRejectedError (409: the saga rolls
 * back). A compensation must not: it is answered 409 as a TCC cancel's
 * refusal is, and the coordinator retries it anyway and flags the saga for an
 * operator. Any other error is an unknown outcome (500), retried.
 *
 * @typeParam P - the payload's type, as registered for the step (not validated: check it)
 * @param def - the resource's name, its action and its compensation
 * @returns the resource, to pass in {@link ParticipantOptions.resources}
 * @throws ParticipantConfigError on a bad name or a missing handler
 *
 * @example
 * ```ts
 * import { BranchRejectedError, defineSaga } from '@dtx/participant-sdk';
 *
 * const withdraw = defineSaga<{ account: string; amount: number }>({
 *   name: 'withdraw',
 *   async action({ payload, trx }) {
 *     const changed = await trx('accounts').where('id', payload.account).andWhere('balance', '>=', payload.amount)
 *       .update({ balance: trx.raw('balance - ?', [payload.amount]) });
 *     if (changed === 0) throw new BranchRejectedError('insufficient funds', { code: 'INSUFFICIENT_FUNDS' });
 *   },
 *   async compensate({ payload, trx }) {
 *     await trx('accounts').where('id', payload.account).update({ balance: trx.raw('balance + ?', [payload.amount]) });
 *   },
 * });
 * ```
 */
export function defineSaga<P>(def: SagaResourceDefinition<P>): SagaResource<P> {
  return sagaResource(def, 'knex');
}

/**
 * Define a saga step whose handlers run plain SQL on the local transaction
 * (`ctx.sql`): the same barrier rules and refusals as {@link defineSaga},
 * without a knex transaction object per call (see {@link defineSqlTcc} for
 * why). Needs the participant's knex on the mysql2 client.
 *
 * @typeParam P - the payload's type, as registered for the step (not validated: check it)
 * @param def - the resource's name, its action and its compensation
 * @returns the resource, to pass in {@link ParticipantOptions.resources}
 * @throws ParticipantConfigError on a bad name or a missing handler (and, from
 *   createParticipant, when its knex is not on the mysql2 client)
 *
 * @example
 * ```ts
 * import { defineSqlSaga } from '@dtx/participant-sdk';
 *
 * const deposit = defineSqlSaga<{ account: string; amount: number }>({
 *   name: 'deposit',
 *   async action({ payload, sql }) {
 *     await sql('update accounts set balance = balance + ? where id = ?', [payload.amount, payload.account]);
 *   },
 *   async compensate({ payload, sql }) {
 *     // May take the balance below zero for a while: a compensation must not refuse.
 *     await sql('update accounts set balance = balance - ? where id = ?', [payload.amount, payload.account]);
 *   },
 * });
 * ```
 */
export function defineSqlSaga<P>(def: SqlSagaResourceDefinition<P>): SagaResource<P> {
  return sagaResource(def, 'sql');
}

/**
 * Define the receiving end of a transactional message, with a handler on a
 * knex transaction (`ctx.trx`). The participant serves it at
 * `POST <prefix>/<name>/deliver` behind the barrier: a delivery claims its
 * branch's `deliver` row with the handler's work, so a re-delivery (or two
 * deliveries at once) applies the message at most once and answers success
 * without running the handler again.
 *
 * A delivery must eventually succeed: the coordinator retries it until it
 * answers 2xx. Refusing (BranchRejectedError, answered 409) cannot undo the
 * sender's committed transaction; the coordinator keeps retrying and flags the
 * message for an operator.
 *
 * @typeParam P - the payload's type, as the sender registered it (not validated: check it)
 * @param def - the resource's name and its deliver handler
 * @returns the resource, to pass in {@link ParticipantOptions.resources}
 * @throws ParticipantConfigError on a bad name or a missing handler
 *
 * @example
 * ```ts
 * import { defineMessageReceiver } from '@dtx/participant-sdk';
 *
 * const points = defineMessageReceiver<{ account: string; points: number }>({
 *   name: 'award-points',
 *   async deliver({ payload, trx }) {
 *     await trx('loyalty').where('account', payload.account).increment('points', payload.points);
 *   },
 * });
 * ```
 */
export function defineMessageReceiver<P>(def: MessageReceiverDefinition<P>): MessageReceiverResource<P> {
  return messageReceiver(def, 'knex');
}

/**
 * Define the receiving end of a transactional message whose handler runs
 * plain SQL on the local transaction (`ctx.sql`): the same barrier rules as
 * {@link defineMessageReceiver}, without a knex transaction object per call
 * (see {@link defineSqlTcc} for why). Needs the participant's knex on the
 * mysql2 client.
 *
 * @typeParam P - the payload's type, as the sender registered it (not validated: check it)
 * @param def - the resource's name and its deliver handler
 * @returns the resource, to pass in {@link ParticipantOptions.resources}
 * @throws ParticipantConfigError on a bad name or a missing handler (and, from
 *   createParticipant, when its knex is not on the mysql2 client)
 *
 * @example
 * ```ts
 * import { defineSqlMessageReceiver } from '@dtx/participant-sdk';
 *
 * const receipts = defineSqlMessageReceiver<{ order: string; email: string }>({
 *   name: 'send-receipt',
 *   async deliver({ gid, payload, sql }) {
 *     await sql('insert into outgoing_mail (message_id, order_id, email) values (?, ?, ?)', [gid, payload.order, payload.email]);
 *   },
 * });
 * ```
 */
export function defineSqlMessageReceiver<P>(def: SqlMessageReceiverDefinition<P>): MessageReceiverResource<P> {
  return messageReceiver(def, 'sql');
}

/**
 * The handler of an XA resource, as given to {@link defineXa}: its work, as
 * plain SQL on the branch's connection, between XA START and XA PREPARE.
 *
 * @typeParam P - the payload's type
 * @typeParam R - what prepare returns to the initiator
 */
export interface XaResourceDefinition<P, R> extends CallerAllowList {
  /** Path segment of the resource: [a-z0-9-], e.g. `xa-debit`. */
  name: string;
  /** The branch's work; it is prepared when this returns, rolled back when it throws. */
  prepare(ctx: SqlBranchContext<P>): Promise<R> | R;
}

/**
 * Define the sender's end of transactional messages: the check-back the
 * coordinator calls at `POST <prefix>/<name>/check` when a message stayed
 * prepared past its timeout (its sender may have died between its local
 * commit and the submit). It has no handler: the answer is read from the
 * barrier row that `dtx.message(...).commitWith(...)` writes in the sender's
 * local transaction, so the participant must use the same database and
 * barrier table as commitWith.
 *
 * - that row committed: 200, the coordinator delivers the message;
 * - no row: the check-back writes it itself, in its own transaction, and
 *   answers 409 `NOT_COMMITTED`: the message is dropped, and the row now
 *   refuses a late commit of that message (commitWith throws
 *   MessageAbortedError and rolls back);
 * - a local transaction still in flight holds the row: the check waits for
 *   it and answers by its outcome (200 after its commit, 409 after its rollback).
 *
 * @param def - the resource's name
 * @returns the resource, to pass in {@link ParticipantOptions.resources}
 * @throws ParticipantConfigError on a bad name
 *
 * @example
 * ```ts
 * import knex from 'knex';
 * import { createParticipant, defineMessageSender } from '@dtx/participant-sdk';
 *
 * const db = knex({ client: 'mysql2', connection: process.env.ORDERS_DB_URL });
 * const outbox = defineMessageSender({ name: 'orders-outbox' });   // POST /dtx/orders-outbox/check
 * const participant = createParticipant({ knex: db, resources: [outbox], coordinatorKey: process.env.ORDERS_KEY });
 * await participant.migrate();
 * ```
 */
export function defineMessageSender(def: MessageSenderDefinition): MessageSenderResource {
  assertResourceName(def.name);
  return Object.freeze({ name: def.name, mode: 'msg-sender' as const, transaction: 'knex' as const, handlers: Object.freeze({}), callers: null });
}

/**
 * Define an XA resource: a branch of work in the participant's MySQL or
 * MariaDB database that the coordinator commits or rolls back with the
 * others, without compensation. The participant serves it at
 * `POST <prefix>/<name>/{prepare,commit,rollback}`:
 * - prepare (called by the initiator, `dtx.xa(tx => tx.prepare(...))`): on a
 *   connection of its own, `XA START`, the barrier row, your handler's SQL
 *   (`ctx.sql`), `XA END`, `XA PREPARE`; the changes are then held, invisible
 *   and locked, until the decision. A handler that throws rolls them back
 *   (BranchRejectedError: 409, the initiator rolls the transaction back);
 * - commit and rollback (called by the coordinator) have no handler: the SDK
 *   runs `XA COMMIT` / `XA ROLLBACK`, each safe to repeat. A rollback of a
 *   branch never prepared here is a null rollback that refuses a late prepare.
 *
 * Branches left prepared by a crash (of the participant, or of the database)
 * are finished by the coordinator's retries, and by the participant's own
 * {@link Participant.startXaRecovery}.
 *
 * @typeParam P - the payload's type, as the initiator sends it (not validated: check it)
 * @typeParam R - what prepare returns to the initiator
 * @param def - the resource's name and its prepare handler
 * @returns the resource, to pass in {@link ParticipantOptions.resources}
 * @throws ParticipantConfigError on a bad name or a missing handler
 *
 * @example
 * ```ts
 * import { BranchRejectedError, defineXa } from '@dtx/participant-sdk';
 *
 * const debit = defineXa<{ account: string; amount: number }>({
 *   name: 'xa-debit',
 *   async prepare({ payload, sql }) {
 *     const { affectedRows } = await sql('update accounts set balance = balance - ? where id = ? and balance >= ?', [payload.amount, payload.account, payload.amount]);
 *     if (affectedRows === 0) throw new BranchRejectedError('insufficient funds', { code: 'INSUFFICIENT_FUNDS' });
 *   },
 * });
 * ```
 */
export function defineXa<P, R = unknown>(def: XaResourceDefinition<P, R>): XaResource<P, R> {
  assertResourceName(def.name);
  if (typeof (def as { prepare?: unknown }).prepare !== 'function')
    throw new ParticipantConfigError('resources', `resource ${def.name}: prepare must be a function`);
  const prepare: BranchHandler = async (ctx) => (def.prepare as (ctx: unknown) => unknown).call(def, ctx);
  return Object.freeze({ name: def.name, mode: 'xa' as const, transaction: 'sql' as const, handlers: Object.freeze({ prepare }), callers: callersOf(def) });
}

/** What tccResource needs of either definition; the contexts are the participant's to match. */
type AnyTccDefinition<R> = CallerAllowList & {
  name: string;
  try(ctx: never): Promise<R> | R;
  confirm(ctx: never): Promise<void> | void;
  cancel(ctx: never): Promise<void> | void;
};

/** What sagaResource needs of either definition. */
type AnySagaDefinition = CallerAllowList & {
  name: string;
  action(ctx: never): Promise<void> | void;
  compensate(ctx: never): Promise<void> | void;
};

function tccResource<P, R>(def: AnyTccDefinition<R>, transaction: LocalTransactionKind): TccResource<P, R> {
  return Object.freeze({ name: def.name, mode: 'tcc' as const, transaction, handlers: handlersOf(def, 'tcc'), callers: callersOf(def) });
}

function sagaResource<P>(def: AnySagaDefinition, transaction: LocalTransactionKind): SagaResource<P> {
  return Object.freeze({ name: def.name, mode: 'saga' as const, transaction, handlers: handlersOf(def, 'saga'), callers: callersOf(def) });
}

/** What messageReceiver needs of either definition. */
type AnyMessageReceiverDefinition = CallerAllowList & {
  name: string;
  deliver(ctx: never): Promise<void> | void;
};

function messageReceiver<P>(def: AnyMessageReceiverDefinition, transaction: LocalTransactionKind): MessageReceiverResource<P> {
  return Object.freeze({ name: def.name, mode: 'msg' as const, transaction, handlers: handlersOf(def, 'msg'), callers: callersOf(def) });
}

/** Check the definition's name and handlers for the mode's ops, and erase their types. */
function handlersOf(def: { name: string }, mode: ResourceMode): Readonly<Partial<Record<BranchOp, BranchHandler>>> {
  assertResourceName(def.name);
  const methods = def as unknown as Record<string, unknown>;
  for (const op of RESOURCE_OPS[mode]) {
    if (typeof methods[op] !== 'function') {
      throw new ParticipantConfigError('resources', `resource ${def.name}: ${op} must be a function`);
    }
  }
  // Handlers are called as methods of the definition so that `this` works in them. The
  // participant hands each the context of the resource's `transaction` kind.
  const handlers: Partial<Record<BranchOp, BranchHandler>> = {};
  for (const op of RESOURCE_OPS[mode]) {
    handlers[op] = async (ctx) => (methods[op] as (ctx: unknown) => unknown).call(def, ctx);
  }
  return Object.freeze(handlers);
}

/** The definition's allow-list, checked and frozen; null when it has none. */
export function callersOf(def: CallerAllowList & { name: string }): readonly string[] | null {
  if (def.callers === undefined) return null;
  if (!Array.isArray(def.callers) || def.callers.length === 0 || !def.callers.every((caller) => typeof caller === 'string' && isValidCallerName(caller))) {
    throw new ParticipantConfigError(
      'resources',
      `resource ${def.name}: callers must be a non-empty list of caller names (1-64 characters of [A-Za-z0-9_.@-]); leave it out to allow any caller`,
    );
  }
  return Object.freeze([...def.callers]);
}

/**
 * Whether `caller` may run `op` on `resource`: only a resource's first op (try, action, deliver,
 * prepare) is restricted, by its CallerAllowList.
 */
export function callerAllowed(resource: Resource, op: BranchOp, caller: string | null): boolean {
  if (resource.callers === null || op !== RESOURCE_OPS[resource.mode][0]) return true;
  return caller !== null && resource.callers.includes(caller);
}
