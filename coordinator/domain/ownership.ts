/**
 * Who may act on a transaction: only the caller that began it decides it
 * (submit, abort), and only it or a caller its begin named in `joinableBy`
 * registers branches in it. Callers are compared byte for byte. Pure.
 */
import { TransactionRefusedError } from './refusal.ts';
import type { GlobalTransaction } from './transaction.ts';

/** Whether `caller` may register branches into `txn`: it began it, or the begin named it. */
export function mayJoin(txn: GlobalTransaction, caller: string | null): boolean {
  return txn.caller === caller || (caller !== null && txn.joinableBy.includes(caller));
}

/** The refusal of `caller` doing `what` (submit, abort, register branches in, begin) to a transaction another caller began. */
export function notOwner(txn: GlobalTransaction, caller: string | null, what: string): TransactionRefusedError {
  return new TransactionRefusedError(
    'NOT_OWNER',
    `transaction ${txn.gid} was begun by another caller: ${caller ?? 'an anonymous caller'} may not ${what} it`,
    txn.gid,
  );
}

/** Whether two `joinableBy` lists name the same callers, in any order. */
export function sameCallers(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((name) => b.includes(name));
}
