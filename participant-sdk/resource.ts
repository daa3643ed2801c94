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
import { ParticipantConfigError } from './errors.ts';
import type { BranchOp } from './protocol/wire.ts';

/** What a handler gets for one call. */
export interface BranchContext<P> {
  gid: string;
  branchId: string;
  op: BranchOp;
  /** The parsed JSON body; `null` when the call had no body. Not validated: check it in the handler. */
  payload: P;
  /** The local transaction the barrier rows are in. Do all business SQL on it, or it is not covered. */
  trx: Knex.Transaction;
  /** A pino child logger carrying gid, branchId and op. */
  log: Logger;
}

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

/** A handler with its payload type erased, as the participant runs it. */
export type BranchHandler = (ctx: BranchContext<unknown>) => Promise<unknown>;

export type ResourceMode = 'tcc';

interface ResourceBase<P, R> {
  readonly name: string;
  readonly mode: ResourceMode;
  /** The ops this resource answers; any other op on it is answered 404. */
  readonly handlers: Readonly<Partial<Record<BranchOp, BranchHandler>>>;
  /** Type-level only (never set): lets callers infer the payload and result types. */
  readonly __types?: { payload: P; result: R };
}

export interface TccResource<P = unknown, R = unknown> extends ResourceBase<P, R> {
  readonly mode: 'tcc';
}

/** Any resource a participant can serve. */
export type Resource = TccResource<any, any>;

const RESOURCE_NAME = /^[a-z0-9-]{1,64}$/;

export function assertResourceName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !RESOURCE_NAME.test(name)) {
    throw new ParticipantConfigError('resources', `resource name ${JSON.stringify(name)} must be 1..64 characters of [a-z0-9-]`);
  }
}

/** Define a TCC resource. Throws ParticipantConfigError on a bad name or a missing handler. */
export function defineTcc<P, R = unknown>(def: TccResourceDefinition<P, R>): TccResource<P, R> {
  assertResourceName(def.name);
  for (const op of ['try', 'confirm', 'cancel'] as const) {
    if (typeof def[op] !== 'function') {
      throw new ParticipantConfigError('resources', `resource ${def.name}: ${op} must be a function`);
    }
  }
  // Handlers are called as methods of the definition so that `this` works in them.
  const handlers: Partial<Record<BranchOp, BranchHandler>> = {
    try: async (ctx) => def.try(ctx as BranchContext<P>),
    confirm: async (ctx) => def.confirm(ctx as BranchContext<P>),
    cancel: async (ctx) => def.cancel(ctx as BranchContext<P>),
  };
  return Object.freeze({ name: def.name, mode: 'tcc' as const, handlers: Object.freeze(handlers) });
}
