/**
 * One global FMT transaction as the initiator's code sees it: register a
 * branch with the coordinator, then call its execute, where the
 * participant runs its ordinary SQL, keeps undo records of the rows it
 * changed and takes their global locks before its local commit
 * (two-phase-transaction.ts). Returning from `dtx.fmt(...)` commits every
 * branch (their undo records are dropped); throwing rolls them back (the
 * rows are restored from the undo records).
 */
import type { FmtBranchTarget } from './branch-target.ts';
import { TwoPhaseTransaction } from './two-phase-transaction.ts';

/** One global FMT transaction as the initiator's function sees it (the `tx` of {@link DtxClient.fmt}): the place to add branches. */
export class FmtTransaction extends TwoPhaseTransaction {
  /**
   * Register one branch, then call its execute: the participant's FMT
   * resource runs its SQL and commits it locally, with undo records and the
   * rows' global locks. Returns what the execute handler returned.
   *
   * @typeParam R - the execute handler's result type (not checked)
   * @param target - the resource's URL (defineFmt), or its execute, commit and rollback URLs; the payload; optionally the branch id
   * @returns the execute handler's result (`null` for a duplicate execute)
   * @throws TryRejectedError (`op: 'execute'`) when the participant refused
   *   (409: its work was rolled back locally; `FMT_LOCK_CONFLICT` when another
   *   global transaction held one of its rows past the wait); TryFailedError on
   *   any other answer, a timeout or a connection error;
   *   CoordinatorRefusedError / CoordinatorUnavailableError when the
   *   registration fails; DtxError `INVALID_BRANCH_ID` on a malformed branch id
   *
   * @example
   * ```ts
   * await dtx.fmt(async (tx) => {
   *   await tx.execute({ url: 'http://bank-a:4001/dtx/debit', payload: { account: 'alice', amount: 30 } });
   *   await tx.execute({ url: 'http://bank-b:4002/dtx/credit', payload: { account: 'bob', amount: 30 } });
   * });
   * ```
   */
  async execute<R = unknown>(target: FmtBranchTarget): Promise<R> {
    const [result] = await this.callAll<[R]>([target]);
    return result;
  }

  /**
   * Register several branches in one coordinator call, then call their
   * executes concurrently.
   *
   * @typeParam R - the tuple of the execute handlers' results (not checked)
   * @param targets - the branches, as for {@link FmtTransaction.execute}
   * @returns the results, in the order of `targets`
   * @throws the first execute's failure once all settled; the registration's errors as for `execute`
   */
  executeAll<R extends unknown[] = unknown[]>(targets: FmtBranchTarget[]): Promise<R> {
    return this.callAll<R>(targets);
  }
}
