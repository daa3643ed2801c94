/**
 * What the chaos suite needs of the transfers it sends: the example's load
 * generator (seeded plan, named gids, what each caller was told) and the
 * check of that answer against the transaction's final status.
 */
import type { TransferResult } from '../../examples/bank-transfer/cluster/transfer-load.ts';

export { runTransfers as runChaosLoad } from '../../examples/bank-transfer/cluster/transfer-load.ts';
export type { LoadSummary as ChaosLoadSummary, TransferRecord } from '../../examples/bank-transfer/cluster/transfer-load.ts';

/**
 * What the caller was told must hold at the end: a transfer answered as
 * confirmed (or confirming) ends confirmed; one refused (insufficient
 * funds, or the coordinator refusing it) never ends confirmed. A failed
 * request promises nothing.
 */
export function contradicts(answer: TransferResult, finalStatus: string | undefined): boolean {
  switch (answer) {
    case 'confirmed':
    case 'pending':
      return finalStatus !== 'confirmed';
    case 'insufficient-funds':
    case 'refused':
      return finalStatus === 'confirmed';
    case 'failed':
      return false;
  }
}
