/**
 * The packages as a user gets them: each workspace packed with `npm pack`
 * (its prepack builds dist/), the tarballs installed into projects outside
 * the repository, and — with plain `node`, no TypeScript — the coordinator
 * started from the tarball's `dtx` bin, a participant served by the SDK's
 * node:http handler, and one TCC transaction run by the SDK's initiator client.
 *
 * Two projects, as two deployments: a service (the SDK, with the knex and
 * mysql2 a participant adds; no fastify, which only the Fastify plugin needs)
 * and the coordinator (its tarball alone). In one project npm would hoist the
 * coordinator's dependencies where the SDK finds them too (uuid, undici,
 * pino), hiding one the SDK forgot to declare. Each project holds only what
 * its tarballs declare: a missing dist/ file or an undeclared runtime
 * dependency fails here.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import knexFactory, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { prepareBaseDir, type BaseDir } from '../../tools/exit-cleanup.ts';
import { pickFreePort } from '../../tools/free-port.ts';
import { tail } from '../../tools/logged-process.ts';
import { waitFor } from '../../tools/wait.ts';
import { TEST_API_HEADERS, TEST_API_TOKEN, TEST_INITIATOR_KEY, TEST_SECRET, testEnv } from '../support/coordinator-harness.ts';
import { createTestDatabase, uniqueRedisPrefix, type TestDatabase } from '../support/databases.ts';
import { copyScratchScripts, installScratchProject, lockedSpec, packWorkspaces, startIn, userEnv, type ScratchProcess } from './scratch-project.ts';

const run = promisify(execFile);
const repoRoot = process.cwd();

describe('the packed packages, installed in a project of their own', () => {
  let work: BaseDir;
  /** The service's project: participant and initiator. */
  let service: string;
  /** The coordinator's project. */
  let coordinatorProject: string;
  let logDb: TestDatabase;
  let bankDb: TestDatabase;
  let bank: Knex;
  let coordinator: ScratchProcess | undefined;
  let participant: ScratchProcess | undefined;

  beforeAll(async () => {
    work = await prepareBaseDir('dtx-tarball-', undefined);
    service = join(work.path, 'service');
    coordinatorProject = join(work.path, 'coordinator');
    const tarballDir = join(work.path, 'tarballs');
    await mkdir(tarballDir);
    const [tarballs] = await Promise.all([
      packWorkspaces(repoRoot, tarballDir, join(work.path, 'pack.log'), 150_000),
      (async () => {
        logDb = await createTestDatabase(inject('mysqlUrl'), 'tarball_log');
        bankDb = await createTestDatabase(inject('mysqlUrl'), 'tarball_bank');
        bank = knexFactory({ client: 'mysql2', connection: bankDb.url, pool: { min: 0, max: 2 } });
        await bank.schema.createTable('accounts', (t) => {
          t.string('id', 32).primary();
          t.integer('balance').notNullable();
          t.integer('frozen').notNullable().defaultTo(0);
          t.integer('incoming').notNullable().defaultTo(0);
        });
        await bank('accounts').insert([
          { id: 'alice', balance: 100 },
          { id: 'bob', balance: 0 },
        ]);
      })(),
    ]);
    // The peer dependencies a participant adds itself, at the versions the repository is locked to (in the npm cache).
    const peers = await Promise.all(['knex', 'mysql2'].map((name) => lockedSpec(repoRoot, name)));
    await Promise.all([
      installScratchProject(service, [tarballs.protocol, tarballs['participant-sdk']], peers, join(work.path, 'install-service.log'), 120_000),
      installScratchProject(coordinatorProject, [tarballs.protocol, tarballs.coordinator], [], join(work.path, 'install-coordinator.log'), 120_000),
    ]);
    await copyScratchScripts(service, ['participant.mjs', 'initiator.mjs']);
  }, 300_000);

  afterAll(async () => {
    for (const child of [participant, coordinator]) {
      if (!child || child.done) continue;
      child.signal('SIGTERM');
      await Promise.race([child.exited, new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
      child.signal('SIGKILL');
    }
    await bank?.destroy();
    await bankDb?.drop();
    await logDb?.drop();
    await work?.release();
  }, 60_000);

  it('installs built JavaScript with its declarations and the dtx bin, and no TypeScript tooling', () => {
    const installed = (project: string, path: string) => existsSync(join(project, 'node_modules', path));
    const builds = [
      [service, 'protocol'],
      [service, 'participant-sdk'],
      [coordinatorProject, 'protocol'],
      [coordinatorProject, 'coordinator'],
    ] as const;
    for (const [project, name] of builds) {
      for (const file of ['index.js', 'index.d.ts'])
        expect(installed(project, `@dtx/${name}/dist/${file}`), `${project}: @dtx/${name}/dist/${file}`).toBe(true);
    }
    expect(installed(coordinatorProject, '.bin/dtx'), 'the dtx bin').toBe(true);
    for (const project of [service, coordinatorProject]) {
      for (const tool of ['typescript', 'tsx']) expect(installed(project, tool), `${project}: ${tool}`).toBe(false);
    }
    // The SDK pulls none of the coordinator's machinery (and Fastify only when the service adds it).
    for (const heavy of ['bullmq', 'ioredis', 'prom-client', '@fastify/swagger', 'fastify']) expect(installed(service, heavy), `service: ${heavy}`).toBe(false);
  });

  it('runs a TCC transaction on plain node: coordinator from the dtx bin, participant and initiator from the SDK', async () => {
    const coordinatorPort = await pickFreePort();
    const coordinatorUrl = `http://127.0.0.1:${coordinatorPort}`;
    const env = testEnv(logDb.url, inject('redisUrl'), uniqueRedisPrefix('tarball'), { DTX_PORT: String(coordinatorPort), DTX_LOG_LEVEL: 'info' });
    coordinator = await startIn(
      coordinatorProject,
      join(coordinatorProject, 'node_modules', '.bin', 'dtx'),
      ['start'],
      userEnv(env),
      join(work.path, 'coordinator.log'),
    );
    await waitUntilAnswering(coordinator, `${coordinatorUrl}/health`, 'the coordinator to answer /health', (response) => response.ok);

    const bankPort = await pickFreePort();
    const bankUrl = `http://127.0.0.1:${bankPort}`;
    participant = await startIn(
      service,
      process.execPath,
      ['participant.mjs'],
      userEnv({ BANK_DB_URL: bankDb.url, BANK_KEY: TEST_SECRET, INITIATOR_NAME: 'tests', INITIATOR_KEY: TEST_INITIATOR_KEY, PORT: String(bankPort) }),
      join(work.path, 'participant.log'),
    );
    // Any answer will do: the participant answers anything but POST with 405.
    await waitUntilAnswering(participant, `${bankUrl}/dtx/debit/try`, 'the participant to listen', () => true);

    const outcome = await runInitiator(service, {
      DTX_COORDINATOR_URL: coordinatorUrl,
      DTX_API_TOKEN: TEST_API_TOKEN,
      BANK_URL: bankUrl,
      INITIATOR_KEY: TEST_INITIATOR_KEY,
    });
    expect(outcome).toEqual({ gid: expect.any(String), status: 'confirmed' });
    const gid = outcome.gid as string;

    const response = await fetch(`${coordinatorUrl}/v1/transactions/${gid}`, { headers: TEST_API_HEADERS });
    expect(response.status).toBe(200);
    const view = (await response.json()) as { transaction: { status: string }; branches: { branchId: string; status: string }[] };
    expect(view.transaction.status).toBe('confirmed');
    expect(view.branches.map((b) => [b.branchId, b.status]).sort()).toEqual([
      ['01', 'confirmed'],
      ['02', 'confirmed'],
    ]);

    // The barrier rows, written by the SDK from the tarball in the participant's database.
    const barrier = await bank('dtx_barrier').where({ gid }).orderBy(['branch_id', 'op']).select('branch_id', 'op');
    expect(barrier.map((row: { branch_id: string; op: string }) => `${row.branch_id}:${row.op}`)).toEqual(['01:confirm', '01:try', '02:confirm', '02:try']);
    // And the business effect: 30 moved from alice to bob, nothing left reserved.
    expect(await bank('accounts').orderBy('id').select('id', 'balance', 'frozen', 'incoming')).toEqual([
      { id: 'alice', balance: 70, frozen: 0, incoming: 0 },
      { id: 'bob', balance: 30, frozen: 0, incoming: 0 },
    ]);
  });

  it('stops the coordinator on SIGTERM: it exits by itself with code 0', async () => {
    expect(coordinator, 'the coordinator of the previous test').toBeDefined();
    const running = coordinator!;
    running.signal('SIGTERM');
    const exit = await Promise.race([running.exited, new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), 20_000).unref())]);
    expect(exit, `coordinator log:\n${await tail(running.logFile)}`).toEqual({ code: 0, signal: null });
  });

  it('runs `dtx dev` from the bin with nothing configured: the embedded log loads from the package, ready, and ends on SIGTERM', async () => {
    const port = await pickFreePort();
    const url = `http://127.0.0.1:${port}`;
    const dev = await startIn(
      coordinatorProject,
      join(coordinatorProject, 'node_modules', '.bin', 'dtx'),
      ['dev', '--memory', '--port', String(port)],
      userEnv(),
      join(work.path, 'dev.log'),
    );
    try {
      await waitUntilAnswering(dev, `${url}/health/ready`, 'the development coordinator to be ready', (response) => response.ok);
      expect(await tail(dev.logFile)).toContain('no MySQL, no Redis');
    } finally {
      dev.signal('SIGTERM');
    }
    const exit = await Promise.race([dev.exited, new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), 20_000).unref())]);
    expect(exit, `dev log:\n${await tail(dev.logFile)}`).toEqual({ code: 0, signal: null });
  });
});

