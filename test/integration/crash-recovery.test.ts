/**
 * Recovery after crashes: a coordinator SIGKILLed between the
 * decision and phase two, Redis losing every key, and Redis dying outright.
 * MySQL is the truth; whatever happens to the process or to Redis, every
 * decided transaction finishes, and each branch's confirm (cancel) takes
 * effect exactly once.
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { CoordinatorUnavailableError, DtxClient } from '../../participant-sdk/index.ts';
import {
  startCoordinatorProcess,
  startInProcessCoordinator,
  testEnv,
  TEST_API_TOKEN,
  TEST_SECRET,
  TEST_INITIATOR_KEY,
  type CoordinatorProcess,
  type InProcessCoordinator,
} from '../support/coordinator-harness.ts';
import { pickFreePort } from '../../tools/free-port.ts';
import { createTestDatabase, uniqueRedisPrefix, type TestDatabase } from '../support/databases.ts';
import { openCoordinatorLog, uniqueGid, type CoordinatorLogReader } from '../support/recovery-helpers.ts';
import { startRedis, type RedisServer } from '../../tools/servers.ts';
import { startTestParticipant, type Gate, type TestParticipant } from '../support/test-participant.ts';
import { waitFor } from '../../tools/wait.ts';

/** Two participants, each with its own database: one branch of every transaction on each. */
async function startBanks(label: string): Promise<{ banks: TestParticipant[]; dbs: TestDatabase[] }> {
  const dbs = await Promise.all([createTestDatabase(inject('mysqlUrl'), `${label}_a`), createTestDatabase(inject('mysqlUrl'), `${label}_b`)]);
  const banks = await Promise.all(dbs.map((db) => startTestParticipant(db.url, { coordinatorKey: TEST_SECRET })));
  return { banks, dbs };
}

async function stopBanks(banks: TestParticipant[] | undefined, dbs: TestDatabase[] | undefined): Promise<void> {
  await Promise.allSettled((banks ?? []).map((b) => b.stop()));
  await Promise.allSettled((dbs ?? []).map((d) => d.drop()));
}

/** Confirm/cancel effects of `gid` on each bank, one entry per bank. */
async function phaseTwoEffects(banks: TestParticipant[], gid: string): Promise<{ try: number; confirm: number; cancel: number }[]> {
  return Promise.all(
    banks.map(async (bank) => ({
      try: await bank.effects(gid, 'try'),
      confirm: await bank.effects(gid, 'confirm'),
      cancel: await bank.effects(gid, 'cancel'),
    })),
  );
}

/** Every branch got a successful `op` call logged by the new instance, none before the old lease expired. */
async function expectTakeoverCalls(dtx: DtxClient, gid: string, op: 'confirm' | 'cancel', leaseUntil: number): Promise<void> {
  const view = await dtx.coordinator.query(gid);
  const calls = (view.events as { kind: string; op: string | null; branchId: string | null; outcome: string | null; at: string }[]).filter(
    (e) => e.kind === 'branch-call' && e.op === op,
  );
  expect(new Set(calls.filter((c) => c.outcome === 'success').map((c) => c.branchId))).toEqual(new Set(['01', '02']));
  for (const call of calls) expect(Date.parse(call.at)).toBeGreaterThanOrEqual(leaseUntil);
}

