/**
 * The store contract (coordinator/testing/store-contract/) on the PostgreSQL
 * store: each store the suite opens gets its own database on the test
 * server, prepared as a coordinator prepares it (created, then migrated),
 * and is used through the log's ports, as the coordinator uses it.
 */
import { inject } from 'vitest';
import { openPostgresLog } from '../../coordinator/store/postgres/open-postgres-log.ts';
import { describeStoreContract } from '../../coordinator/testing/store-contract/store-contract.ts';
import { createTestPostgresDatabase } from '../support/databases.ts';

describeStoreContract('postgres', async ({ label }) => {
  const db = await createTestPostgresDatabase(inject('postgresUrl'), label);
  const log = openPostgresLog({ url: db.url, poolMax: 4, queryTimeoutMs: 10_000 });
  try {
    await log.prepare();
  } catch (error) {
    await log.close();
    await db.drop();
    throw error;
  }
  return {
    store: log.store,
    adminStore: log.adminStore,
    close: async () => {
      await log.close();
      await db.drop();
    },
  };
});
