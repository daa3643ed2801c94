/**
 * Defining the resources a participant exposes: a name and one handler per op.
 *
 * A resource definition is typed by its payload P (and, for try, its result
 * R); the participant only sees the erased, mode-independent shape
 * `Resource`, so that saga resources (action/compensate) can join later as
 * another member of the union without touching the TCC types.
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
  /** The op being run: `try`, `confirm` or `cancel` for a TCC resource. */
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
 * What a handler of a {@link defineTcc} resource gets for one call: the
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
 * What a handler of a {@link defineSqlTcc} resource gets: `sql` only, run on the
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

/** The transaction mode a resource takes part in (only TCC today; saga resources will add theirs). */
export type ResourceMode = 'tcc';

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

/** Any resource a participant can serve. */
export type Resource = TccResource<unknown, unknown>;

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

/** What tccResource needs of either definition; the contexts are the participant's to match. */
type AnyTccDefinition<R> = {
  name: string;
  try(ctx: never): Promise<R> | R;
  confirm(ctx: never): Promise<void> | void;
  cancel(ctx: never): Promise<void> | void;
};

function tccResource<P, R>(def: AnyTccDefinition<R>, transaction: LocalTransactionKind): TccResource<P, R> {
  assertResourceName(def.name);
  for (const op of ['try', 'confirm', 'cancel'] as const) {
    if (typeof def[op] !== 'function') {
      throw new ParticipantConfigError('resources', `resource ${def.name}: ${op} must be a function`);
    }
  }
  // Handlers are called as methods of the definition so that `this` works in them. The
  // participant hands each the context of the resource's `transaction` kind.
  const handlers: Partial<Record<BranchOp, BranchHandler>> = {
    try: async (ctx) => def.try(ctx as never),
    confirm: async (ctx) => def.confirm(ctx as never),
    cancel: async (ctx) => def.cancel(ctx as never),
  };
  return Object.freeze({ name: def.name, mode: 'tcc' as const, transaction, handlers: Object.freeze(handlers) });
}
