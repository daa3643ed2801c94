/**
 * The bank's two TCC resources. A transfer debits one account (`debit`)
 * and credits another (`credit`), possibly in another bank.
 *
 *            try                        confirm                  cancel
 *   debit    balance -= a, frozen += a   frozen -= a              balance += a, frozen -= a
 *   credit   incoming += a               incoming -= a, bal += a  incoming -= a
 *
 * Every handler works on `ctx.trx`, the transaction that also holds the
 * barrier rows, and writes a ledger line for the op it applied.
 */
import type { Knex } from 'knex';
import { BranchRejectedError, defineTcc, type BranchContext } from '../../../participant-sdk/index.ts';

export interface TransferLeg {
  account: string;
  amount: number;
}

export interface BankFaults {
  /** Probability that a call fails with an unexpected error before doing anything (demo and chaos). */
  errorRate: number;
  random: () => number;
}

function leg(ctx: BranchContext<unknown>): TransferLeg {
  const payload = ctx.payload as Partial<TransferLeg> | null;
  if (
    !payload ||
    typeof payload.account !== 'string' ||
    !Number.isSafeInteger(payload.amount) ||
    (payload.amount as number) <= 0
  ) {
    throw new BranchRejectedError('payload must be {account: string, amount: positive integer}', { code: 'INVALID_PAYLOAD' });
  }
  return payload as TransferLeg;
}

async function record(ctx: BranchContext<unknown>, transfer: TransferLeg): Promise<void> {
  await ctx.trx('ledger').insert({
    gid: ctx.gid,
    branch_id: ctx.branchId,
    op: ctx.op,
    account: transfer.account,
    amount: transfer.amount,
    at: Date.now(),
  });
}

async function requireAccount(trx: Knex.Transaction, account: string): Promise<void> {
  const found = await trx('accounts').where({ id: account }).first('id');
  if (!found) throw new BranchRejectedError(`no account ${account}`, { code: 'UNKNOWN_ACCOUNT' });
}

/** Confirm and cancel must find what try reserved; anything else is a bug worth retrying and alerting on. */
function expectOneRow(changed: number, what: string): void {
  if (changed !== 1) throw new Error(`${what}: expected to change 1 account row, changed ${changed}`);
}

export function bankResources(faults: BankFaults) {
  const maybeFail = (ctx: BranchContext<unknown>) => {
    if (faults.errorRate > 0 && faults.random() < faults.errorRate) throw new Error(`injected fault on ${ctx.op}`);
  };

  const debit = defineTcc<unknown, null>({
    name: 'debit',
    async try(ctx) {
      maybeFail(ctx);
      const t = leg(ctx);
      const changed = await ctx
        .trx('accounts')
        .where({ id: t.account })
        .andWhere('balance', '>=', t.amount)
        .update({ balance: ctx.trx.raw('balance - ?', [t.amount]), frozen: ctx.trx.raw('frozen + ?', [t.amount]) });
      if (changed === 0) {
        await requireAccount(ctx.trx, t.account);
        throw new BranchRejectedError(`insufficient funds in ${t.account}`, { code: 'INSUFFICIENT_FUNDS' });
      }
      await record(ctx, t);
      return null;
    },
    async confirm(ctx) {
      maybeFail(ctx);
      const t = leg(ctx);
      expectOneRow(await ctx.trx('accounts').where({ id: t.account }).update({ frozen: ctx.trx.raw('frozen - ?', [t.amount]) }), 'debit confirm');
      await record(ctx, t);
    },
    async cancel(ctx) {
      maybeFail(ctx);
      const t = leg(ctx);
      expectOneRow(
        await ctx
          .trx('accounts')
          .where({ id: t.account })
          .update({ balance: ctx.trx.raw('balance + ?', [t.amount]), frozen: ctx.trx.raw('frozen - ?', [t.amount]) }),
        'debit cancel',
      );
      await record(ctx, t);
    },
  });

  const credit = defineTcc<unknown, null>({
    name: 'credit',
    async try(ctx) {
      maybeFail(ctx);
      const t = leg(ctx);
      const changed = await ctx.trx('accounts').where({ id: t.account }).update({ incoming: ctx.trx.raw('incoming + ?', [t.amount]) });
      if (changed === 0) throw new BranchRejectedError(`no account ${t.account}`, { code: 'UNKNOWN_ACCOUNT' });
      await record(ctx, t);
      return null;
    },
    async confirm(ctx) {
      maybeFail(ctx);
      const t = leg(ctx);
      expectOneRow(
        await ctx
          .trx('accounts')
          .where({ id: t.account })
          .update({ incoming: ctx.trx.raw('incoming - ?', [t.amount]), balance: ctx.trx.raw('balance + ?', [t.amount]) }),
        'credit confirm',
      );
      await record(ctx, t);
    },
    async cancel(ctx) {
      maybeFail(ctx);
      const t = leg(ctx);
      expectOneRow(await ctx.trx('accounts').where({ id: t.account }).update({ incoming: ctx.trx.raw('incoming - ?', [t.amount]) }), 'credit cancel');
      await record(ctx, t);
    },
  });

  return [debit, credit];
}
