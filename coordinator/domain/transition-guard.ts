/**
 * The precondition of a transition, as data: the mode's rules state it once,
 * the store enforces it in the same atomic write that makes the transition
 * (so concurrent coordinators never both win), and when that write is refused
 * the rules evaluate the very same guard on the loaded transaction to tell why.
 */
import { mayJoin } from './ownership.ts';
import type { GlobalStatus, GlobalTransaction, Mode } from './transaction.ts';

export interface TransitionGuard {
  /** The status the transaction must be in. */
  from: GlobalStatus;
  /** If set, the deadline must be after this instant. */
  deadlineAfter?: number;
  /** If set, the transaction must be of this mode. */
  mode?: Mode;
  /** If set (null: anonymous), the transaction must have been begun by this caller: only it decides. */
  caller?: string | null;
  /** If set (null: anonymous), this caller must have begun the transaction or be named in its `joinableBy`: who may register. */
  joiner?: string | null;
}

export function guardHolds(guard: TransitionGuard, txn: GlobalTransaction): boolean {
  return (
    txn.status === guard.from &&
    (guard.deadlineAfter === undefined || txn.deadlineAt > guard.deadlineAfter) &&
    (guard.mode === undefined || txn.mode === guard.mode) &&
    (guard.caller === undefined || txn.caller === guard.caller) &&
    (guard.joiner === undefined || mayJoin(txn, guard.joiner))
  );
}
