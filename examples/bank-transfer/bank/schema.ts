/**
 * A bank's own tables. `balance` is spendable money; `frozen` is money
 * reserved by a debit's try (still this bank's, not spendable); `incoming` is
 * money announced by a credit's try (not yet this bank's). Once every
 * transfer is finished, frozen and incoming are zero and the sum of balances
 * across banks never changes. `ledger` records every applied op, so the
 * chaos checks can prove each was applied at most once.
 */
import type { Knex } from 'knex';

export interface Account {
  id: string;
  balance: number;
  frozen: number;
  incoming: number;
}

export async function migrateBank(knex: Knex): Promise<void> {
  if (!(await knex.schema.hasTable('accounts'))) {
    await knex.schema.createTable('accounts', (t) => {
      t.string('id', 64).primary();
      t.bigInteger('balance').notNullable();
      t.bigInteger('frozen').notNullable().defaultTo(0);
      t.bigInteger('incoming').notNullable().defaultTo(0);
    });
  }
  if (!(await knex.schema.hasTable('ledger'))) {
    await knex.schema.createTable('ledger', (t) => {
      t.bigIncrements('id');
      t.string('gid', 128).notNullable();
      t.string('branch_id', 64).notNullable();
      t.string('op', 16).notNullable();
      t.string('account', 64).notNullable();
      t.bigInteger('amount').notNullable();
      t.bigInteger('at').notNullable();
      t.index(['gid', 'branch_id', 'op'], 'idx_ledger_branch');
    });
  }
}

/**
 * Opens the given accounts unless they exist (a restarted bank keeps its
 * balances). The existing ones are found with a plain read, which takes no
 * lock: after a crash, XA branches left prepared keep their account rows
 * locked until the coordinator's commit or rollback reaches this bank, and
 * an INSERT IGNORE touching those rows would wait for that — while the bank,
 * not yet started, cannot take the call.
 */
export async function openAccounts(knex: Knex, accounts: { id: string; balance: number }[]): Promise<void> {
  if (accounts.length === 0) return;
  const existing = new Set(
    await knex('accounts')
      .whereIn(
        'id',
        accounts.map((a) => a.id),
      )
      .pluck('id'),
  );
  const missing = accounts.filter((a) => !existing.has(a.id));
  if (missing.length === 0) return;
  await knex('accounts')
    .insert(missing.map((a) => ({ id: a.id, balance: a.balance, frozen: 0, incoming: 0 })))
    .onConflict('id')
    .ignore();
}

export async function listAccounts(knex: Knex): Promise<Account[]> {
  const rows = await knex<Account>('accounts').select('id', 'balance', 'frozen', 'incoming').orderBy('id');
  return rows.map((r) => ({ id: r.id, balance: Number(r.balance), frozen: Number(r.frozen), incoming: Number(r.incoming) }));
}

/** Parses `alice:1000,bob:500` (the BANK_ACCOUNTS variable). */
export function parseAccounts(text: string): { id: string; balance: number }[] {
  return text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const [id, balance] = part.split(':');
      const amount = Number(balance);
      if (!id || !/^[A-Za-z0-9_-]{1,64}$/.test(id) || !Number.isSafeInteger(amount) || amount < 0) {
        throw new Error(`bad account "${part}": expected id:balance with a non-negative integer balance`);
      }
      return { id, balance: amount };
    });
}
