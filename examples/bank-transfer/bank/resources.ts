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
import type { Knex } from 'knex';
import {
  BranchRejectedError,
  defineSqlTcc,
  defineTcc,
  type BranchContext,
  type SqlBranchContext,
  type TccResource,
} from '../../../participant-sdk/index.ts';

export interface TransferLeg {
  account: string;
  amount: number;
}

export interface BankFaults {
  /** Probability that a call fails with an unexpected error before doing anything (demo and chaos). */
  errorRate: number;
  random: () => number;
}

function leg(body: unknown): TransferLeg {
  const payload = body as Partial<TransferLeg> | null;
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

/**
 * One statement on the branch's local transaction: the handlers below are
 * written once against this and served either way the SDK offers (see
 * bankResources): on a knex transaction (`ctx.trx.raw`) or as plain SQL on
 * its connection (`ctx.sql`, cheaper per call).
 */
type Run = (sql: string, values: unknown[]) => Promise<{ rows: unknown[]; affectedRows: number }>;

interface LegCall {
  ctx: { gid: string; branchId: string; op: string; payload: unknown };
  run: Run;
}

async function record({ ctx, run }: LegCall, transfer: TransferLeg): Promise<void> {
  await run('insert into ledger (gid, branch_id, op, account, amount, at) values (?, ?, ?, ?, ?, ?)', [
    ctx.gid,
    ctx.branchId,
    ctx.op,
    transfer.account,
    transfer.amount,
    Date.now(),
  ]);
}

async function requireAccount(run: Run, account: string): Promise<void> {
  const { rows } = await run('select id from accounts where id = ?', [account]);
  if (rows.length === 0) throw new BranchRejectedError(`no account ${account}`, { code: 'UNKNOWN_ACCOUNT' });
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
async function move(call: LegCall, t: TransferLeg, moves: Moves, covered = false): Promise<number> {
  // Column names come from MOVES (constants), never from the request; amounts are bound.
  const entries = Object.entries(moves) as [Column, 1 | -1][];
  const sets = entries.map(([column, sign]) => `${column} = ${column} ${sign > 0 ? '+' : '-'} ?`).join(', ');
  const { affectedRows } = await call.run(`update accounts set ${sets} where id = ?${covered ? ' and balance >= ?' : ''}`, [
    ...entries.map(() => t.amount),
    t.account,
    ...(covered ? [t.amount] : []),
  ]);
  if (affectedRows > 0) await record(call, t);
  return affectedRows;
}

/** The debit and credit handlers, on any kind of local transaction. */
function handlers(faults: BankFaults) {
  const maybeFail = (call: LegCall) => {
    if (faults.errorRate > 0 && faults.random() < faults.errorRate) throw new Error(`injected fault on ${call.ctx.op}`);
  };
  /** Confirm and cancel must find what try reserved; anything else is a bug worth retrying and alerting on. */
  const phaseTwo = (resource: 'debit' | 'credit', op: 'confirm' | 'cancel') => async (call: LegCall) => {
    maybeFail(call);
    const changed = await move(call, leg(call.ctx.payload), MOVES[resource][op]);
    if (changed !== 1) throw new Error(`${resource} ${op}: expected to change 1 account row, changed ${changed}`);
  };
  return {
    debit: {
      async try(call: LegCall): Promise<null> {
        maybeFail(call);
        const t = leg(call.ctx.payload);
        if ((await move(call, t, MOVES.debit.try, true)) === 0) {
          await requireAccount(call.run, t.account);
          throw new BranchRejectedError(`insufficient funds in ${t.account}`, { code: 'INSUFFICIENT_FUNDS' });
        }
        return null;
      },
      confirm: phaseTwo('debit', 'confirm'),
      cancel: phaseTwo('debit', 'cancel'),
    },
    credit: {
      async try(call: LegCall): Promise<null> {
        maybeFail(call);
        const t = leg(call.ctx.payload);
        if ((await move(call, t, MOVES.credit.try)) === 0) throw new BranchRejectedError(`no account ${t.account}`, { code: 'UNKNOWN_ACCOUNT' });
        return null;
      },
      confirm: phaseTwo('credit', 'confirm'),
      cancel: phaseTwo('credit', 'cancel'),
    },
  };
}

/** How the bank's handlers reach their local transaction (BANK_HANDLERS). */
export type BankHandlers = 'knex' | 'sql';

/** The statement runner over a knex transaction: mysql2's result comes back as [result, fields]. */
function knexRun(trx: Knex.Transaction): Run {
  return async (sql, values) => {
    const [result] = (await trx.raw(sql, values as Knex.RawBinding[])) as unknown as [unknown];
    return Array.isArray(result) ? { rows: result, affectedRows: 0 } : { rows: [], affectedRows: (result as { affectedRows: number }).affectedRows };
  };
}

/** A TCC resource definition whose handlers take context C (defineTcc's or defineSqlTcc's). */
interface Definition<C> {
  name: string;
  try(ctx: C): Promise<null>;
  confirm(ctx: C): Promise<void>;
  cancel(ctx: C): Promise<void>;
}

export function bankResources(faults: BankFaults, kind: BankHandlers = 'knex'): TccResource<unknown, null>[] {
  const h = handlers(faults);
  /** Both resources, defined by `define`, each handler given its LegCall by `on`. */
  const both = <C>(define: (def: Definition<C>) => TccResource<unknown, null>, on: (ctx: C) => LegCall) =>
    (['debit', 'credit'] as const).map((name) =>
      define({
        name,
        try: (ctx) => h[name].try(on(ctx)),
        confirm: (ctx) => h[name].confirm(on(ctx)),
        cancel: (ctx) => h[name].cancel(on(ctx)),
      }),
    );
  return kind === 'sql'
    ? both(defineSqlTcc<unknown, null>, (ctx: SqlBranchContext<unknown>) => ({ ctx, run: (sql, values) => ctx.sql(sql, values) }))
    : both(defineTcc<unknown, null>, (ctx: BranchContext<unknown>) => ({ ctx, run: knexRun(ctx.trx) }));
}
