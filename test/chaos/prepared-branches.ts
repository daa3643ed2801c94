/**
 * No XA branch may stay prepared once every transaction is terminal: a
 * prepared branch holds its rows locked until a commit or a rollback reaches
 * it, so one left behind would block its accounts for good. Read from each
 * bank's `XA RECOVER` (dtx's xids only).
 */
import type { Knex } from 'knex';
import { DTX_XA_FORMAT_ID } from '@dtx/participant-sdk';
import type { Violation } from '../../examples/bank-transfer/cluster/audit.ts';

export async function preparedBranchViolations(bankDbs: Record<string, Knex>): Promise<Violation[]> {
  const found: Violation[] = [];
  for (const [bank, db] of Object.entries(bankDbs)) {
    const [rows] = (await db.raw('XA RECOVER')) as unknown as [{ formatID: number; gtrid_length: number; data: Buffer | string }[]];
    const ours = rows.filter((row) => Number(row.formatID) === DTX_XA_FORMAT_ID);
    if (ours.length === 0) continue;
    const gids = ours.map((row) => Buffer.from(row.data).subarray(0, Number(row.gtrid_length)).toString('ascii'));
    found.push({ invariant: 'no XA branch left prepared', detail: `bank ${bank}: ${ours.length} prepared`, gids: gids.slice(0, 20) });
  }
  return found;
}
