/**
 * vitest globalSetup: provisions MariaDB + Redis once per run (private
 * servers unless DTX_TEST_MYSQL_URL / DTX_TEST_REDIS_URL are set) and hands
 * their URLs to the tests: `inject('mysqlUrl')`, `inject('redisUrl')`.
 */
import type { TestProject } from 'vitest/node';
import { provisionServers } from './environment.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** `mysql://dtx:dtx@127.0.0.1:<port>`, no database part: use createTestDatabase(). */
    mysqlUrl: string;
    /** `redis://127.0.0.1:<port>`: use uniqueRedisPrefix() for keys / BullMQ prefixes. */
    redisUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const servers = await provisionServers();
  if (process.env['DTX_TEST_VERBOSE']) {
    process.stderr.write(
      `[dtx servers] mysql ${servers.mysqlUrl}, redis ${servers.redisUrl} (ready in ${Date.now() - started} ms)\n`,
    );
  }
  project.provide('mysqlUrl', servers.mysqlUrl);
  project.provide('redisUrl', servers.redisUrl);
  return async () => {
    await servers.stop();
  };
}
