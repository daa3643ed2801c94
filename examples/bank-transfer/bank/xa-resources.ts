/**
 * The bank's two XA resources: the transfer of resources.ts as plain SQL
 * inside an XA branch of the bank's own MariaDB. The SDK runs the prepare
 * handler between XA START and XA PREPARE on a connection of its own; the
 * coordinator then has it XA COMMIT (or XA ROLLBACK) the branch.
 *
 *              prepare (then held, locked, until commit or rollback)
 *   xa-debit   balance -= a   (refused if the balance does not cover it)
 *   xa-credit  balance += a
 *
 * Nothing needs undoing by hand, unlike TCC and saga: a rollback discards the
 * prepared work. The ledger line is written in the same XA branch, so it is
 * there exactly when the branch committed.
 */
import { BranchRejectedError, defineXa, type XaResource } from '@dtx/participant-sdk';
import { faultInjector, leg, move, requireAccount, type BankFaults, type Moves } from './resources.ts';

/** The table in this file's header, as data (see MOVES in resources.ts). */
const XA_MOVES: Record<'debit' | 'credit', Moves> = { debit: { balance: -1 }, credit: { balance: 1 } };

export function bankXaResources(faults: BankFaults): XaResource<unknown, null>[] {
  const maybeFail = faultInjector(faults);
  return [
    defineXa<unknown, null>({
      name: 'xa-debit',
      async prepare(ctx) {
        maybeFail(ctx);
        const t = leg(ctx.payload);
        if ((await move(ctx, t, XA_MOVES.debit, true)) === 0) {
          await requireAccount(ctx, t.account);
          throw new BranchRejectedError(`insufficient funds in ${t.account}`, { code: 'INSUFFICIENT_FUNDS' });
        }
        return null;
      },
    }),
    defineXa<unknown, null>({
      name: 'xa-credit',
      async prepare(ctx) {
        maybeFail(ctx);
        const t = leg(ctx.payload);
        if ((await move(ctx, t, XA_MOVES.credit)) === 0) throw new BranchRejectedError(`no account ${t.account}`, { code: 'UNKNOWN_ACCOUNT' });
        return null;
      },
    }),
  ];
}
