/**
 * The bank's side of a transfer as a transactional message: the payer's
 * bank debits its account in its own local transaction, and the message
 * credits the payee's account in the other bank once that transaction has
 * committed.
 *
 *                      when                                  does
 *   transfers-out      the payer's local transaction         balance -= a (only if covered)
 *   msg-credit         the message's delivery                balance += a
 *
 * Unlike TCC and saga, the payer's debit is not called by the coordinator:
 * the bank runs it itself, with `commitWith` (transfers-out.ts). The
 * coordinator asks `transfers-out/check` when the bank committed but never
 * got to submit the message (it crashed, or the coordinator was unreachable).
 */
import { defineMessageReceiver, defineMessageSender, defineSqlMessageReceiver, type Resource } from '@dtx/participant-sdk';
import { faultInjector, leg, move, type BankFaults, type BankHandlers, type Ctx, type Moves } from './resources.ts';

/** The check-back resource of the bank's outgoing transfers; also the sender's ledger lines' branch id. */
export const TRANSFERS_OUT = 'transfers-out';
/** The receiving resource: credits the payee. */
export const MSG_CREDIT = 'msg-credit';

/** The table in this file's header, as data (see MOVES in resources.ts). */
export const MESSAGE_MOVES: Record<'debit' | 'credit', Moves> = { debit: { balance: -1 }, credit: { balance: 1 } };

export function bankMessageResources(faults: BankFaults, kind: BankHandlers = 'knex'): Resource[] {
  const maybeFail = faultInjector(faults);
  const definition = {
    name: MSG_CREDIT,
    /** A delivery must succeed in the end (the coordinator retries it): a missing account is a bug to retry and alert on, not a refusal. */
    async deliver(ctx: Ctx): Promise<void> {
      maybeFail(ctx);
      const changed = await move(ctx, leg(ctx.payload), MESSAGE_MOVES.credit);
      if (changed !== 1) throw new Error(`${MSG_CREDIT} deliver: expected to change 1 account row, changed ${changed}`);
    },
  };
  return [
    defineMessageSender({ name: TRANSFERS_OUT }),
    kind === 'sql' ? defineSqlMessageReceiver<unknown>(definition) : defineMessageReceiver<unknown>(definition),
  ];
}
