/**
 * Private MariaDB and Redis server processes for tests, the demo and
 * benchmarks (see mariadb-server.ts, redis-server.ts): what they need
 * installed, and the one module their users import.
 */
import { ensureDebianPackages } from './debian-packages.ts';
import type { DebianPackage } from './debian-packages.ts';
import { MARIADB_PACKAGES } from './mariadb-server.ts';
import { REDIS_PACKAGES } from './redis-server.ts';

export { startMariadb } from './mariadb-server.ts';
export type { MariadbServer } from './mariadb-server.ts';
export { startRedis } from './redis-server.ts';
export type { RedisServer } from './redis-server.ts';
export type { ManagedServer, ServerOptions } from './server-process.ts';

/** The binaries startMariadb() and startRedis() run, and their Debian packages. */
export const SERVER_PACKAGES: readonly DebianPackage[] = [...MARIADB_PACKAGES, ...REDIS_PACKAGES].map((required) => ({
  ...required,
  instead: 'point DTX_TEST_MYSQL_URL and DTX_TEST_REDIS_URL at running servers',
}));

/**
 * Installs the `mariadb-server` and `redis-server` Debian packages with apt-get
 * when `mariadbd`, `mariadb-install-db` or `redis-server` cannot be found.
 * Does nothing when they are all present.
 */
export function ensureServerPackages(): Promise<void> {
  return ensureDebianPackages(SERVER_PACKAGES);
}
