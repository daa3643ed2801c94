/**
 * `dtx dev` end to end, as a developer runs it: a process with no MySQL and
 * no Redis (the embedded log, in-process recovery), set up from what its
 * banner prints. A TCC transaction through it reaches a real participant; a
 * SIGKILL between the decision and phase two loses nothing, since the
 * restarted process reads the same data folder, keeps its secrets and
 * finishes the confirm at once; a second process on the folder is refused;
 * `--memory` keeps nothing; SIGTERM ends it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { DtxClient } from '../../participant-sdk/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/databases.ts';
import { startTestParticipant, type Gate, type TestParticipant } from '../support/test-participant.ts';
import { uniqueGid } from '../support/recovery-helpers.ts';
import { waitFor } from '../../tools/wait.ts';

/** What a developer copies from the banner. */
interface DevSetUp {
  url: string;
  apiToken: string;
  initiatorKey: string;
  coordinatorKey: string;
  operatorToken: string;
}

interface DevProcess {
  child: ChildProcess;
  setUp: DevSetUp;
  output(): string;
  exited: Promise<number | null>;
}

const children = new Set<ChildProcess>();

/** The environment of a shell with nothing of dtx configured: no log URL, no Redis. */
function bareEnvironment(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('DTX_')));
}

function exported(output: string, name: string): string {
  const found = new RegExp(`export ${name}=(\\S+)`).exec(output)?.[1];
  if (!found) throw new Error(`the banner exports no ${name}:\n${output}`);
  return found;
}

/** `dtx dev` with `args`, its output collected, as a developer's shell would start it. */
function spawnDev(args: string[]): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--conditions=dtx-source', '--import', 'tsx', 'coordinator/bin/dtx.ts', 'dev', '--port', '0', ...args], {
    cwd: process.cwd(),
    env: bareEnvironment(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = once(child, 'exit').then(([code]) => {
    children.delete(child);
    return code as number | null;
  });
  return { child, output: () => output, exited };
}

async function startDev(args: string[]): Promise<DevProcess> {
  const { child, output: outputOf, exited } = spawnDev(args);
  let gone = false;
  void exited.then(() => (gone = true));
  await waitFor(
    (bail) => {
      if (gone) bail(new Error(`dtx dev exited during start:\n${outputOf()}`));
      return outputOf().includes('Ctrl-C stops it.');
    },
    { what: 'dtx dev to print its banner', timeoutMs: 60_000, intervalMs: 50 },
  );
  const output = outputOf();
  const url = /development coordinator on (http:\/\/\S+)/.exec(output)?.[1];
  if (!url) throw new Error(`the banner names no URL:\n${output}`);
  return {
    child,
    output: outputOf,
    exited,
    setUp: {
      url,
      apiToken: exported(output, 'DTX_API_TOKEN'),
      initiatorKey: exported(output, 'DTX_INITIATOR_KEY'),
      coordinatorKey: exported(output, 'DTX_COORDINATOR_KEY'),
      operatorToken: /operator token: (\S+?)\)/.exec(output)?.[1] ?? '',
    },
  };
}

/** Runs `dtx dev` expecting it to end by itself: its exit code and output. */
async function runDevToExit(args: string[]): Promise<{ code: number | null; output: string }> {
  const dev = spawnDev(args);
  return { code: await dev.exited, output: dev.output() };
}

async function sigkill(dev: DevProcess): Promise<void> {
  dev.child.kill('SIGKILL');
  await dev.exited;
}

function clientOf(setUp: DevSetUp): DtxClient {
  return new DtxClient({ coordinatorUrl: setUp.url, apiToken: setUp.apiToken, initiatorKey: setUp.initiatorKey, coordinatorRetries: 0 });
}

