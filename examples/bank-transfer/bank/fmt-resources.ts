/**
 * The bank's two FMT resources: the transfer of resources.ts as plain SQL,
 * committed locally at once. The SDK images every row the execute handler
 * changes, keeps the images in an undo record committed with the change
 * (`dtx_fmt_undo`) and takes the rows' global locks at the coordinator
 * before the local commit; the coordinator then has it drop the undo records
 * (commit) or restore the rows from them (rollback).
 *
 *               execute (committed locally; locked globally until commit or rollback)
 *   fmt-debit   balance -= a   (refused if the balance does not cover it)
 *   fmt-credit  balance += a
 *
 * Nothing needs undoing by hand, unlike TCC and saga: there is no try,
 * confirm nor cancel to write. The ledger line is an INSERT of the execute
 * like the update, so a rollback takes it out again: it is there exactly when
 * the branch committed.
 */
import { BranchRejectedError, defineFmt, type FmtBranchContext, type FmtResource } from '@dtx/participant-sdk';
import { faultInjector, leg, requireAccount, type BankFaults, type TransferLeg } from './resources.ts';

type Ctx = FmtBranchContext<unknown>;

/**
 * The execute's ledger line (resources.ts writes the same for the other modes). The `at` column goes
 * as an identifier binding (`??`, quoted for the database): the SDK's SQL parser reads an unquoted
 * `at` as PostgreSQL's AT keyword and refuses the INSERT as FMT_UNSUPPORTED_SQL, though PostgreSQL
 * takes it.
 */
async function record(ctx: Ctx, t: TransferLeg): Promise<void> {
  await ctx.sql('insert into ledger (gid, branch_id, op, account, amount, ??) values (?, ?, ?, ?, ?, ?)', [
    'at',
    ctx.gid,
    ctx.branchId,
    ctx.op,
    t.account,
    t.amount,
    Date.now(),
  ]);
}

export function bankFmtResources(faults: BankFaults): FmtResource<unknown, null>[] {
  const maybeFail = faultInjector(faults);
  return [
    defineFmt<unknown, null>({
      name: 'fmt-debit',
      async execute(ctx) {
        maybeFail(ctx);
        const t = leg(ctx.payload);
        const { affectedRows } = await ctx.sql('update accounts set balance = balance - ? where id = ? and balance >= ?', [t.amount, t.account, t.amount]);
        if (affectedRows === 0) {
          await requireAccount(ctx, t.account);
          throw new BranchRejectedError(`insufficient funds in ${t.account}`, { code: 'INSUFFICIENT_FUNDS' });
        }
        await record(ctx, t);
        return null;
      },
    }),
    defineFmt<unknown, null>({
      name: 'fmt-credit',
      async execute(ctx) {
        maybeFail(ctx);
        const t = leg(ctx.payload);
        const { affectedRows } = await ctx.sql('update accounts set balance = balance + ? where id = ?', [t.amount, t.account]);
        if (affectedRows === 0) throw new BranchRejectedError(`no account ${t.account}`, { code: 'UNKNOWN_ACCOUNT' });
        await record(ctx, t);
        return null;
      },
    }),
  ];
}
