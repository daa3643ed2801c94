/**
 * A transfer as an XA transaction: the payer's bank prepares the debit and
 * the payee's bank the credit, each as plain SQL in an XA branch of its own
 * database (bank/xa-resources.ts); the coordinator then commits both, or
 * rolls both back. This service calls the prepares; the coordinator reaches
 * the banks for commit and rollback where it reaches them (maybe a proxy).
 *
 * The prepares run one after the other, in the order of the banks' names,
 * never at once: a prepared branch keeps its rows locked until the commit,
 * so two transfers preparing in opposite orders (a→b and b→a between the
 * same accounts) would each wait for the other's locks in a different
 * database, a deadlock neither database can see, broken only by a lock wait
 * timeout. Taking the banks in one global order rules that out.
 *
 * The answer follows the transaction's status after the submit: committed
 * (200, or `committing` while phase two is retried), or refused (409) when a
 * prepare was refused (insufficient funds) — everything was then rolled back.
 */
import type { DtxClient, XaBranchTarget } from '@dtx/participant-sdk';
import type { BankLink, Transfer } from './transfer-app.ts';

export interface XaTransfer extends Transfer {
  /** The banks' names, for the order of the prepares. */
  debitBankName: string;
  creditBankName: string;
  /** The prepare phase's deadline: a transaction still preparing after it is rolled back. */
  timeoutMs: number;
}

function target(link: BankLink, resource: 'xa-debit' | 'xa-credit', payload: unknown): XaBranchTarget {
  return {
    prepareUrl: `${link.tryBase}/dtx/${resource}/prepare`,
    commitUrl: `${link.coordinatorBase}/dtx/${resource}/commit`,
    rollbackUrl: `${link.coordinatorBase}/dtx/${resource}/rollback`,
    payload,
  };
}

/** Runs the transfer; the caller maps the SDK's errors (TryRejectedError, …) to HTTP answers as for TCC. */
export async function runXaTransfer(dtx: DtxClient, transfer: XaTransfer): Promise<{ gid: string; status: string }> {
  const { from, to, amount } = transfer;
  const branches = [
    { bank: transfer.debitBankName, target: target(transfer.debitBank, 'xa-debit', { account: from.account, amount }) },
    { bank: transfer.creditBankName, target: target(transfer.creditBank, 'xa-credit', { account: to.account, amount }) },
  ].sort((x, y) => x.bank.localeCompare(y.bank));
  const outcome = await dtx.xa(
    async (tx) => {
      for (const branch of branches) await tx.prepare(branch.target);
    },
    { timeoutMs: transfer.timeoutMs, ...(transfer.gid ? { gid: transfer.gid } : {}) },
  );
  return { gid: outcome.gid, status: outcome.status };
}
