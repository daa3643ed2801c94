/**
 * Starts a private MariaDB, PostgreSQL and Redis for local development (the
 * demo, benchmarks, manual runs, `npm test` in another shell) and keeps them
 * until Ctrl-C / SIGTERM:
 *
 *   npm run servers
 *   # in another shell, paste the printed lines:
 *   export DTX_LOG_URL=mysql://dtx:dtx@127.0.0.1:12345/dtx
 *   export DTX_REDIS_URL=redis://127.0.0.1:23456
 *
 * On exit both servers are stopped and their temp dirs removed.
 */
import { provisionServers } from '../tools/environment.ts';

const started = Date.now();
const servers = await provisionServers({ postgres: true });
const seconds = ((Date.now() - started) / 1000).toFixed(1);

process.stdout.write(
  [
    `# dtx dev servers ready in ${seconds} s (Ctrl-C to stop). Export these:`,
    `DTX_LOG_URL=${servers.mysqlUrl}/dtx`,
    `DTX_REDIS_URL=${servers.redisUrl}`,
    `# or, for a log on PostgreSQL: DTX_LOG_URL=${servers.postgresUrl}`,
    // Lets `npm test` in another shell reuse these servers instead of starting its own.
    `DTX_TEST_MYSQL_URL=${servers.mysqlUrl}`,
    `DTX_TEST_REDIS_URL=${servers.redisUrl}`,
    `DTX_TEST_POSTGRES_URL=${servers.postgresUrl}`,
    '',
  ].join('\n'),
);

// The servers' handles are unref'd; keep the process alive until told to stop.
const keepAlive = setInterval(() => {}, 1 << 30);

let stopping = false;
async function shutdown(signal: NodeJS.Signals): Promise<void> {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`\n# ${signal}: stopping servers...\n`);
  try {
    await servers.stop();
    process.stderr.write('# stopped\n');
  } catch (error) {
    process.stderr.write(`# error while stopping: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  } finally {
    clearInterval(keepAlive);
  }
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => void shutdown(signal));
}
