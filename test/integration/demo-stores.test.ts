/**
 * `npm run demo` as a user runs it, on the stores other than MariaDB: the
 * log and both banks on PostgreSQL, and everything embedded with no server at
 * all; and FMT transfers (the mode that runs on every store) with the banks
 * on MariaDB and on PostgreSQL. Each run is a child process that must end by
 * itself, with exit code 0, every invariant holding and the money conserved.
 *
 * The embedded runs prove that they reach no server: every DTX_TEST_*_URL
 * names a closed port (a demo that provisioned servers would take those, and
 * fail to connect), and PATH holds node's folder only (it could neither find a
 * server's program nor install one).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { pickFreePort } from '../../tools/free-port.ts';

/** Past this, the run is stopped (SIGTERM: the demo stops what it started; then SIGKILL to its process group). */
const RUN_BOUND_MS = 150_000;

interface DemoRun {
  code: number | null;
  output: string;
}

/** The environment of a shell with nothing of dtx configured. */
function bareEnvironment(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('DTX_')));
}

describe('the demo on PostgreSQL and embedded', () => {
  /** The runs' TMPDIR: the demo's logs and embedded data folders go there, and go with it. */
  let temp: string;

  beforeAll(async () => {
    temp = await mkdtemp(join(tmpdir(), 'dtx-demo-test-'));
  });

  afterAll(async () => {
    await rm(temp, { recursive: true, force: true });
  });

  async function runDemo(args: string[], env: NodeJS.ProcessEnv): Promise<DemoRun> {
    const child = spawn(process.execPath, ['--conditions=dtx-source', '--import', 'tsx', 'examples/bank-transfer/demo.ts', ...args], {
      cwd: process.cwd(),
      env: { ...env, TMPDIR: temp },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so that a run past its bound goes with everything it started.
      detached: true,
    });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = once(child, 'exit') as Promise<[number | null]>;
    const stop = setTimeout(() => child.kill('SIGTERM'), RUN_BOUND_MS);
    const kill = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // Gone meanwhile.
      }
    }, RUN_BOUND_MS + 20_000);
    const [code] = await exited;
    clearTimeout(stop);
    clearTimeout(kill);
    return { code, output };
  }

  function expectConserved(run: DemoRun): void {
    expect(run.code, run.output).toBe(0);
    expect(run.output).toContain('(conserved ✓)');
    expect(run.output).toContain('All invariants hold ✓');
    expect(run.output).toMatch(/still open\s+0\n/);
  }

  /** Nothing to reach: servers named at closed ports, and no program but node. */
  async function serverlessEnvironment(): Promise<NodeJS.ProcessEnv> {
    const closed = await pickFreePort();
    return {
      ...bareEnvironment(),
      DTX_TEST_MYSQL_URL: `mysql://dtx:dtx@127.0.0.1:${closed}`,
      DTX_TEST_REDIS_URL: `redis://127.0.0.1:${closed}`,
      DTX_TEST_POSTGRES_URL: `postgres://dtx:dtx@127.0.0.1:${closed}/postgres`,
      PATH: dirname(process.execPath),
    };
  }

  it(
    'runs TCC transfers with the log and both banks on PostgreSQL',
    async () => {
      const run = await runDemo(['--bank-db', 'postgres', '--log', 'postgres', '--transfers', '30', '--seed', '41'], {
        ...bareEnvironment(),
        DTX_TEST_MYSQL_URL: inject('mysqlUrl'),
        DTX_TEST_REDIS_URL: inject('redisUrl'),
        DTX_TEST_POSTGRES_URL: inject('postgresUrl'),
      });
      expectConserved(run);
      expect(run.output).toContain('log on PostgreSQL, banks on PostgreSQL, retries through BullMQ on Redis');
    },
    RUN_BOUND_MS + 30_000,
  );

  it(
    'runs TCC transfers with nothing installed: the log and the banks embedded, retries in process',
    async () => {
      const run = await runDemo(['--embedded', '--transfers', '30', '--seed', '42'], await serverlessEnvironment());
      expectConserved(run);
      expect(run.output).toContain('no server at all');
      expect(run.output).not.toMatch(/provisioning/i);
    },
    RUN_BOUND_MS + 30_000,
  );

  it(
    'runs sagas embedded, some steps failing and compensated',
    async () => {
      const run = await runDemo(['--embedded', '--mode', 'saga', '--transfers', '30', '--error-rate', '0.05', '--seed', '43'], await serverlessEnvironment());
      expectConserved(run);
      expect(run.output).not.toMatch(/provisioning/i);
    },
    RUN_BOUND_MS + 30_000,
  );

  /** The test run's servers: the demo provisions none of its own. */
  const testServers = (): NodeJS.ProcessEnv => ({
    ...bareEnvironment(),
    DTX_TEST_MYSQL_URL: inject('mysqlUrl'),
    DTX_TEST_REDIS_URL: inject('redisUrl'),
    DTX_TEST_POSTGRES_URL: inject('postgresUrl'),
  });

  /** An FMT run's summary: in FMT's words, and nothing of FMT left behind (no undo record in the banks, no row lock held). */
  function expectFmtSummary(run: DemoRun): void {
    expect(run.output).toContain('dtx bank-transfer demo (FMT)');
    expect(run.output).toMatch(/answered committed\s+\d+/);
    expect(run.output).toMatch(/failed \(then rolled back\)\s+\d+/);
    expect(run.output).toMatch(/coordinator log\s+.*committed \d+/);
    expect(run.output).not.toMatch(/coordinator log\s+.*(confirmed|cancelled|executing)/);
    expect(run.output).toMatch(/FMT undo records left\s+0\n/);
    expect(run.output).toMatch(/FMT row locks held\s+0\n/);
  }

  it(
    'runs FMT transfers with the banks on MariaDB, injected bank errors rolled back from the undo records',
    async () => {
      const run = await runDemo(['--mode', 'fmt', '--transfers', '16', '--concurrency', '4', '--error-rate', '0.05', '--seed', '44'], testServers());
      expectConserved(run);
      expectFmtSummary(run);
      expect(run.output).toContain('log on MariaDB, banks on MariaDB');
    },
    RUN_BOUND_MS + 30_000,
  );

  it(
    'runs FMT transfers with the banks on PostgreSQL, injected bank errors rolled back from the undo records',
    async () => {
      const run = await runDemo(
        ['--mode', 'fmt', '--bank-db', 'postgres', '--transfers', '16', '--concurrency', '4', '--error-rate', '0.05', '--seed', '45'],
        testServers(),
      );
      expectConserved(run);
      expectFmtSummary(run);
      expect(run.output).toContain('log on MariaDB, banks on PostgreSQL');
    },
    RUN_BOUND_MS + 30_000,
  );

  it('refuses XA transfers on banks outside MariaDB, and more than one coordinator on an embedded log', async () => {
    const env = await serverlessEnvironment();
    const xa = await runDemo(['--mode', 'xa', '--bank-db', 'postgres'], env);
    expect(xa.code).toBe(2);
    expect(xa.output).toContain('--mode xa needs the banks on MariaDB');
    const coordinators = await runDemo(['--embedded', '--coordinators', '2'], env);
    expect(coordinators.code).toBe(2);
    expect(coordinators.output).toContain('needs the log on a server');
  });
});
