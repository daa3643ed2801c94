/**
 * Defining the resources a participant exposes: a name and one handler per op.
 *
 * A resource definition is typed by its payload P (and, for try, its result
 * R); the participant only sees the erased, mode-independent shape
 * `Resource`: a TCC resource (try/confirm/cancel) or a saga resource
 * (action/compensate), each a member of the union, routed and run behind the
 * barrier the same way.
 */
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { BranchSql } from './barrier/barrier.ts';
import { ParticipantConfigError } from './errors.ts';
import type { BranchOp } from '@dtx/protocol';

/** What every handler gets for one call. */
interface CallContext<P> {
  /** The global transaction's id. */
  gid: string;
  /** This branch's id within the transaction. */
  branchId: string;
  /** The op being run: `try`, `confirm` or `cancel` for a TCC resource; `action` or `compensate` for a saga resource. */
  op: BranchOp;
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
 * What a handler of a {@link defineTcc} or {@link defineSaga} resource gets for one call: the
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
 * What a handler of a {@link defineSqlTcc} or {@link defineSqlSaga} resource gets: `sql` only, run on the
 * local transaction's mysql2 connection. Cheaper than a knex transaction per
 * call; see runInSqlBarrier.
 *
 * @typeParam P - the payload's type, as the initiator sends it (not validated)
 */
export type SqlBranchContext<P> = CallContext<P>;

/**
 * The three handlers of a TCC resource whose handlers use knex, as given to
 * {@link defineTcc}. Each runs inside the barrier, in one local transaction
 * with the barrier rows.
 *
 * @typeParam P - the payload's type
 * @typeParam R - what try returns to the initiator
 */
export interface TccResourceDefinition<P, R = unknown> {
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
export interface SqlTccResourceDefinition<P, R = unknown> {
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
export type BranchHandler = (ctx: BranchContext<unknown> | SqlBranchContext<unknown>) => Promise<unknown>;

/**
 * The saga step of a resource whose handlers use knex, as given to
 * {@link defineSaga}: an action and the compensation that undoes it. Each
 * runs inside the barrier, in one local transaction with the barrier rows.
 *
 * @typeParam P - the payload's type (the action and the compensation each get
 *   the payload registered for them)
 */
export interface SagaResourceDefinition<P> {
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
export interface SqlSagaResourceDefinition<P> {
  /** Path segment of the resource: [a-z0-9-], e.g. `transfer-out`. */
  name: string;
  /** Do the step's work; see {@link SagaResourceDefinition.action}. Throw BranchRejectedError to refuse (the saga rolls back). */
  action(ctx: SqlBranchContext<P>): Promise<void> | void;
  /** Undo the action; see {@link SagaResourceDefinition.compensate}. Must eventually succeed; never refuse. */
  compensate(ctx: SqlBranchContext<P>): Promise<void> | void;
}

/** The transaction mode a resource takes part in: `tcc` (try/confirm/cancel) or `saga` (action/compensate). */
export type ResourceMode = 'tcc' | 'saga';

/**
 * The ops a resource of each mode answers, in protocol order. A call for any
 * other op (a saga op on a TCC resource, a TCC op on a saga resource) is
 * answered 404 `UNKNOWN_OP`.
 */
export const RESOURCE_OPS: Readonly<Record<ResourceMode, readonly BranchOp[]>> = Object.freeze({
  tcc: Object.freeze(['try', 'confirm', 'cancel'] as const),
  saga: Object.freeze(['action', 'compensate'] as const),
});

/** How handlers reach the local transaction: a knex transaction (`ctx.trx`) or plain SQL (`ctx.sql`). */
export type LocalTransactionKind = 'knex' | 'sql';

interface ResourceBase<P, R> {
  readonly name: string;
  readonly mode: ResourceMode;
  readonly transaction: LocalTransactionKind;
  /** The ops this resource answers; any other op on it is answered 404. */
  readonly handlers: Readonly<Partial<Record<BranchOp, BranchHandler>>>;
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

/** Any resource a participant can serve. */
export type Resource = TccResource<unknown, unknown> | SagaResource<unknown>;

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

/** What tccResource needs of either definition; the contexts are the participant's to match. */
type AnyTccDefinition<R> = {
  name: string;
  try(ctx: never): Promise<R> | R;
  confirm(ctx: never): Promise<void> | void;
  cancel(ctx: never): Promise<void> | void;
};

/** What sagaResource needs of either definition. */
type AnySagaDefinition = {
  name: string;
  action(ctx: never): Promise<void> | void;
  compensate(ctx: never): Promise<void> | void;
};

function tccResource<P, R>(def: AnyTccDefinition<R>, transaction: LocalTransactionKind): TccResource<P, R> {
  return Object.freeze({ name: def.name, mode: 'tcc' as const, transaction, handlers: handlersOf(def, 'tcc') });
}

function sagaResource<P>(def: AnySagaDefinition, transaction: LocalTransactionKind): SagaResource<P> {
  return Object.freeze({ name: def.name, mode: 'saga' as const, transaction, handlers: handlersOf(def, 'saga') });
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
