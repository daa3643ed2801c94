/**
 * The precondition of a transition, as data: the mode's rules state it once,
 * the store enforces it in the same atomic write that makes the transition
 * (so concurrent coordinators never both win), and when that write is refused
 * the rules evaluate the very same guard on the loaded transaction to tell why.
 */
import type { GlobalStatus, GlobalTransaction, Mode } from './transaction.ts';

export interface TransitionGuard {
  /** The status the transaction must be in. */
  from: GlobalStatus;
  /** If set, the deadline must be after this instant. */
  deadlineAfter?: number;
  /** If set, the transaction must be of this mode. */
  mode?: Mode;
}

export function guardHolds(guard: TransitionGuard, txn: GlobalTransaction): boolean {
  return (
    txn.status === guard.from &&
    (guard.deadlineAfter === undefined || txn.deadlineAt > guard.deadlineAfter) &&
    (guard.mode === undefined || txn.mode === guard.mode)
  );
}
