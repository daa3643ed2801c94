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

type Column = 'balance' | 'frozen' | 'incoming';
type Moves = Partial<Record<Column, 1 | -1>>;

/** The table in this file's header, as data: which columns each op moves the amount into (+1) or out of (−1). */
const MOVES: Record<'debit' | 'credit', Record<'try' | 'confirm' | 'cancel', Moves>> = {
  debit: { try: { balance: -1, frozen: 1 }, confirm: { frozen: -1 }, cancel: { balance: 1, frozen: -1 } },
  credit: { try: { incoming: 1 }, confirm: { incoming: -1, balance: 1 }, cancel: { incoming: -1 } },
};

/**
 * Applies `moves` to the leg's account (only while its balance covers the
 * amount, if `covered`), and writes the ledger line when a row changed.
 * Returns the number of account rows changed.
 */
async function move(ctx: BranchContext<unknown>, t: TransferLeg, moves: Moves, covered = false): Promise<number> {
  const changes = Object.fromEntries(
    Object.entries(moves).map(([column, sign]) => [column, ctx.trx.raw(`?? ${sign > 0 ? '+' : '-'} ?`, [column, t.amount])]),
  );
  const query = ctx.trx('accounts').where({ id: t.account });
  if (covered) query.andWhere('balance', '>=', t.amount);
  const changed = await query.update(changes);
  if (changed > 0) await record(ctx, t);
  return changed;
}

export function bankResources(faults: BankFaults) {
  const maybeFail = (ctx: BranchContext<unknown>) => {
    if (faults.errorRate > 0 && faults.random() < faults.errorRate) throw new Error(`injected fault on ${ctx.op}`);
  };
  /** Confirm and cancel must find what try reserved; anything else is a bug worth retrying and alerting on. */
  const phaseTwo = (resource: 'debit' | 'credit', op: 'confirm' | 'cancel') => async (ctx: BranchContext<unknown>) => {
    maybeFail(ctx);
    const changed = await move(ctx, leg(ctx), MOVES[resource][op]);
    if (changed !== 1) throw new Error(`${resource} ${op}: expected to change 1 account row, changed ${changed}`);
  };

  const debit = defineTcc<unknown, null>({
    name: 'debit',
    async try(ctx) {
      maybeFail(ctx);
      const t = leg(ctx);
      if ((await move(ctx, t, MOVES.debit.try, true)) === 0) {
        await requireAccount(ctx.trx, t.account);
        throw new BranchRejectedError(`insufficient funds in ${t.account}`, { code: 'INSUFFICIENT_FUNDS' });
      }
      return null;
    },
    confirm: phaseTwo('debit', 'confirm'),
    cancel: phaseTwo('debit', 'cancel'),
  });

  const credit = defineTcc<unknown, null>({
    name: 'credit',
    async try(ctx) {
      maybeFail(ctx);
      const t = leg(ctx);
      if ((await move(ctx, t, MOVES.credit.try)) === 0) throw new BranchRejectedError(`no account ${t.account}`, { code: 'UNKNOWN_ACCOUNT' });
      return null;
    },
    confirm: phaseTwo('credit', 'confirm'),
    cancel: phaseTwo('credit', 'cancel'),
  });

  return [debit, credit];
}
