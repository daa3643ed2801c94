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
import type { BranchOp } from './protocol/wire.ts';

/** What every handler gets for one call. */
interface CallContext<P> {
  gid: string;
  branchId: string;
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

/** What a handler of a defineTcc resource gets: `sql`, and the same local transaction as a knex transaction. */
export interface BranchContext<P> extends CallContext<P> {
  /** The local transaction the barrier rows are in, for knex's query builder. */
  trx: Knex.Transaction;
}

/**
 * What a handler of a defineSqlTcc resource gets: `sql` only, run on the
 * local transaction's mysql2 connection. Cheaper than a knex transaction per
 * call; see runInSqlBarrier.
 */
export type SqlBranchContext<P> = CallContext<P>;

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

/** A defineSqlTcc resource: the same ops, handlers on SqlBranchContext. */
export interface SqlTccResourceDefinition<P, R = unknown> {
  /** Path segment of the resource: [a-z0-9-], e.g. `transfer-out`. */
  name: string;
  try(ctx: SqlBranchContext<P>): Promise<R> | R;
  confirm(ctx: SqlBranchContext<P>): Promise<void> | void;
  cancel(ctx: SqlBranchContext<P>): Promise<void> | void;
}

/** A handler with its payload type erased, as the participant runs it (its context matches the resource's `transaction`). */
export type BranchHandler = (ctx: BranchContext<unknown> | SqlBranchContext<unknown>) => Promise<unknown>;

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

export interface TccResource<P = unknown, R = unknown> extends ResourceBase<P, R> {
  readonly mode: 'tcc';
}

/** Any resource a participant can serve. */
export type Resource = TccResource<unknown, unknown>;

const RESOURCE_NAME = /^[a-z0-9-]{1,64}$/;

export function assertResourceName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !RESOURCE_NAME.test(name)) {
    throw new ParticipantConfigError('resources', `resource name ${JSON.stringify(name)} must be 1..64 characters of [a-z0-9-]`);
  }
}

/** Define a TCC resource whose handlers use a knex transaction. Throws ParticipantConfigError on a bad name or a missing handler. */
export function defineTcc<P, R = unknown>(def: TccResourceDefinition<P, R>): TccResource<P, R> {
  return tccResource(def, 'knex');
}

/**
 * Define a TCC resource whose handlers run plain SQL on the local
 * transaction (`ctx.sql`). Needs the participant's knex on the mysql2 client.
 * Throws ParticipantConfigError on a bad name or a missing handler.
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
