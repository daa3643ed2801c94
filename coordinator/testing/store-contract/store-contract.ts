/**
 * The store contract: what every implementation of the store ports
 * (TransactionStore and AdminStore, coordinator/store/ports/) must do,
 * written against the ports only — no SQL, no driver. A new store is done
 * when `describeStoreContract` passes on it (see test/store-contract/).
 *
 * Times are synthetic (the store never reads a clock: every operation is
 * given its `now`), gids are unique per test, and the groups that look at
 * the whole log (findDue, the admin listing) get a store of their own.
 */
import { describe } from 'vitest';
import { concurrencyContract } from './concurrency.ts';
import { useStore, type StoreFactory } from './fixtures.ts';
import { messagesContract } from './messages.ts';
import { registrationContract } from './registration.ts';
import { roundsContract } from './rounds.ts';
import { rowLocksContract } from './row-locks.ts';
import { sagaRoundsContract } from './saga-rounds.ts';
import { wholeLogContract } from './whole-log.ts';

export type { StoreContext, StoreFactory, StoreUnderTest } from './fixtures.ts';
export { registration } from './fixtures.ts';

export function describeStoreContract(name: string, factory: StoreFactory): void {
  describe(`store contract: ${name}`, () => {
    describe('on a shared store', () => {
      const open = useStore(factory, 'contract');
      registrationContract(open);
      roundsContract(open);
      sagaRoundsContract(open);
      messagesContract(open);
      concurrencyContract(open);
      rowLocksContract(open);
    });
    wholeLogContract(factory);
  });
}
