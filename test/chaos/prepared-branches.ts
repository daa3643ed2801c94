/**
 * No transaction may stay prepared in a bank's database once every
 * transaction is terminal: a prepared one holds its rows locked until a
 * commit or a rollback reaches it, so one left behind would block its
 * accounts for good. Read from each bank's server (dtx's XA branches on
 * MySQL; any prepared transaction on PostgreSQL, where dtx prepares none).
 */
import type { Knex } from 'knex';
import type { Violation } from '../../examples/bank-transfer/cluster/audit.ts';
import type { ChaosDatabaseServer } from './database-servers.ts';

export async function preparedBranchViolations(database: ChaosDatabaseServer, bankDbs: Record<string, Knex>): Promise<Violation[]> {
  const found: Violation[] = [];
  for (const [bank, db] of Object.entries(bankDbs)) {
    const gids = await database.preparedTransactions(db);
    if (gids.length === 0) continue;
    found.push({ invariant: 'no XA branch left prepared', detail: `bank ${bank}: ${gids.length} prepared`, gids: gids.slice(0, 20) });
  }
  return found;
}
