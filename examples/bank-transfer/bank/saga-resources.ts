/**
 * The bank's two saga resources: the transfer of resources.ts as two saga
 * steps, each committed at once and undone by its compensation if the saga
 * turns back.
 *
 *                 action           compensate
 *   saga-debit    balance -= a     balance += a
 *   saga-credit   balance += a     balance -= a
 *
 * Nothing is reserved, unlike TCC: the money is spendable (or gone) as soon
 * as an action commits. So a credit's compensation may take a balance below
 * zero when the credited money was spent meanwhile; it must not refuse,
 * because a saga cannot stop halfway back. Handlers write a ledger line for
 * the op they applied, like the TCC ones.
 */
import { BranchRejectedError, defineSaga, defineSqlSaga, type SagaResource } from '@dtx/participant-sdk';
import { faultInjector, leg, move, requireAccount, type BankFaults, type BankHandlers, type Ctx, type Moves } from './resources.ts';

/** The table in this file's header, as data (see MOVES in resources.ts). */
const SAGA_MOVES: Record<'debit' | 'credit', Record<'action' | 'compensate', Moves>> = {
  debit: { action: { balance: -1 }, compensate: { balance: 1 } },
  credit: { action: { balance: 1 }, compensate: { balance: -1 } },
};

export function bankSagaResources(faults: BankFaults, kind: BankHandlers = 'knex'): SagaResource<unknown>[] {
  const maybeFail = faultInjector(faults);
  /** A compensation runs only after its action committed here (the barrier), so its account row must be there. */
  const compensate = (step: 'debit' | 'credit') => async (ctx: Ctx) => {
    maybeFail(ctx);
    const changed = await move(ctx, leg(ctx.payload), SAGA_MOVES[step].compensate);
    if (changed !== 1) throw new Error(`saga-${step} compensate: expected to change 1 account row, changed ${changed}`);
  };
  const definitions = [
    {
      name: 'saga-debit',
      async action(ctx: Ctx): Promise<void> {
        maybeFail(ctx);
        const t = leg(ctx.payload);
        if ((await move(ctx, t, SAGA_MOVES.debit.action, true)) === 0) {
          await requireAccount(ctx, t.account);
          throw new BranchRejectedError(`insufficient funds in ${t.account}`, { code: 'INSUFFICIENT_FUNDS' });
        }
      },
      compensate: compensate('debit'),
    },
    {
      name: 'saga-credit',
      async action(ctx: Ctx): Promise<void> {
        maybeFail(ctx);
        const t = leg(ctx.payload);
        if ((await move(ctx, t, SAGA_MOVES.credit.action)) === 0) throw new BranchRejectedError(`no account ${t.account}`, { code: 'UNKNOWN_ACCOUNT' });
      },
      compensate: compensate('credit'),
    },
  ];
  return definitions.map((definition) => (kind === 'sql' ? defineSqlSaga<unknown>(definition) : defineSaga<unknown>(definition)));
}
