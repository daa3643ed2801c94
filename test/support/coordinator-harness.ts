/**
 * Coordinators for tests, on the real servers: in-process (to read its store
 * and call its parts) or as a child process (to SIGKILL it).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadConfig, type CoordinatorConfig } from '../../coordinator/config.ts';
import { createCoordinator, type Coordinator } from '../../coordinator/coordinator.ts';
import { waitFor } from '../../tools/wait.ts';

/** The coordinator's key (DTX_SECRET): it signs the coordinator's calls, and participants verify them with it (`coordinatorKey`). */
export const TEST_SECRET = 'test-secret-0123456789';
/** Bearer token of the `tests` caller on /v1 (DTX_API_TOKENS). */
export const TEST_API_TOKEN = 'tests-api-token-0123456789';
/** The `tests` caller's own key at the participants it tries (DtxClient `initiatorKey`). */
export const TEST_INITIATOR_KEY = 'tests-initiator-key-0123456789';
/** A participant's `initiatorKeys` that let the `tests` caller try. */
export const TEST_INITIATOR_KEYS: Readonly<Record<string, string>> = { tests: TEST_INITIATOR_KEY };
/** The `authorization` header that /v1 requests of tests carry. */
export const TEST_API_HEADERS = { authorization: `Bearer ${TEST_API_TOKEN}` } as const;

/** Environment for a coordinator with short timers, so that recovery paths run within a test. */
export function testEnv(mysqlUrl: string, redisUrl: string, redisPrefix: string, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    DTX_MYSQL_URL: mysqlUrl,
    DTX_REDIS_URL: redisUrl,
    DTX_REDIS_PREFIX: redisPrefix,
    DTX_PORT: '0',
    DTX_SECRET: TEST_SECRET,
    DTX_API_TOKENS: `tests:${TEST_API_TOKEN}`,
    // The tests reach every mode at every participant the allow-list lets through.
    DTX_API_SCOPES: 'tests=*@*',
    // Every participant of the tests listens on loopback, on a port chosen at run time.
    DTX_PARTICIPANTS: 'http://127.0.0.1:*/',
    DTX_LEASE_MS: '2000',
    DTX_BRANCH_TIMEOUT_MS: '800',
    DTX_RETRY_BASE_MS: '100',
    DTX_RETRY_MAX_MS: '400',
    DTX_RECONCILE_INTERVAL_MS: '200',
    DTX_SHUTDOWN_GRACE_MS: '2000',
    DTX_LOG_LEVEL: process.env.DTX_TEST_LOG_LEVEL ?? 'silent',
    ...overrides,
  };
}

export interface InProcessCoordinator {
  coordinator: Coordinator;
  config: CoordinatorConfig;
  url: string;
  stop(): Promise<void>;
}

export async function startInProcessCoordinator(env: Record<string, string>): Promise<InProcessCoordinator> {
  const config = loadConfig(env);
  const coordinator = createCoordinator(config, { logger: pino({ level: config.logLevel }) });
  const url = await coordinator.start();
  let stopped = false;
  return {
    coordinator,
    config,
    url,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await coordinator.stop();
    },
  };
}

/** Children still running when the test process exits are killed, so none outlives a crashed run. */
const liveChildren = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL');
});

export interface CoordinatorProcess {
  url: string;
  child: ChildProcess;
  logFile: string;
  /** SIGKILL, and wait until the process is gone. */
  kill(): Promise<void>;
}

/**
 * Starts `coordinator/main.ts` as a child process on a free port and waits for /health.
 * `nodeArgs` come before the entry point (e.g. `['--import', './test/support/stray-error.ts']`).
 */
export async function startCoordinatorProcess(env: Record<string, string>, port: number, nodeArgs: readonly string[] = []): Promise<CoordinatorProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'dtx-coordinator-'));
  const logFile = join(dir, 'coordinator.log');
  const log = createWriteStream(logFile);
  await once(log, 'open');
  const child = spawn(process.execPath, ['--conditions=dtx-source', '--import', 'tsx', ...nodeArgs, 'coordinator/main.ts'], {
    cwd: process.cwd(),
    env: { ...process.env, ...env, DTX_PORT: String(port), DTX_LOG_LEVEL: env.DTX_LOG_LEVEL === 'silent' ? 'debug' : env.DTX_LOG_LEVEL },
    stdio: ['ignore', log, log],
  });
  const url = `http://127.0.0.1:${port}`;
  let exited = false;
  liveChildren.add(child);
  child.once('exit', () => {
    exited = true;
    liveChildren.delete(child);
  });
  await waitFor(
    async (bail) => {
      if (exited) bail(new Error(`coordinator exited during start; see ${logFile}`));
      const response = await fetch(`${url}/health`).catch(() => null);
      return response?.ok ?? false;
    },
    { timeoutMs: 30_000, intervalMs: 100, what: `coordinator on port ${port} to answer /health` },
  );
  return {
    url,
    child,
    logFile,
    kill: async () => {
      if (exited) return;
      const gone = once(child, 'exit');
      child.kill('SIGKILL');
      await gone;
    },
  };
}
