/**
 * The transaction log on a PostgreSQL server (15 or later): one
 * node-postgres pool, the stores on it, and its migrations, as a
 * TransactionLog whose operations throw the engine's StoreUnavailableError
 * for an outage (postgres-outage.ts).
 */
import { redactUrl } from '../../redact-url.ts';
import type { AdminStore } from '../ports/admin-store.ts';
import { translatingErrors } from '../ports/store-errors.ts';
import type { TransactionLog } from '../ports/transaction-log.ts';
import type { TransactionStore } from '../ports/transaction-store.ts';
import { connectPostgres } from './pg-database.ts';
import { PostgresAdminStore } from './postgres-admin-store.ts';
import { translatePostgresError } from './postgres-outage.ts';
import { PostgresTransactionStore } from './postgres-transaction-store.ts';
import { PostgresWriter } from './postgres-writer.ts';
import { preparePostgresDatabase } from './prepare-postgres-database.ts';
import type { SqlDatabase } from './sql-database.ts';

/** Where the PostgreSQL log is and how its pool is bounded. */
export interface PostgresLogOptions {
  /** `postgres://user:pass@host:port/database` (or `postgresql://`). */
  url: string;
  /** Most connections of the pool. */
  poolMax: number;
  /** Bound on each statement, on connecting and on waiting for a pooled connection. */
  queryTimeoutMs: number;
}

/** Opens the PostgreSQL log (lazily: nothing connects before the first statement). */
export function openPostgresLog(options: PostgresLogOptions): TransactionLog {
  const db = connectPostgres({ url: options.url, poolMax: options.poolMax, queryTimeoutMs: options.queryTimeoutMs });
  return logOn(db, {
    kind: 'postgres',
    description: redactUrl(options.url),
    prepare: () => preparePostgresDatabase(options.url, options.queryTimeoutMs),
  });
}

/**
 * The PostgreSQL stores on `db`, their outages translated: what the
 * PostgreSQL log and the embedded one share (store/embedded/ runs the same
 * stores on PGlite).
 */
export function logOn(db: SqlDatabase, log: Pick<TransactionLog, 'kind' | 'description' | 'prepare'>): TransactionLog {
  const writer = new PostgresWriter(db);
  const store = new PostgresTransactionStore(writer);
  const what = log.kind === 'embedded' ? 'the embedded log' : 'the PostgreSQL log';
  const translate = (error: unknown) => translatePostgresError(error, what);
  return {
    ...log,
    store: translatingErrors<TransactionStore>(store, translate),
    adminStore: translatingErrors<AdminStore>(new PostgresAdminStore(writer), translate),
    commitCount: () => store.commitCount,
    close: () => store.close(),
  };
}