/** Polls `url` until `accept(response)`; gives up at once, with the log's tail, if the process exits. */
async function waitUntilAnswering(child: ScratchProcess, url: string, what: string, accept: (response: Response) => boolean): Promise<void> {
  await waitFor(
    async (bail) => {
      if (child.done) bail(new Error(`exited while waiting for ${what}; ${child.logFile}:\n${await tail(child.logFile)}`));
      const response = await fetch(url).catch(() => null);
      return response !== null && accept(response);
    },
    { what, timeoutMs: 30_000, intervalMs: 100 },
  ).catch(async (error: unknown) => {
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n${child.logFile}:\n${await tail(child.logFile)}`, { cause: error });
  });
}

/** Runs initiator.mjs in `project` to its end (30 s at most) and returns the JSON line it printed. */
async function runInitiator(project: string, env: Record<string, string>): Promise<Record<string, unknown>> {
  let stdout: string;
  try {
    ({ stdout } = await run(process.execPath, ['initiator.mjs'], { cwd: project, env: userEnv(env), timeout: 30_000 }));
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`initiator.mjs failed: ${failed.message}\nstdout: ${failed.stdout ?? ''}\nstderr: ${failed.stderr ?? ''}`, { cause: error });
  }
  const last = stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(last) as Record<string, unknown>;
}