describe('dtx dev: a coordinator with nothing to install', () => {
  let dataDir: string;
  let bankDbs: TestDatabase[] = [];
  let banks: TestParticipant[] = [];
  const clients: DtxClient[] = [];
  const gates: Gate[] = [];

  beforeAll(async () => {
    dataDir = join(await mkdtemp(join(tmpdir(), 'dtx-dev-test-')), 'data');
  });

  afterEach(async () => {
    for (const gate of gates.splice(0)) gate.open();
    for (const child of children) child.kill('SIGKILL');
    await Promise.allSettled(clients.splice(0).map((c) => c.close()));
    await Promise.allSettled(banks.splice(0).map((b) => b.stop()));
    await Promise.allSettled(bankDbs.splice(0).map((d) => d.drop()));
  });

  afterAll(async () => {
    await rm(dirname(dataDir), { recursive: true, force: true });
  });

  /** Two participants keyed as the banner says: the coordinator's key, and the `dev` caller's key for its tries. */
  async function startBanks(setUp: DevSetUp, label: string): Promise<void> {
    bankDbs = await Promise.all([createTestDatabase(inject('mysqlUrl'), `${label}_a`), createTestDatabase(inject('mysqlUrl'), `${label}_b`)]);
    banks = await Promise.all(
      bankDbs.map((db) => startTestParticipant(db.url, { coordinatorKey: setUp.coordinatorKey, initiatorKeys: { dev: setUp.initiatorKey } })),
    );
  }

  function client(setUp: DevSetUp): DtxClient {
    const dtx = clientOf(setUp);
    clients.push(dtx);
    return dtx;
  }

  it('runs a TCC transaction, is ready without a queue, keeps its log and secrets across a SIGKILL and finishes the confirm, and ends on SIGTERM', async () => {
    const first = await startDev(['--data', dataDir]);
    expect(first.output()).toContain('no MySQL, no Redis');
    await startBanks(first.setUp, 'dev_coord');
    // A second process on the same folder would corrupt it: refused, and the first keeps running.
    const second = await runDevToExit(['--data', dataDir]);
    expect(second.code).toBe(1);
    expect(second.output).toContain(`in use by process ${first.child.pid}`);

    // The operator token it printed opens the admin API (and the console).
    const stats = await fetch(`${first.setUp.url}/admin/v1/stats`, { headers: { authorization: `Bearer ${first.setUp.operatorToken}` } });
    expect(stats.status).toBe(200);

    const ready = await fetch(`${first.setUp.url}/health/ready`);
    expect(ready.status).toBe(200);
    expect(JSON.stringify(await ready.json())).not.toMatch(/queue/);

    const gid = uniqueGid('dev-confirm');
    const outcome = await client(first.setUp).tcc(
      async (tx) => {
        await tx.tryAll(banks.map((bank) => ({ url: bank.resourceUrl, payload: { amount: 1 } })));
      },
      { gid },
    );
    expect(outcome.status).toBe('confirmed');
    for (const bank of banks) expect(await bank.effects(gid, 'confirm')).toBe(1);

    // Killed between the decision and phase two: the confirms are held at the banks when it dies.
    const held = banks.map((bank) => bank.gate('confirm'));
    gates.push(...held);
    const interrupted = uniqueGid('dev-interrupted');
    const submitted = client(first.setUp)
      .tcc(
        async (tx) => {
          await tx.tryAll(banks.map((bank) => ({ url: bank.resourceUrl, payload: { amount: 2 } })));
        },
        { gid: interrupted },
      )
      .catch((error: unknown) => error);
    await Promise.all(held.map((gate) => gate.reached));
    await sigkill(first);
    await submitted;
    for (const gate of held) gate.open();

    const restarted = await startDev(['--data', dataDir]);
    // The same secrets: participants and initiators set up from the first banner keep working.
    expect(restarted.setUp).toMatchObject({
      apiToken: first.setUp.apiToken,
      initiatorKey: first.setUp.initiatorKey,
      coordinatorKey: first.setUp.coordinatorKey,
    });
    const dtx = client(restarted.setUp);
    expect((await dtx.coordinator.query(gid)).transaction.status).toBe('confirmed');
    await waitFor(async () => (await dtx.coordinator.query(interrupted)).transaction.status === 'confirmed', {
      what: `${interrupted} confirmed by the restarted development coordinator`,
      timeoutMs: 30_000,
      intervalMs: 100,
    });
    for (const bank of banks) expect(await bank.effects(interrupted, 'confirm')).toBe(1);

    restarted.child.kill('SIGTERM');
    expect(await restarted.exited).toBe(0);
  });

  it('--memory keeps nothing: a restarted process knows no earlier transaction and has new secrets', async () => {
    const first = await startDev(['--memory']);
    expect(first.output()).toContain('in memory');
    await startBanks(first.setUp, 'dev_memory');
    const gid = uniqueGid('dev-memory');
    const outcome = await client(first.setUp).tcc(
      async (tx) => {
        await tx.tryAll(banks.map((bank) => ({ url: bank.resourceUrl, payload: { amount: 1 } })));
      },
      { gid },
    );
    expect(outcome.status).toBe('confirmed');
    await sigkill(first);

    const second = await startDev(['--memory']);
    expect(second.setUp.apiToken).not.toBe(first.setUp.apiToken);
    const response = await fetch(`${second.setUp.url}/transactions/${gid}`, { headers: { authorization: `Bearer ${second.setUp.apiToken}` } });
    expect(response.status).toBe(404);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });
});
