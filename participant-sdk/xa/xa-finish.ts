/**
 * Finishing one XA branch by hand: the operator's way out for a branch the
 * recovery leaves prepared because it cannot learn the outcome (its
 * coordinator has no record of it, is not one the recovery asks, or the
 * branch recorded none and several know its gid). It runs the coordinator's
 * own commit or rollback (xa-branch.ts), so the barrier row ends as if the
 * coordinator had finished the branch: a late prepare after a rollback is
 * refused, and the coordinator's own commit or rollback arriving later finds
 * it done.
 */
import type { Knex } from 'knex';
import { commitXa, rollbackXa, type XaBranchOptions, type XaFinishOutcome } from './xa-branch.ts';

/** Which branch {@link Participant.finishXa} finishes, and how. */
export interface XaFinishOptions {
  /** The branch's transaction (the gid the recovery reported). */
  gid: string;
  /** The branch's id. */
  branchId: string;
  /** The transaction's outcome, as learned by the operator: the branch gets the same. */
  outcome: 'commit' | 'rollback';
}

/**
 * What finishing a branch did:
 * - `committed`, `rolled-back`: this call did it;
 * - `duplicate`: it was already done (by the coordinator, the recovery or an earlier call);
 * - `null-rollback`: a rollback of a branch never prepared here; a late prepare is now refused;
 * - `refused`: the branch is finished the other way, or was never prepared here
 *   (`prepare-not-found`: a commit of a branch not prepared here, or rolled back;
 *   `already-committed`: a rollback of a branch committed here); nothing changed.
 */
export type XaFinishResult = XaFinishOutcome;

/**
 * Commit or roll back the branch as `outcome` says.
 *
 * Precondition: the outcome is the transaction's (the other branches follow
 * the coordinator's decision; finishing this one the other way makes the
 * databases disagree). Effect: XA COMMIT or XA ROLLBACK of the branch's xid,
 * with the barrier row the coordinator's call would leave.
 *
 * @throws RangeError on an outcome other than `commit` or `rollback`;
 *   BarrierInputError on an id that cannot be an xid; BranchOngoingError
 *   while the branch's prepare is still running; the database's errors
 */
export async function finishXaBranch(knex: Knex, branch: XaBranchOptions, outcome: XaFinishOptions['outcome']): Promise<XaFinishResult> {
  // A plain JavaScript caller's typo must not fall through to a rollback.
  if (outcome === 'commit') return commitXa(knex, branch);
  if (outcome === 'rollback') return rollbackXa(knex, branch);
  throw new RangeError(`outcome must be 'commit' or 'rollback', got ${JSON.stringify(String(outcome).slice(0, 32))}`);
}
