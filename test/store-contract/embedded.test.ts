/**
 * The store contract (coordinator/testing/store-contract/) on the embedded
 * store: each store the suite opens is a fresh PGlite in memory, migrated as
 * a coordinator migrates it, used through the log's ports.
 */
import { openEmbeddedLog } from '../../coordinator/store/embedded/open-embedded-log.ts';
import { describeStoreContract } from '../../coordinator/testing/store-contract/store-contract.ts';

describeStoreContract('embedded', async () => {
  const log = openEmbeddedLog({ location: 'memory' });
  try {
    await log.prepare();
  } catch (error) {
    await log.close();
    throw error;
  }
  return { store: log.store, adminStore: log.adminStore, close: () => log.close() };
});
