/**
 * Private MariaDB, PostgreSQL and Redis server processes for tests, the demo
 * and benchmarks (see mariadb-server.ts, postgres-server.ts,
 * redis-server.ts): what they need installed, and the one module their
 * users import.
 */
import { ensureDebianPackages } from './debian-packages.ts';
import type { DebianPackage } from './debian-packages.ts';
import { MARIADB_PACKAGES } from './mariadb-server.ts';
import { POSTGRES_PACKAGES } from './postgres-server.ts';
import { REDIS_PACKAGES } from './redis-server.ts';

export { startMariadb } from './mariadb-server.ts';
export type { MariadbServer } from './mariadb-server.ts';
export { startPostgres } from './postgres-server.ts';
export type { PostgresServer } from './postgres-server.ts';
export { startRedis } from './redis-server.ts';
export type { RedisServer } from './redis-server.ts';
export type { ManagedServer, ServerOptions } from './server-process.ts';

const INSTEAD = 'point DTX_TEST_MYSQL_URL and DTX_TEST_REDIS_URL (and DTX_TEST_POSTGRES_URL) at running servers';

/** The binaries startMariadb() and startRedis() run, and their Debian packages. */
export const SERVER_PACKAGES: readonly DebianPackage[] = [...MARIADB_PACKAGES, ...REDIS_PACKAGES].map((required) => ({ ...required, instead: INSTEAD }));

/** What startPostgres() runs, and its Debian package. */
export const POSTGRES_SERVER_PACKAGES: readonly DebianPackage[] = POSTGRES_PACKAGES.map((required) => ({ ...required, instead: INSTEAD }));

/**
 * Installs the `mariadb-server` and `redis-server` Debian packages (and
 * `postgresql` when asked) with apt-get, for those whose binaries cannot be
 * found. Does nothing when they are all present.
 */
export function ensureServerPackages(options: { postgres?: boolean } = {}): Promise<void> {
  return ensureDebianPackages([...SERVER_PACKAGES, ...(options.postgres ? POSTGRES_SERVER_PACKAGES : [])]);
}
