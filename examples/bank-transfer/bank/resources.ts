/**
 * The bank's two TCC resources. A transfer debits one account (`debit`)
 * and credits another (`credit`), possibly in another bank.
 *
 *            try                        confirm                  cancel
 *   debit    balance -= a, frozen += a   frozen -= a              balance += a, frozen -= a
 *   credit   incoming += a               incoming -= a, bal += a  incoming -= a
 *
 * Every handler works on the local transaction that also holds the barrier
 * rows, and writes a ledger line for the op it applied.
 */
import { BranchRejectedError, defineSqlTcc, defineTcc, type SqlBranchContext, type TccResource } from '@dtx/participant-sdk';

export interface TransferLeg {
  account: string;
  amount: number;
}

export interface BankFaults {
  /** Probability that a call fails with an unexpected error before doing anything (demo and chaos). */
  errorRate: number;
  random: () => number;
}

export function leg(body: unknown): TransferLeg {
  const payload = body as Partial<TransferLeg> | null;
  if (!payload || typeof payload.account !== 'string' || !Number.isSafeInteger(payload.amount) || (payload.amount as number) <= 0) {
    throw new BranchRejectedError('payload must be {account: string, amount: positive integer}', { code: 'INVALID_PAYLOAD' });
  }
  return payload as TransferLeg;
}

/**
 * The handlers below use only `ctx.sql`, which both kinds of resource the SDK
 * offers hand out: on a knex transaction (defineTcc) or as plain SQL on the
 * transaction's connection (defineSqlTcc, cheaper per call). So they are
 * written once and served either way (bankResources).
 */
export type Ctx = SqlBranchContext<unknown>;

/** What moving money needs of a call: its SQL, and what its ledger line names (a message's sender writes one outside any call). */
export type LedgerCtx = Pick<Ctx, 'gid' | 'branchId' | 'sql'> & { op: string };

async function record(ctx: LedgerCtx, transfer: TransferLeg): Promise<void> {
  await ctx.sql('insert into ledger (gid, branch_id, op, account, amount, at) values (?, ?, ?, ?, ?, ?)', [
    ctx.gid,
    ctx.branchId,
    ctx.op,
    transfer.account,
    transfer.amount,
    Date.now(),
  ]);
}

export async function requireAccount(ctx: Pick<Ctx, 'sql'>, account: string): Promise<void> {
  const { rows } = await ctx.sql('select id from accounts where id = ?', [account]);
  if (rows.length === 0) throw new BranchRejectedError(`no account ${account}`, { code: 'UNKNOWN_ACCOUNT' });
}

type Column = 'balance' | 'frozen' | 'incoming';
export type Moves = Partial<Record<Column, 1 | -1>>;

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
export async function move(ctx: LedgerCtx, t: TransferLeg, moves: Moves, covered = false): Promise<number> {
  // Column names come from MOVES (constants), never from the request; amounts are bound.
  const entries = Object.entries(moves) as [Column, 1 | -1][];
  const sets = entries.map(([column, sign]) => `${column} = ${column} ${sign > 0 ? '+' : '-'} ?`).join(', ');
  const { affectedRows } = await ctx.sql(`update accounts set ${sets} where id = ?${covered ? ' and balance >= ?' : ''}`, [
    ...entries.map(() => t.amount),
    t.account,
    ...(covered ? [t.amount] : []),
  ]);
  if (affectedRows > 0) await record(ctx, t);
  return affectedRows;
}

/** How the bank's handlers reach their local transaction (BANK_HANDLERS). */
export type BankHandlers = 'knex' | 'sql';

/** Throws an injected error on a share of the calls (BankFaults.errorRate), before the handler does anything. */
export function faultInjector(faults: BankFaults): (ctx: { op: string }) => void {
  return (ctx) => {
    if (faults.errorRate > 0 && faults.random() < faults.errorRate) throw new Error(`injected fault on ${ctx.op}`);
  };
}

export function bankResources(faults: BankFaults, kind: BankHandlers = 'knex'): TccResource<unknown, null>[] {
  const maybeFail = faultInjector(faults);
  /** Confirm and cancel must find what try reserved; anything else is a bug worth retrying and alerting on. */
  const phaseTwo = (resource: 'debit' | 'credit', op: 'confirm' | 'cancel') => async (ctx: Ctx) => {
    maybeFail(ctx);
    const changed = await move(ctx, leg(ctx.payload), MOVES[resource][op]);
    if (changed !== 1) throw new Error(`${resource} ${op}: expected to change 1 account row, changed ${changed}`);
  };
  const definitions = [
    {
      name: 'debit',
      async try(ctx: Ctx): Promise<null> {
        maybeFail(ctx);
        const t = leg(ctx.payload);
        if ((await move(ctx, t, MOVES.debit.try, true)) === 0) {
          await requireAccount(ctx, t.account);
          throw new BranchRejectedError(`insufficient funds in ${t.account}`, { code: 'INSUFFICIENT_FUNDS' });
        }
        return null;
      },
      confirm: phaseTwo('debit', 'confirm'),
      cancel: phaseTwo('debit', 'cancel'),
    },
    {
      name: 'credit',
      async try(ctx: Ctx): Promise<null> {
        maybeFail(ctx);
        const t = leg(ctx.payload);
        if ((await move(ctx, t, MOVES.credit.try)) === 0) throw new BranchRejectedError(`no account ${t.account}`, { code: 'UNKNOWN_ACCOUNT' });
        return null;
      },
      confirm: phaseTwo('credit', 'confirm'),
      cancel: phaseTwo('credit', 'cancel'),
    },
  ];
  return definitions.map((definition) => (kind === 'sql' ? defineSqlTcc<unknown, null>(definition) : defineTcc<unknown, null>(definition)));
}
