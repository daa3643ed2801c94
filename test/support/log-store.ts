/**
 * The coordinator's transaction log on a test database, without a
 * coordinator around it: the store as the engine uses it (group-commit
 * batch and knex writer), for tests of the store itself.
 */
import type { Knex } from 'knex';
import { connectMysql } from '../../coordinator/store/mysql/connect.ts';
import { migrateLatest } from '../../coordinator/store/mysql/migrator.ts';
import { connectBatchPool, MysqlBatch, type GroupCommitOptions } from '../../coordinator/store/mysql/mysql-batch.ts';
import { MysqlTransactionStore } from '../../coordinator/store/mysql/mysql-transaction-store.ts';
import { MysqlWriter } from '../../coordinator/store/mysql/mysql-writer.ts';
import type { BranchRegistration } from '../../coordinator/domain/transaction.ts';

export interface LogStore {
  knex: Knex;
  batch: MysqlBatch;
  store: MysqlTransactionStore;
  /** Closes both pools. */
  close(): Promise<void>;
}

/** A store on `databaseUrl` (migrated to the latest schema unless `migrate` is false). */
export async function openLogStore(databaseUrl: string, options: { group?: GroupCommitOptions; migrate?: boolean } = {}): Promise<LogStore> {
  const knex = connectMysql({ url: databaseUrl, poolMax: 4 });
  if (options.migrate !== false) await migrateLatest(knex);
  const writer = new MysqlWriter(knex);
  const batch = new MysqlBatch(connectBatchPool(databaseUrl, 4), writer, options.group);
  const store = new MysqlTransactionStore(writer, batch);
  return { knex, batch, store, close: () => store.close() };
}

/** A branch registration whose endpoints are `base`/confirm and `base`/cancel. */
export function registration(branchId: string, base = 'http://127.0.0.1:9/dtx/account'): BranchRegistration {
  return { branchId, operations: { confirm: `${base}/confirm`, cancel: `${base}/cancel` }, payload: '{"amount":1}' };
}
