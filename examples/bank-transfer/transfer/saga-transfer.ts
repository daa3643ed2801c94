/**
 * A transfer as a saga: debit the payer's bank, then credit the payee's,
 * each step a saga resource of the bank (bank/saga-resources.ts). The
 * coordinator runs the debit, then the credit; if the debit is refused
 * (insufficient funds) or the deadline passes first, it compensates every
 * step that ran.
 *
 * The answer follows the saga's status when the submit's wait ended:
 * succeeded (200), turned back (409 COMPENSATED: it ends compensated), or
 * still running (202: it may still end either way; query the gid later).
 */
import type { DtxClient } from '@dtx/participant-sdk';
import type { Transfer, TransferReply } from './transfer-app.ts';

export interface SagaTransfer extends Transfer {
  /** The actions' deadline: a saga still running after it is compensated. */
  timeoutMs: number;
}

export async function runSagaTransfer(dtx: DtxClient, transfer: SagaTransfer): Promise<TransferReply> {
  const { from, to, amount } = transfer;
  // The coordinator calls the steps, so they are reached where it reaches the banks.
  const outcome = await dtx
    .saga({ timeoutMs: transfer.timeoutMs, ...(transfer.gid ? { gid: transfer.gid } : {}) })
    .step('debit', { url: `${transfer.debitBank.coordinatorBase}/dtx/saga-debit`, payload: { account: from.account, amount } })
    .step('credit', { url: `${transfer.creditBank.coordinatorBase}/dtx/saga-credit`, payload: { account: to.account, amount } })
    .submit();
  switch (outcome.status) {
    case 'succeeded':
      return { httpStatus: 200, body: { gid: outcome.gid, status: outcome.status } };
    case 'running':
      return { httpStatus: 202, body: { gid: outcome.gid, status: outcome.status } };
    case 'compensating':
    case 'compensated':
      // The saga does not say why it turned back: a refused debit (insufficient funds) or the deadline.
      return { httpStatus: 409, body: { code: 'COMPENSATED', message: `saga ${outcome.gid} was turned back`, gid: outcome.gid, status: outcome.status } };
  }
}
