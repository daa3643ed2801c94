/**
 * Defining an FMT resource: one handler, `execute`, that runs ordinary SQL.
 * The SDK makes it undoable: every INSERT, UPDATE and DELETE it runs through
 * `ctx.sql` / `ctx.query` is imaged (the rows before and after), the undo
 * records commit with the change, and the rows' global locks are taken at
 * the coordinator before the local commit. Commit and rollback have no
 * handler: the SDK drops the undo records, or restores the rows from them.
 */
import { ParticipantConfigError } from '../errors.ts';
import { assertResourceName, callersOf, type BranchHandler, type CallContext, type CallerAllowList, type FmtResource } from '../resource.ts';
import type { SqlResult } from '../barrier/dialect.ts';
import type { ToSql } from './fmt-session.ts';

/**
 * What an FMT execute handler gets: the call, and the branch's local
 * transaction through the SDK's imaging session. Run every business
 * statement through `sql` or `query`: a statement run any other way is not
 * undone on rollback.
 *
 * @typeParam P - the payload's type, as the initiator sends it (not validated)
 */
export interface FmtBranchContext<P> extends CallContext<P> {
  /**
   * One statement (`?` values, `??` identifiers): INSERT, UPDATE or DELETE of
   * one table with a primary key (imaged and undoable), or a SELECT (run as
   * is). Anything FMT cannot undo is refused before it runs
   * (FmtUnsupportedStatementError `FMT_UNSUPPORTED_SQL`, answered 409).
   */
  sql: CallContext<P>['sql'];
  /** A knex query builder (or raw) on any knex of the same client, run as {@link FmtBranchContext.sql} runs its text. */
  query<Row = Record<string, unknown>>(builder: ToSql): Promise<SqlResult<Row>>;
  /**
   * A locking read (the SELECT without FOR UPDATE: it is added) that also
   * takes the rows' global locks for this branch, waiting while another
   * global transaction holds one: read-then-write without a lost update
   * between global transactions.
   */
  selectForUpdate<Row = Record<string, unknown>>(text: string, values?: readonly unknown[]): Promise<SqlResult<Row>>;
}

/**
 * An FMT resource, as given to {@link defineFmt}: its name and its execute handler.
 *
 * @typeParam P - the payload's type
 * @typeParam R - what execute returns to the initiator
 */
export interface FmtResourceDefinition<P, R> extends CallerAllowList {
  /** Path segment of the resource: [a-z0-9-], e.g. `debit`. */
  name: string;
  /** The branch's work, committed locally with its undo records when it returns, rolled back when it throws. Throw BranchRejectedError to refuse (409). */
  execute(ctx: FmtBranchContext<P>): Promise<R> | R;
}

/**
 * Define an FMT resource: ordinary SQL, made undoable by the SDK. The
 * participant serves it at `POST <prefix>/<name>/{execute,commit,rollback}`:
 * - execute (called by the initiator, `dtx.fmt(tx => tx.execute(...))`): in
 *   one local transaction, the barrier row, your handler's statements with
 *   their rows' images, the undo records, then the rows' global locks at the
 *   coordinator; then the local commit. A handler that throws rolls it all
 *   back (BranchRejectedError: 409, the initiator rolls the transaction back);
 *   so does a row another global transaction holds past the participant's
 *   `fmt.lockWaitMs` (409 `FMT_LOCK_CONFLICT`);
 * - commit (called by the coordinator): the undo records are dropped, in
 *   batches, after the reply;
 * - rollback (called by the coordinator): the rows are restored from the
 *   undo records, unless one changed since the branch wrote it (a dirty
 *   write): then nothing is changed and the rollback is refused with 409
 *   `FMT_DIRTY_WRITE`, listing the rows' images, for an operator
 *   (Participant.resolveFmt). A rollback of a branch never executed here is
 *   a null rollback, and refuses a late execute.
 *
 * Supported statements: INSERT (one or many rows), UPDATE and DELETE with a
 * WHERE, of one table with a primary key, that do not change a primary key.
 *
 * @typeParam P - the payload's type, as the initiator sends it (not validated: check it)
 * @typeParam R - what execute returns to the initiator
 * @param def - the resource's name and its execute handler
 * @returns the resource, to pass in {@link ParticipantOptions.resources}
 * @throws ParticipantConfigError on a bad name or a missing handler
 *
 * @example
 * ```ts
 * import { BranchRejectedError, defineFmt } from '@dtx/participant-sdk';
 *
 * const debit = defineFmt<{ account: string; amount: number }>({
 *   name: 'debit',
 *   async execute({ payload, sql }) {
 *     const { affectedRows } = await sql('update accounts set balance = balance - ? where id = ? and balance >= ?', [payload.amount, payload.account, payload.amount]);
 *     if (affectedRows === 0) throw new BranchRejectedError('insufficient funds', { code: 'INSUFFICIENT_FUNDS' });
 *   },
 * });
 * ```
 */
export function defineFmt<P, R = unknown>(def: FmtResourceDefinition<P, R>): FmtResource<P, R> {
  assertResourceName(def.name);
  if (typeof (def as { execute?: unknown }).execute !== 'function')
    throw new ParticipantConfigError('resources', `resource ${def.name}: execute must be a function`);
  const execute: BranchHandler = async (ctx) => (def.execute as (ctx: unknown) => unknown).call(def, ctx);
  return Object.freeze({ name: def.name, mode: 'fmt' as const, transaction: 'knex' as const, handlers: Object.freeze({ execute }), callers: callersOf(def) });
}