// The store is the truth whatever schedules the recovery looks: on BullMQ, and on in-process timers (no Redis).
describe.each(['bullmq', 'in-process'] as const)('coordinator SIGKILLed after logging the decision, before phase two completed (%s recovery)', (scheduler) => {
  let banks: TestParticipant[];
  let bankDbs: TestDatabase[];
  let coordinatorDb: TestDatabase | undefined;
  let log: CoordinatorLogReader | undefined;
  const processes: CoordinatorProcess[] = [];
  const clients: DtxClient[] = [];
  const gates: Gate[] = [];

  beforeAll(async () => {
    ({ banks, dbs: bankDbs } = await startBanks('crash_bank'));
  });

  afterEach(async () => {
    // A failed test must not leave a call held inside a participant (it would hold its connection).
    for (const gate of gates.splice(0)) gate.open();
    await Promise.allSettled(processes.splice(0).map((p) => p.kill()));
    await Promise.allSettled(clients.splice(0).map((c) => c.close()));
    await log?.close();
    await coordinatorDb?.drop();
    log = coordinatorDb = undefined;
  });

  afterAll(async () => {
    await stopBanks(banks, bankDbs);
  });

  /** A fresh coordinator database (and Redis prefix); the env both coordinator processes share. */
  async function freshCoordinatorEnv(label: string): Promise<Record<string, string>> {
    coordinatorDb = await createTestDatabase(inject('mysqlUrl'), label);
    log = openCoordinatorLog(coordinatorDb.url);
    return testEnv(coordinatorDb.url, inject('redisUrl'), uniqueRedisPrefix(label), { DTX_SCHEDULER: scheduler });
  }

  async function spawnCoordinator(env: Record<string, string>, instanceId: string): Promise<CoordinatorProcess> {
    const started = await startCoordinatorProcess({ ...env, DTX_INSTANCE_ID: instanceId }, await pickFreePort());
    processes.push(started);
    return started;
  }

  /** Holds the next `op` call on every bank. */
  function gateAll(op: 'confirm' | 'cancel'): Gate[] {
    const held = banks.map((bank) => bank.gate(op));
    gates.push(...held);
    return held;
  }

  function client(url: string): DtxClient {
    // No transport retries: the submit must fail when its coordinator dies, not go elsewhere.
    const dtx = new DtxClient({
      coordinatorUrl: url,
      initiatorKey: TEST_INITIATOR_KEY,
      apiToken: TEST_API_TOKEN,
      coordinatorTimeoutMs: 10_000,
      coordinatorRetries: 0,
    });
    clients.push(dtx);
    return dtx;
  }

  it('submit: a new coordinator process finishes the confirm; each confirm takes effect once', async () => {
    const env = await freshCoordinatorEnv('crash_confirm');
    const first = await spawnCoordinator(env, 'crash-first');
    const gid = uniqueGid('crash-confirm');
    const held = gateAll('confirm');
    const receivedBefore = banks.map((bank) => bank.received.confirm);

    const submitted = client(first.url)
      .tcc(
        async (tx) => {
          await tx.tryAll(banks.map((bank) => ({ url: bank.resourceUrl, payload: { amount: 5 } })));
        },
        { gid },
      )
      .then(
        (outcome) => outcome.status,
        (error: unknown) => error,
      );
    await Promise.all(held.map((gate) => gate.reached));
    await first.kill();

    // The initiator lost its coordinator mid-submit: the outcome is unknown to it.
    expect(await submitted).toBeInstanceOf(CoordinatorUnavailableError);
    // The decision is logged, nothing is confirmed yet, and the dead instance holds the lease.
    const logged = await log!.row(gid);
    expect(logged).toMatchObject({ status: 'committing', leaseOwner: expect.stringMatching(/^crash-first#/) });
    expect(await phaseTwoEffects(banks, gid)).toEqual([
      { try: 1, confirm: 0, cancel: 0 },
      { try: 1, confirm: 0, cancel: 0 },
    ]);

    // The dead coordinator's confirms are still held inside the participants:
    // let them go. Nobody reads their replies any more; they must be harmless.
    for (const gate of held) gate.open();

    const second = await spawnCoordinator(env, 'crash-second');
    const dtx = client(second.url);
    await waitFor(async () => (await dtx.coordinator.query(gid)).transaction.status === 'confirmed', {
      what: `${gid} confirmed by the restarted coordinator`,
      timeoutMs: 20_000,
      intervalMs: 100,
    });

    expect(await phaseTwoEffects(banks, gid)).toEqual([
      { try: 1, confirm: 1, cancel: 0 },
      { try: 1, confirm: 1, cancel: 0 },
    ]);
    // The handlers ran once: the held call, after its coordinator was gone.
    banks.forEach((bank, i) => expect(bank.received.confirm - receivedBefore[i]!).toBe(1));
    expect(Object.values(await log!.branchStatuses(gid))).toEqual(['committed', 'committed']);
    const finished = await log!.row(gid);
    expect(finished).toMatchObject({ status: 'committed', leaseOwner: null, nextRetryAt: null });
    // The new instance called every confirm again (the barrier answered the repeat as a
    // duplicate), and only once the dead instance's lease had expired.
    await expectTakeoverCalls(dtx, gid, 'confirm', logged!.leaseUntil!);
  });

  it('abort: a new coordinator process finishes the cancel; each cancel takes effect once', async () => {
    const env = await freshCoordinatorEnv('crash_cancel');
    const first = await spawnCoordinator(env, 'crash-first');
    const gid = uniqueGid('crash-cancel');
    const held = gateAll('cancel');
    const receivedBefore = banks.map((bank) => bank.received.cancel);
    const changedMind = new Error('changed my mind');

    // The abort is sent without waiting (the SDK's abort does not wait for phase two), so
    // the initiator gets its own error back while the cancels are still held.
    await expect(
      client(first.url).tcc(
        async (tx) => {
          await tx.tryAll(banks.map((bank) => ({ url: bank.resourceUrl, payload: { amount: 5 } })));
          throw changedMind;
        },
        { gid },
      ),
    ).rejects.toBe(changedMind);
    await Promise.all(held.map((gate) => gate.reached));
    await first.kill();

    const logged = await log!.row(gid);
    expect(logged).toMatchObject({ status: 'rolling-back', leaseOwner: expect.stringMatching(/^crash-first#/) });
    expect(await phaseTwoEffects(banks, gid)).toEqual([
      { try: 1, confirm: 0, cancel: 0 },
      { try: 1, confirm: 0, cancel: 0 },
    ]);

    for (const gate of held) gate.open();

    const second = await spawnCoordinator(env, 'crash-second');
    const dtx = client(second.url);
    await waitFor(async () => (await dtx.coordinator.query(gid)).transaction.status === 'cancelled', {
      what: `${gid} cancelled by the restarted coordinator`,
      timeoutMs: 20_000,
      intervalMs: 100,
    });

    expect(await phaseTwoEffects(banks, gid)).toEqual([
      { try: 1, confirm: 0, cancel: 1 },
      { try: 1, confirm: 0, cancel: 1 },
    ]);
    banks.forEach((bank, i) => expect(bank.received.cancel - receivedBefore[i]!).toBe(1));
    expect(Object.values(await log!.branchStatuses(gid))).toEqual(['rolled-back', 'rolled-back']);
    await expectTakeoverCalls(dtx, gid, 'cancel', logged!.leaseUntil!);
  });
});

describe('Redis loses its keys, or dies (private Redis)', () => {
  let redisServer: RedisServer;
  let banks: TestParticipant[];
  let bankDbs: TestDatabase[];
  let coordinatorDb: TestDatabase | undefined;
  let coordinator: InProcessCoordinator | undefined;
  let dtx: DtxClient | undefined;
  let log: CoordinatorLogReader | undefined;

  beforeAll(async () => {
    redisServer = await startRedis();
    ({ banks, dbs: bankDbs } = await startBanks('redis_loss_bank'));
  });

  afterEach(async () => {
    for (const bank of banks) for (const op of ['try', 'confirm', 'cancel'] as const) bank.behave(op, 'ok');
    await dtx?.close();
    await coordinator?.stop();
    await log?.close();
    await coordinatorDb?.drop();
    dtx = coordinator = log = coordinatorDb = undefined;
    if (!redisServer.running) await redisServer.start();
  });

  afterAll(async () => {
    await stopBanks(banks, bankDbs);
    await redisServer?.stop();
  });

  async function startCoordinator(label: string): Promise<InProcessCoordinator> {
    coordinatorDb = await createTestDatabase(inject('mysqlUrl'), label);
    log = openCoordinatorLog(coordinatorDb.url);
    coordinator = await startInProcessCoordinator(testEnv(coordinatorDb.url, redisServer.url, uniqueRedisPrefix(label)));
    dtx = new DtxClient({
      coordinatorUrl: coordinator.url,
      initiatorKey: TEST_INITIATOR_KEY,
      apiToken: TEST_API_TOKEN,
      coordinatorTimeoutMs: 10_000,
      coordinatorRetries: 0,
    });
    return coordinator;
  }

  const branches = () => banks.map((bank) => ({ url: bank.resourceUrl, payload: { amount: 3 } }));

  async function waitForStatus(gid: string, status: string, timeoutMs = 15_000): Promise<void> {
    await waitFor(async () => (await log!.row(gid))?.status === status, { what: `${gid} ${status}`, timeoutMs, intervalMs: 50 });
  }

  it('FLUSHALL while a confirm is being retried: the reconciler re-enqueues from MySQL, the confirm takes effect once', async () => {
    const { coordinator: c } = await startCoordinator('redis_flush');
    for (const bank of banks) bank.behave('confirm', 'error');

    const outcome = await dtx!.tcc(async (tx) => {
      await tx.tryAll(branches());
    });
    expect(outcome.status).toBe('confirming');
    // An abandoned transaction, still trying: only the deadline sweep (also driven from MySQL) ends it.
    const abandoned = uniqueGid('abandoned');
    await dtx!.coordinator.begin({
      gid: abandoned,
      timeoutMs: 1_500,
      branches: banks.map((bank, i) => ({
        branchId: `b${i}`,
        confirmUrl: `${bank.resourceUrl}/confirm`,
        cancelUrl: `${bank.resourceUrl}/cancel`,
        payload: null,
      })),
    });

    // In retry, with its next round waiting in BullMQ as a delayed job.
    await waitFor(async () => ((await log!.row(outcome.gid))?.retryCount ?? 0) >= 2 && (await c.queue.depth()) > 0, {
      what: 'a retried confirm with a job in the queue',
    });

    const admin = new Redis(redisServer.url, { maxRetriesPerRequest: 1 });
    try {
      expect(await admin.flushall()).toBe('OK');
      // Keep failing for a while after the flush: later rounds are found in MySQL only.
      const retriesAtFlush = (await log!.row(outcome.gid))!.retryCount;
      await waitFor(async () => (await log!.row(outcome.gid))!.retryCount >= retriesAtFlush + 2, {
        what: 'retries to go on after FLUSHALL',
      });
      for (const bank of banks) bank.behave('confirm', 'ok');
      await waitForStatus(outcome.gid, 'committed');
      await waitForStatus(abandoned, 'rolled-back');
    } finally {
      admin.disconnect();
    }

    expect(await phaseTwoEffects(banks, outcome.gid)).toEqual([
      { try: 1, confirm: 1, cancel: 0 },
      { try: 1, confirm: 1, cancel: 0 },
    ]);
    // Its tries never ran: null compensations, no cancel effect.
    expect(await phaseTwoEffects(banks, abandoned)).toEqual([
      { try: 0, confirm: 0, cancel: 0 },
      { try: 0, confirm: 0, cancel: 0 },
    ]);
    expect(await log!.branchStatuses(abandoned)).toEqual({ b0: 'rolled-back', b1: 'rolled-back' });
  });

  it('Redis SIGKILLed with transactions open: the happy path completes, recovery runs in-process, and the queue works again after a restart', async () => {
    const { coordinator: c } = await startCoordinator('redis_dead');

    // A transaction open (tries done) when Redis dies; it submits afterwards.
    let openGid = '';
    const open = await dtx!.tcc(async (tx) => {
      openGid = tx.gid;
      await tx.tryAll(branches());
      await redisServer.kill('SIGKILL');
      return 'submitted without Redis';
    });
    expect(redisServer.running).toBe(false);
    // No Redis round trip on the happy path: it finishes in-process before submit answers.
    expect(open).toMatchObject({ status: 'confirmed', result: 'submitted without Redis' });
    expect(await phaseTwoEffects(banks, openGid)).toEqual([
      { try: 1, confirm: 1, cancel: 0 },
      { try: 1, confirm: 1, cancel: 0 },
    ]);

    // A new one from scratch, also without Redis.
    const fresh = await dtx!.tcc(async (tx) => tx.tryAll(branches()));
    expect(fresh.status).toBe('confirmed');

    // Recovery without Redis: the confirm fails, the retry cannot be queued, the reconciler drives it in-process.
    for (const bank of banks) bank.behave('confirm', 'error');
    const started = Date.now();
    const failing = await dtx!.tcc(async (tx) => tx.tryAll(branches()));
    // Submit must not hang on the dead queue (a hang would show as the full submit wait, 10 s).
    expect(Date.now() - started).toBeLessThan(8_000);
    expect(failing.status).toBe('confirming');
    await waitFor(async () => ((await log!.row(failing.gid))?.retryCount ?? 0) >= 2, { what: 'retries without Redis' });
    for (const bank of banks) bank.behave('confirm', 'ok');
    await waitForStatus(failing.gid, 'committed');
    expect(await phaseTwoEffects(banks, failing.gid)).toEqual([
      { try: 1, confirm: 1, cancel: 0 },
      { try: 1, confirm: 1, cancel: 0 },
    ]);

    // Redis back (empty: no persistence): recovery goes through the queue again.
    await redisServer.start();
    for (const bank of banks) bank.behave('confirm', 'error');
    const afterRestart = await dtx!.tcc(async (tx) => tx.tryAll(branches()));
    expect(afterRestart.status).toBe('confirming');
    await waitFor(async () => (await c.queue.depth()) > 0, { what: 'a retry job in the restarted Redis', timeoutMs: 15_000 });
    for (const bank of banks) bank.behave('confirm', 'ok');
    await waitForStatus(afterRestart.gid, 'committed');
    expect(await phaseTwoEffects(banks, afterRestart.gid)).toEqual([
      { try: 1, confirm: 1, cancel: 0 },
      { try: 1, confirm: 1, cancel: 0 },
    ]);
  });
});
