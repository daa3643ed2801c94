/**
 * A transfer as an FMT transaction: the payer's bank executes the debit and
 * the payee's bank the credit, each as plain SQL committed at once in its
 * own database (bank/fmt-resources.ts), with undo records of the rows it
 * changed and their global locks at the coordinator; the coordinator then
 * has both drop their undo records (commit), or restore their rows from them
 * (rollback). This service calls the executes; the coordinator reaches the
 * banks for commit and rollback where it reaches them (maybe a proxy).
 *
 * The executes run one after the other, in the order of the rows they write
 * (the bank's name, then the account), never at once: an executed branch
 * keeps its account row's global lock until the transaction is decided, so
 * two transfers executing in opposite orders (a→b and b→a between the same
 * accounts) would each wait for the other's lock, a wait no database can see
 * and only the lock wait (the banks' `fmt.lockWaitMs`) ends, refusing both.
 * Taking the rows in one global order rules that out.
 *
 * The answer follows the transaction's status after the submit: committed
 * (200, or `committing` while phase two is retried), or refused (409) when an
 * execute was refused (insufficient funds, a row held by another transfer
 * past the lock wait) — everything was then rolled back.
 */
import type { DtxClient, FmtBranchTarget } from '@dtx/participant-sdk';
import type { BankLink, Transfer } from './transfer-app.ts';

export interface FmtTransfer extends Transfer {
  /** The banks' names, for the order of the executes. */
  debitBankName: string;
  creditBankName: string;
  /** The execute phase's deadline: a transaction still executing after it is rolled back (its rows stay locked until then at most). */
  timeoutMs: number;
}

function target(link: BankLink, resource: 'fmt-debit' | 'fmt-credit', payload: unknown): FmtBranchTarget {
  return {
    executeUrl: `${link.tryBase}/dtx/${resource}/execute`,
    commitUrl: `${link.coordinatorBase}/dtx/${resource}/commit`,
    rollbackUrl: `${link.coordinatorBase}/dtx/${resource}/rollback`,
    payload,
  };
}

/** Runs the transfer; the caller maps the SDK's errors (TryRejectedError, …) to HTTP answers as for TCC. */
export async function runFmtTransfer(dtx: DtxClient, transfer: FmtTransfer): Promise<{ gid: string; status: string }> {
  const { from, to, amount } = transfer;
  const row = (bank: string, account: string) => `${bank}\u0000${account}`;
  const branches = [
    { row: row(transfer.debitBankName, from.account), target: target(transfer.debitBank, 'fmt-debit', { account: from.account, amount }) },
    { row: row(transfer.creditBankName, to.account), target: target(transfer.creditBank, 'fmt-credit', { account: to.account, amount }) },
  ].sort((x, y) => (x.row < y.row ? -1 : x.row > y.row ? 1 : 0));
  const outcome = await dtx.fmt(
    async (tx) => {
      for (const branch of branches) await tx.execute(branch.target);
    },
    { timeoutMs: transfer.timeoutMs, ...(transfer.gid ? { gid: transfer.gid } : {}) },
  );
  return { gid: outcome.gid, status: outcome.status };
}
