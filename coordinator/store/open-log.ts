/**
 * The one place that turns a log setting into a store: the coordinator (and
 * `dtx migrate`) open their log here, by the URL's scheme, and know only the
 * TransactionLog port after that.
 */
import type { LogSetting } from '../log-setting.ts';
import { openEmbeddedLog } from './embedded/open-embedded-log.ts';
import { openMysqlLog } from './mysql/open-mysql-log.ts';
import type { TransactionLog } from './ports/transaction-log.ts';
import { openPostgresLog } from './postgres/open-postgres-log.ts';

/** How the log's connections are bounded, whatever the store. */
export interface LogLimits {
  /** Most connections of each pool. */
  poolMax: number;
  /** Bound on each statement, on connecting and on waiting for a pooled connection (the embedded log: on waiting for its database). */
  queryTimeoutMs: number;
}

/** Opens the log `setting` names. Nothing connects before the first statement (or `prepare()`). */
export function openLog(setting: LogSetting, limits: LogLimits): TransactionLog {
  switch (setting.kind) {
    case 'mysql':
      return openMysqlLog({ url: setting.url, ...limits });
    case 'postgres':
      return openPostgresLog({ url: setting.url, ...limits });
    case 'embedded':
      return openEmbeddedLog({ location: setting.url.slice('embedded:'.length).trim(), queryTimeoutMs: limits.queryTimeoutMs });
  }
}
