/**
 * vitest globalSetup: installs the Debian packages the run needs, then
 * provisions MariaDB, PostgreSQL and Redis once per run (private servers
 * unless DTX_TEST_MYSQL_URL / DTX_TEST_POSTGRES_URL / DTX_TEST_REDIS_URL are
 * set) and hands their URLs to the tests: `inject('mysqlUrl')`,
 * `inject('postgresUrl')`, `inject('redisUrl')`.
 */
import type { TestProject } from 'vitest/node';
import { CHROMIUM_PACKAGES } from './chromium.ts';
import { ensureDebianPackages, findBinary } from '../../tools/debian-packages.ts';
import { externalServerUrls, provisionServers } from '../../tools/environment.ts';
import { POSTGRES_SERVER_PACKAGES, SERVER_PACKAGES } from '../../tools/servers.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** `mysql://dtx:dtx@127.0.0.1:<port>`, no database part: use createTestDatabase(). */
    mysqlUrl: string;
    /** `redis://127.0.0.1:<port>`: use uniqueRedisPrefix() for keys / BullMQ prefixes. */
    redisUrl: string;
    /** `postgres://dtx:dtx@127.0.0.1:<port>/postgres`: use createTestPostgresDatabase(). */
    postgresUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  await installPackages();
  const servers = await provisionServers({ postgres: true });
  if (process.env['DTX_TEST_VERBOSE']) {
    process.stderr.write(`[dtx servers] mysql ${servers.mysqlUrl}, redis ${servers.redisUrl} (ready in ${Date.now() - started} ms)\n`);
  }
  project.provide('mysqlUrl', servers.mysqlUrl);
  project.provide('redisUrl', servers.redisUrl);
  project.provide('postgresUrl', servers.postgresUrl!);
  return async () => {
    await servers.stop();
  };
}

/**
 * One apt-get run for everything missing: the servers (unless external ones
 * are used) and chromium. Installing chromium later, in the browser test's
 * hook, would be a second `apt-get update` and could outlast the hook timeout.
 */
async function installPackages(): Promise<void> {
  const servers = externalServerUrls({ postgres: true }) ? [] : [...SERVER_PACKAGES, ...POSTGRES_SERVER_PACKAGES];
  try {
    await ensureDebianPackages([...servers, ...CHROMIUM_PACKAGES]);
  } catch (error) {
    // Without the servers nothing can run; without chromium only the browser test fails (and says why).
    if (servers.some((required) => !findBinary(required.binary))) throw error;
    process.stderr.write(`[dtx apt] ${error instanceof Error ? error.message : String(error)}\n(only the browser test needs chromium: running the rest)\n`);
  }
}
