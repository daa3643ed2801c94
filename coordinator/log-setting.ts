/**
 * Which transaction log a coordinator keeps, named by one URL whose scheme
 * picks the store: `mysql://` (MySQL or MariaDB), `postgres://` or
 * `postgresql://` (PostgreSQL 15+), `embedded:<folder>` (PostgreSQL inside
 * the process, in that folder; `embedded:memory` keeps nothing on disk).
 * Pure: parsing only; store/open-log.ts opens what it names.
 */

import type { LogKind } from './store/ports/transaction-log.ts';

/** The log a coordinator keeps: its store and where. */
export interface LogSetting {
  kind: LogKind;
  /** The URL as configured (it may hold a password: log it redacted). */
  url: string;
}

/** What DTX_LOG_URL is when neither it nor DTX_MYSQL_URL is set. */
export const DEFAULT_LOG_URL = 'mysql://root@127.0.0.1:3306/dtx';

const SCHEMES: ReadonlyMap<string, LogKind> = new Map<string, LogKind>([
  ['mysql:', 'mysql'],
  ['postgres:', 'postgres'],
  ['postgresql:', 'postgres'],
  ['embedded:', 'embedded'],
]);

/**
 * DTX_LOG_URL, or its older name DTX_MYSQL_URL (the same value if both are set).
 *
 * @param env - the variables
 * @param problems - where a wrong value is reported
 */
export function parseLogSetting(env: Record<string, string | undefined>, problems: string[]): LogSetting {
  const primary = env.DTX_LOG_URL || undefined;
  const alias = env.DTX_MYSQL_URL || undefined;
  if (primary && alias && primary !== alias) problems.push('DTX_LOG_URL and DTX_MYSQL_URL name two different logs: set one of them');
  const url = primary ?? alias ?? DEFAULT_LOG_URL;
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0].toLowerCase();
  const kind = scheme === undefined ? undefined : SCHEMES.get(scheme);
  if (!kind) {
    // Never echo the URL: it may hold a password.
    problems.push('DTX_LOG_URL must start with mysql://, postgres:// (or postgresql://) or embedded: (e.g. embedded:./dtx-data, embedded:memory)');
    return { kind: 'mysql', url };
  }
  if (kind === 'embedded' && url.slice('embedded:'.length).trim() === '')
    problems.push('DTX_LOG_URL embedded: needs a folder (or memory), e.g. embedded:./dtx-data');
  if (kind === 'mysql' && alias && !primary) return { kind, url };
  if (kind !== 'mysql' && alias && !primary) problems.push('DTX_MYSQL_URL names a MySQL log only; use DTX_LOG_URL for another store');
  return { kind, url };
}
