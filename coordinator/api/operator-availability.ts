/**
 * Which operator actions apply to a transaction as it stands, for the
 * console: each asked of the same decisions the admin API runs (and of the
 * mode's force-abort rule), so the buttons never disagree with the server.
 */
import { decideClose, decidePause, decideResolveBranch, decideResume, decideRetryNow } from '../domain/operator-decisions.ts';
import { TransactionRefusedError } from '../domain/refusal.ts';
import { isPhaseTwo, OUTCOME_OF, type TransactionSnapshot } from '../domain/transaction.ts';
import { rulesFor } from '../modes/registry.ts';

/** Why an action does not apply, or null when it does. */
function refusalOf(decide: () => unknown): string | null {
  try {
    decide();
    return null;
  } catch (error) {
    if (error instanceof TransactionRefusedError) return error.message;
    throw error;
  }
}

export interface OperatorAvailability {
  /** Per action: null when it applies, else why not. */
  actions: Record<'retry' | 'pause' | 'resume' | 'force-abort' | 'close', string | null>;
  /** Branches an operator may mark done by hand, and the status they would get (in the mode's words); null outside phase two. */
  resolve: { as: string; branches: string[] } | null;
}

export function operatorAvailability(snapshot: TransactionSnapshot, now: number): OperatorAvailability {
  const txn = snapshot.transaction;
  const rules = rulesFor(txn.mode);
  const words = rules.words;
  const actions = {
    retry: refusalOf(() => decideRetryNow(txn, now, words)),
    pause: refusalOf(() => decidePause(txn, words)),
    resume: refusalOf(() => decideResume(txn, now, words)),
    'force-abort': refusalOf(() => rules.checkForceAbort(txn)),
    close: refusalOf(() => decideClose(snapshot, now, words)),
  };
  if (!isPhaseTwo(txn.status)) return { actions, resolve: null };
  const branches = snapshot.branches.filter((b) => refusalOf(() => decideResolveBranch(snapshot, b.branchId, now, words)) === null).map((b) => b.branchId);
  return { actions, resolve: { as: words.branchStatus[OUTCOME_OF[txn.status]], branches } };
}
