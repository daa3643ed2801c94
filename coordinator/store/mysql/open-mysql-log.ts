/**
 * The transaction log on MySQL or MariaDB: its two pools (the group-commit
 * batch of the hot path, knex for the rest), the stores on them, and its
 * migrations, as a TransactionLog whose operations throw the engine's
 * StoreUnavailableError for an outage (mysql-outage.ts).
 */
import { translatingErrors } from '../ports/store-errors.ts';
import type { TransactionLog } from '../ports/transaction-log.ts';
import type { AdminStore } from '../ports/admin-store.ts';
import type { TransactionStore } from '../ports/transaction-store.ts';
import { redactUrl } from '../../redact-url.ts';
import { connectMysql } from './connect.ts';
import { connectBatchPool, MysqlBatch } from './mysql-batch.ts';
import { MysqlAdminStore } from './mysql-admin-store.ts';
import { translateMysqlError } from './mysql-outage.ts';
import { MysqlTransactionStore } from './mysql-transaction-store.ts';
import { MysqlWriter } from './mysql-writer.ts';
import { prepareLogDatabase } from './prepare-log-database.ts';

/** Where the MySQL log is and how its pools are bounded. */
export interface MysqlLogOptions {
  /** `mysql://user:pass@host:port/database`. */
  url: string;
  /** Most connections of each of the two pools. */
  poolMax: number;
  /** Bound on each statement, on connecting and on waiting for a pooled connection. */
  queryTimeoutMs: number;
}

/** Opens the MySQL log (lazily: nothing connects before the first statement). */
export function openMysqlLog(options: MysqlLogOptions): TransactionLog {
  const knex = connectMysql({ url: options.url, poolMax: options.poolMax, queryTimeoutMs: options.queryTimeoutMs });
  const writer = new MysqlWriter(knex);
  const batch = new MysqlBatch(connectBatchPool(options.url, options.poolMax, options.queryTimeoutMs), writer, { maxWaitMs: options.queryTimeoutMs });
  const store = new MysqlTransactionStore(writer, batch);
  return {
    kind: 'mysql',
    store: translatingErrors<TransactionStore>(store, translateMysqlError),
    adminStore: translatingErrors<AdminStore>(new MysqlAdminStore(writer), translateMysqlError),
    description: redactUrl(options.url),
    prepare: () => prepareLogDatabase(options.url, options.queryTimeoutMs),
    commitCount: () => store.commitCount,
    close: () => store.close(),
  };
}
