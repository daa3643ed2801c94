/**
 * A private Redis server (no persistence) for tests, the demo and benchmarks:
 * its own folder and TCP port, never the machine's system service. Same API
 * as mariadb-server.ts: kill() is a crash, start() a restart on the same port.
 */
import path from 'node:path';
import { Redis } from 'ioredis';
import { requireBinary } from './debian-packages.ts';
import type { DebianPackage } from './debian-packages.ts';
import { ServerProcess, startManagedServer } from './server-process.ts';
import type { ManagedServer, ServerOptions } from './server-process.ts';

export interface RedisServer extends ManagedServer {
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** The server's log (its stdout/stderr). */
  readonly logFile: string;
}

const REDIS_SERVER: DebianPackage = { binary: 'redis-server', pkg: 'redis-server' };
/** What startRedis() runs. */
export const REDIS_PACKAGES: readonly DebianPackage[] = [REDIS_SERVER];

/** Starts a private Redis (no persistence); resolves once it answers PING. */
export async function startRedis(opts: ServerOptions = {}): Promise<RedisServer> {
  const redisServer = requireBinary(REDIS_SERVER);
  return startManagedServer('dtx-redis-', opts, async (baseDir) => {
    const logFile = path.join(baseDir, 'redis.log');
    const proc = new ServerProcess('redis-server', logFile, (port) => ({
      command: redisServer,
      args: [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        baseDir,
        '--daemonize',
        'no',
        '--protected-mode',
        'no',
      ],
      stdoutLog: logFile,
      probe: (pid) => pingRedis(port, pid),
      portInUse: /Address already in use/i,
    }));
    return { proc, afterStart: async (port) => ({ url: `redis://127.0.0.1:${port}`, logFile }) };
  });
}

/** PING, then check via INFO that the server answering is process `pid` (not some other server on the port). */
async function pingRedis(port: number, pid: number): Promise<boolean> {
  const client = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    connectTimeout: 2_000,
    commandTimeout: 2_000,
    enableReadyCheck: false,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    if ((await client.ping()) !== 'PONG') return false;
    const info = await client.info('server');
    const answering = /^process_id:(\d+)/m.exec(info)?.[1];
    if (answering !== String(pid)) {
      throw new Error(`port ${port} is answered by another redis-server (pid ${answering}), not pid ${pid}`);
    }
    return true;
  } finally {
    client.disconnect();
  }
}
