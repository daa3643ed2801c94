/**
 * One global TCC transaction as the initiator's code sees it: register a
 * branch with the coordinator, then call its try (two-phase-transaction.ts).
 */
import type { BranchTarget } from './branch-target.ts';
import { TwoPhaseTransaction } from './two-phase-transaction.ts';

/**
 * One global TCC transaction as the initiator's function sees it (the `tx`
 * of {@link DtxClient.tcc} and what {@link DtxClient.join} returns): the place
 * to add branches. Each branch is registered with the coordinator before its
 * try is called, so a branch whose try ran can always be cancelled.
 */
export class TccTransaction extends TwoPhaseTransaction {
  /**
   * Register one branch, then call its try. Returns the try handler's result.
   * Throws TryRejectedError (409) or TryFailedError (anything else); the
   * enclosing `tcc()` then aborts the transaction.
   *
   * @typeParam R - the try handler's result type (not checked)
   * @param target - the resource's URL (or its three op URLs), the payload, optionally the branch id
   * @returns the try handler's result (`null` for a duplicate try)
   * @throws TryRejectedError when the participant refused (409); TryFailedError
   *   on any other answer, a timeout or a connection error; CoordinatorRefusedError /
   *   CoordinatorUnavailableError when the registration fails; DtxError
   *   `INVALID_BRANCH_ID` on a malformed branch id
   *
   * @example
   * ```ts
   * await dtx.tcc(async (tx) => {
   *   await tx.try({ url: 'http://bank-a:4001/dtx/debit', payload: { account: 'alice', amount: 30 } });
   *   await tx.try({ url: 'http://bank-b:4002/dtx/credit', payload: { account: 'bob', amount: 30 } });
   * });
   * ```
   */
  async try<R = unknown>(target: BranchTarget): Promise<R> {
    const [result] = await this.callAll<[R]>([target]);
    return result;
  }

  /**
   * Register several branches in one coordinator call, then call their tries
   * concurrently. With the begin folded into the same call, a two-branch
   * transaction costs the coordinator three commits in all.
   *
   * @typeParam R - the tuple of the try handlers' results (not checked)
   * @param targets - the branches, as for {@link TccTransaction.try}
   * @returns the tries' results, in the order of `targets`
   * @throws the first try's failure (TryRejectedError, TryFailedError) once all
   *   tries settled; the registration's errors as for `try`
   */
  tryAll<R extends unknown[] = unknown[]>(targets: BranchTarget[]): Promise<R> {
    return this.callAll<R>(targets);
  }
}
