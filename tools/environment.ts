/**
 * The servers a test run (or the demo / a benchmark) uses: the ones named by
 * DTX_TEST_MYSQL_URL, DTX_TEST_REDIS_URL (and DTX_TEST_POSTGRES_URL) when set,
 * private ones started here otherwise.
 */
import { ensureServerPackages, startMariadb, startPostgres, startRedis, type ManagedServer } from './servers.ts';

export interface ProvisionedServers {
  /** `mysql://user:pass@host:port` without a database part. */
  mysqlUrl: string;
  /** `redis://host:port`. */
  redisUrl: string;
  /** `postgres://user:pass@host:port/postgres` when asked for (`{ postgres: true }`), else null. */
  postgresUrl: string | null;
  /** Stops the private servers and removes their temp dirs; a no-op for external servers. */
  stop(): Promise<void>;
}

/** What to provision beyond MariaDB and Redis. */
export interface ProvisionOptions {
  /** A PostgreSQL server too (DTX_TEST_POSTGRES_URL, or a private one). */
  postgres?: boolean;
}

/** The servers named by DTX_TEST_MYSQL_URL and DTX_TEST_REDIS_URL, when both are set (and DTX_TEST_POSTGRES_URL if wanted). */
export function externalServerUrls(options: ProvisionOptions = {}): { mysqlUrl: string; redisUrl: string; postgresUrl: string | null } | undefined {
  const mysqlUrl = process.env['DTX_TEST_MYSQL_URL'];
  const redisUrl = process.env['DTX_TEST_REDIS_URL'];
  const postgresUrl = process.env['DTX_TEST_POSTGRES_URL'] ?? null;
  if (options.postgres && !postgresUrl) return undefined;
  return mysqlUrl && redisUrl ? { mysqlUrl, redisUrl, postgresUrl: options.postgres ? postgresUrl : null } : undefined;
}

export async function provisionServers(options: ProvisionOptions = {}): Promise<ProvisionedServers> {
  const external = externalServerUrls(options);
  if (external) {
    return { ...external, stop: async () => {} };
  }
  if (process.env['DTX_TEST_MYSQL_URL'] || process.env['DTX_TEST_REDIS_URL']) {
    process.stderr.write('[dtx servers] not every DTX_TEST_*_URL needed is set; ignoring them and starting private servers\n');
  }

  await ensureServerPackages(options);
  const starts: Promise<ManagedServer & { url: string }>[] = [startMariadb(), startRedis(), ...(options.postgres ? [startPostgres()] : [])];
  const results = await Promise.allSettled(starts);
  const failed = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  if (failed.length > 0) {
    await Promise.allSettled(started.map((server) => server.stop()));
    if (failed.length === 1) throw failed[0];
    throw new AggregateError(failed, `Could not start the servers:\n${failed.map(String).join('\n')}`);
  }
  const [mariadb, redis, postgres] = started as [ManagedServer & { url: string }, ManagedServer & { url: string }, (ManagedServer & { url: string })?];
  return {
    mysqlUrl: mariadb.url,
    redisUrl: redis.url,
    postgresUrl: postgres?.url ?? null,
    stop: async () => {
      const stopped = await Promise.allSettled(started.map((s) => s.stop()));
      const error = stopped.find((r) => r.status === 'rejected');
      if (error) throw error.reason;
    },
  };
}
