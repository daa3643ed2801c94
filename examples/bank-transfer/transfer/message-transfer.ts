/**
 * A transfer as a transactional message: the payer's bank debits in its
 * own local transaction and sends the credit as a message
 * (bank/transfers-out.ts), which the coordinator delivers to the payee's
 * bank. This service only asks the payer's bank, telling it which
 * coordinator to use and where that coordinator reaches both banks.
 *
 * The answer is the bank's: 200 once the debit committed (`delivered`, or
 * `submitted` / `prepared` while the credit is on its way: it will arrive),
 * 409 when the debit was refused, 5xx when nothing is known.
 */
import type { Transfer, TransferReply } from './transfer-app.ts';

export interface MessageTransfer extends Transfer {
  /** The coordinator the payer's bank sends the message through (one of its BANK_COORDINATORS). */
  coordinator: string;
  /** How long this service waits for the bank's answer. */
  timeoutMs: number;
}

export async function runMessageTransfer(transfer: MessageTransfer): Promise<TransferReply> {
  const body = {
    ...(transfer.gid ? { gid: transfer.gid } : {}),
    coordinator: transfer.coordinator,
    account: transfer.from.account,
    amount: transfer.amount,
    checkUrl: `${transfer.debitBank.coordinatorBase}/dtx/transfers-out/check`,
    credit: { url: `${transfer.creditBank.coordinatorBase}/dtx/msg-credit`, account: transfer.to.account },
  };
  try {
    const response = await fetch(`${transfer.debitBank.tryBase}/transfers-out`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(transfer.timeoutMs),
    });
    const answer = (await response.json().catch(() => ({ code: 'BAD_REPLY', message: `the bank answered ${response.status} without JSON` }))) as Record<
      string,
      unknown
    >;
    return { httpStatus: response.status, body: answer };
  } catch (error) {
    // No answer: the debit may or may not have committed; the message's check-back settles it either way.
    return { httpStatus: 502, body: { code: 'BANK_UNREACHABLE', message: error instanceof Error ? error.message : String(error), gid: transfer.gid ?? null } };
  }
}
