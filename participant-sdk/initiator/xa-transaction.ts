/**
 * One global XA transaction as the initiator's code sees it: register a
 * branch with the coordinator, then call its prepare, where the participant
 * runs its work and XA PREPAREs it (two-phase-transaction.ts). Returning
 * from `dtx.xa(...)` commits every branch; throwing rolls them back.
 */
import type { XaBranchTarget } from './branch-target.ts';
import { TwoPhaseTransaction } from './two-phase-transaction.ts';

/** One global XA transaction as the initiator's function sees it (the `tx` of {@link DtxClient.xa}): the place to add branches. */
export class XaTransaction extends TwoPhaseTransaction {
  /**
   * Register one branch, then call its prepare: the participant's XA resource
   * runs its work and prepares it, holding its locks until the coordinator
   * commits or rolls it back. Returns what the prepare handler returned.
   *
   * @typeParam R - the prepare handler's result type (not checked)
   * @param target - the resource's URL (defineXa), or its prepare, commit and rollback URLs; the payload; optionally the branch id
   * @returns the prepare handler's result (`null` for a duplicate prepare)
   * @throws TryRejectedError when the participant refused (409: its work was
   *   rolled back); TryFailedError on any other answer, a timeout or a
   *   connection error; CoordinatorRefusedError / CoordinatorUnavailableError
   *   when the registration fails; DtxError `INVALID_BRANCH_ID` on a malformed branch id
   *
   * @example
   * ```ts
   * await dtx.xa(async (tx) => {
   *   await tx.prepare({ url: 'http://bank-a:4001/dtx/xa-debit', payload: { account: 'alice', amount: 30 } });
   *   await tx.prepare({ url: 'http://bank-b:4002/dtx/xa-credit', payload: { account: 'bob', amount: 30 } });
   * });
   * ```
   */
  async prepare<R = unknown>(target: XaBranchTarget): Promise<R> {
    const [result] = await this.callAll<[R]>([target]);
    return result;
  }

  /**
   * Register several branches in one coordinator call, then call their
   * prepares concurrently.
   *
   * @typeParam R - the tuple of the prepare handlers' results (not checked)
   * @param targets - the branches, as for {@link XaTransaction.prepare}
   * @returns the results, in the order of `targets`
   * @throws the first prepare's failure once all settled; the registration's errors as for `prepare`
   */
  prepareAll<R extends unknown[] = unknown[]>(targets: XaBranchTarget[]): Promise<R> {
    return this.callAll<R>(targets);
  }
}
