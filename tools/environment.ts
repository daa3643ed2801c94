/**
 * The MariaDB and Redis servers a test run (or the demo / a benchmark) uses:
 * the ones named by DTX_TEST_MYSQL_URL and DTX_TEST_REDIS_URL when both are
 * set, private ones started here otherwise.
 */
import { ensureServerPackages, startMariadb, startRedis } from './servers.ts';

export interface ProvisionedServers {
  /** `mysql://user:pass@host:port` without a database part. */
  mysqlUrl: string;
  /** `redis://host:port`. */
  redisUrl: string;
  /** Stops the private servers and removes their temp dirs; a no-op for external servers. */
  stop(): Promise<void>;
}

/** The servers named by DTX_TEST_MYSQL_URL and DTX_TEST_REDIS_URL, when both are set. */
export function externalServerUrls(): { mysqlUrl: string; redisUrl: string } | undefined {
  const mysqlUrl = process.env['DTX_TEST_MYSQL_URL'];
  const redisUrl = process.env['DTX_TEST_REDIS_URL'];
  return mysqlUrl && redisUrl ? { mysqlUrl, redisUrl } : undefined;
}

export async function provisionServers(): Promise<ProvisionedServers> {
  const external = externalServerUrls();
  if (external) {
    return { ...external, stop: async () => {} };
  }
  if (process.env['DTX_TEST_MYSQL_URL'] || process.env['DTX_TEST_REDIS_URL']) {
    process.stderr.write('[dtx servers] only one of DTX_TEST_MYSQL_URL / DTX_TEST_REDIS_URL is set; ignoring it and starting private servers\n');
  }

  await ensureServerPackages();
  const [mariadb, redis] = await Promise.allSettled([startMariadb(), startRedis()]);
  if (mariadb.status === 'rejected' || redis.status === 'rejected') {
    await Promise.allSettled([mariadb, redis].map((r) => (r.status === 'fulfilled' ? r.value.stop() : undefined)));
    const errors = [mariadb, redis].flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    if (errors.length === 1) throw errors[0];
    throw new AggregateError(errors, `Could not start MariaDB nor Redis:\n${errors.map(String).join('\n')}`);
  }
  const servers = [mariadb.value, redis.value];
  return {
    mysqlUrl: mariadb.value.url,
    redisUrl: redis.value.url,
    stop: async () => {
      const results = await Promise.allSettled(servers.map((s) => s.stop()));
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
    },
  };
}
