/**
 * The names a mode gives the model's statuses and phase-two operations:
 * what users see in the API, the console, metrics labels, alerts and
 * refusal messages (TCC: `trying`, `confirmed`, `confirm`; a saga names
 * them its own way). Everything below the API works with the model's names.
 */
import type { BranchStatus, GlobalStatus, Operation, PhaseTwoStatus } from './transaction.ts';

/** One mode's names for the model (see the module comment); found with wordsFor. */
export interface ModeWords {
  /** A transaction's status as users see it (TCC: `open` is `trying`, `committed` is `confirmed`, …). */
  status: Record<GlobalStatus, string>;
  /** A branch's status as users see it. */
  branchStatus: Record<BranchStatus, string>;
  /** The operation phase two calls in each direction. */
  op: Record<PhaseTwoStatus, Operation>;
}

/** The status a word names in `words`, if any. */
export function statusNamed(words: ModeWords, word: string): GlobalStatus | undefined {
  return (Object.keys(words.status) as GlobalStatus[]).find((status) => words.status[status] === word);
}
