/**
 * The store contract (coordinator/testing/store-contract/) on the MySQL store:
 * each store the suite opens gets its own database on the test server,
 * migrated to the latest schema, with the group-commit batch and the knex
 * writer wired as coordinator.ts wires them.
 */
import { inject } from 'vitest';
import { connectMysql } from '../../coordinator/store/mysql/connect.ts';
import { migrateLatest } from '../../coordinator/store/mysql/migrator.ts';
import { connectBatchPool, MysqlBatch } from '../../coordinator/store/mysql/mysql-batch.ts';
import { MysqlAdminStore } from '../../coordinator/store/mysql/mysql-admin-store.ts';
import { MysqlTransactionStore } from '../../coordinator/store/mysql/mysql-transaction-store.ts';
import { MysqlWriter } from '../../coordinator/store/mysql/mysql-writer.ts';
import { createTestDatabase } from '../support/databases.ts';
import { describeStoreContract } from '../../coordinator/testing/store-contract/store-contract.ts';

describeStoreContract('mysql', async ({ label }) => {
  const db = await createTestDatabase(inject('mysqlUrl'), label);
  const knex = connectMysql({ url: db.url, poolMax: 4 });
  try {
    await migrateLatest(knex);
  } catch (error) {
    await knex.destroy();
    await db.drop();
    throw error;
  }
  const writer = new MysqlWriter(knex);
  const store = new MysqlTransactionStore(writer, new MysqlBatch(connectBatchPool(db.url, 4), writer));
  const adminStore = new MysqlAdminStore(writer);
  return {
    store,
    adminStore,
    close: async () => {
      // Closes the batch pool and the knex pool the admin store shares.
      await store.close();
      await db.drop();
    },
  };
});
