/**
 * What the chaos suite needs of the transfers it sends: the example's load
 * generator (seeded plan, named gids, what each caller was told) and the
 * check of that answer against the transaction's final status.
 */
import type { GlobalStatus } from '@dtx/coordinator';
import type { TransferResult } from '../../examples/bank-transfer/cluster/transfer-load.ts';

export { runTransfers as runChaosLoad } from '../../examples/bank-transfer/cluster/transfer-load.ts';
export type { LoadSummary as ChaosLoadSummary, TransferRecord } from '../../examples/bank-transfer/cluster/transfer-load.ts';

/**
 * What the caller was told must hold at the end: a transfer answered as
 * confirmed, succeeded or delivered (or TCC confirming, or a message whose
 * debit committed) ends committed; one refused
 * (insufficient funds, cancelled, compensated, or the coordinator refusing
 * it) never ends committed. A failed request, or a saga still running when
 * answered, promises nothing. `finalStatus` is the log's (the model's) name.
 */
export function contradicts(answer: TransferResult, finalStatus: string | undefined): boolean {
  const committed: GlobalStatus = 'committed';
  switch (answer) {
    case 'confirmed':
    case 'pending':
      return finalStatus !== committed;
    case 'insufficient-funds':
    case 'refused':
      return finalStatus === committed;
    case 'undecided':
    case 'failed':
      return false;
  }
}
