/**
 * A saga outlives the processes around it: a coordinator SIGKILLed while a
 * step's call is inside the participant leaves the saga to the next
 * coordinator, which finishes it (forward, or its compensations) with each
 * action and each compensation applied at most once; and the initiator may
 * leave as soon as the saga is logged.
 */
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { DtxClient } from '../../participant-sdk/index.ts';
import { pickFreePort } from '../../tools/free-port.ts';
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
import { createTestDatabase, uniqueRedisPrefix, type TestDatabase } from '../support/databases.ts';
import { openCoordinatorLog, type CoordinatorLogReader } from '../support/recovery-helpers.ts';
import { stepCalls, stepEffects, waitForSaga, waitForSagaStatus } from '../support/saga-view.ts';
import { startTestParticipant, type Gate, type TestParticipant } from '../support/test-participant.ts';

describe('saga recovery', () => {
  let bankDb: TestDatabase;
  let bank: TestParticipant;
  let coordinatorDb: TestDatabase | undefined;
  let log: CoordinatorLogReader | undefined;
  let inProcess: InProcessCoordinator | undefined;
  const processes: CoordinatorProcess[] = [];
  const clients: DtxClient[] = [];
  const gates: Gate[] = [];

  beforeAll(async () => {
    bankDb = await createTestDatabase(inject('mysqlUrl'), 'saga_recovery_bank');
    bank = await startTestParticipant(bankDb.url, { coordinatorKey: TEST_SECRET });
  });
  afterEach(async () => {
    for (const gate of gates.splice(0)) gate.open();
    bank.behaveWell();
    await Promise.allSettled(processes.splice(0).map((p) => p.kill()));
    await Promise.allSettled(clients.splice(0).map((c) => c.close()));
    await inProcess?.stop();
    await log?.close();
    await coordinatorDb?.drop();
    inProcess = log = coordinatorDb = undefined;
  });
  afterAll(async () => {
    await bank?.stop();
    await bankDb?.drop();
  });

  async function freshCoordinatorEnv(label: string): Promise<Record<string, string>> {
    coordinatorDb = await createTestDatabase(inject('mysqlUrl'), label);
    log = openCoordinatorLog(coordinatorDb.url);
    return testEnv(coordinatorDb.url, inject('redisUrl'), uniqueRedisPrefix(label));
  }

  async function spawnCoordinator(env: Record<string, string>, instanceId: string): Promise<CoordinatorProcess> {
    const started = await startCoordinatorProcess({ ...env, DTX_INSTANCE_ID: instanceId }, await pickFreePort());
    processes.push(started);
    return started;
  }

  function client(url: string): DtxClient {
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

  function hold(op: 'action' | 'compensate'): Gate {
    const gate = bank.gate(op);
    gates.push(gate);
    return gate;
  }

  const effectsOf = (gid: string) => stepEffects(bank, gid, ['a', 'b', 'c']);

  it('coordinator killed while an action is in flight: the next one finishes the saga, each action applied once', async () => {
    const env = await freshCoordinatorEnv('saga_crash_forward');
    const first = await spawnCoordinator(env, 'saga-first');
    // b answers "not yet" until the gate is set, so that the gate holds b's own call, mid-saga.
    bank.behave('action', 'ongoing', 'b');
    const saga = client(first.url).saga().step('a', { url: bank.sagaUrl }).step('b', { url: bank.sagaUrl }).step('c', { url: bank.sagaUrl });
    expect((await saga.submit({ wait: false })).status).toBe('running');
    await waitForSaga(client(first.url), saga.gid, 'b called', (view) => stepCalls(view, 'b', 'action').length >= 1);
    const held = hold('action');
    bank.behaveWell();
    await held.reached;

    await first.kill();
    expect(await log!.row(saga.gid)).toMatchObject({ status: 'committing', leaseOwner: expect.stringMatching(/^saga-first#/) });
    expect(await effectsOf(saga.gid)).toEqual({ a: [1, 0], b: [0, 0], c: [0, 0] });
    // The dead coordinator's call completes with nobody to read its reply.
    held.open();

    const second = await spawnCoordinator(env, 'saga-second');
    await waitForSagaStatus(client(second.url), saga.gid, 'succeeded', 20_000);

    expect(await effectsOf(saga.gid)).toEqual({ a: [1, 0], b: [1, 0], c: [1, 0] });
    expect(await bank.appliedOrder(saga.gid)).toEqual(['action a', 'action b', 'action c']);
    expect(await log!.branchStatuses(saga.gid)).toEqual({ a: 'committed', b: 'committed', c: 'committed' });
  });

  it('coordinator killed while a compensation is in flight: the next one compensates the rest, each compensation applied once', async () => {
    const env = await freshCoordinatorEnv('saga_crash_backward');
    const first = await spawnCoordinator(env, 'saga-first');
    bank.behave('action', 'reject', 'c');
    // c's compensation is a null one (its action never ran): no handler call; the gate holds b's.
    const held = hold('compensate');
    const saga = client(first.url).saga().step('a', { url: bank.sagaUrl }).step('b', { url: bank.sagaUrl }).step('c', { url: bank.sagaUrl });
    expect((await saga.submit({ wait: false })).status).toBe('running');
    await held.reached;

    await first.kill();
    expect(await log!.row(saga.gid)).toMatchObject({ status: 'rolling-back', leaseOwner: expect.stringMatching(/^saga-first#/) });
    expect(await effectsOf(saga.gid)).toEqual({ a: [1, 0], b: [1, 0], c: [0, 0] });
    held.open();

    const second = await spawnCoordinator(env, 'saga-second');
    const view = await waitForSagaStatus(client(second.url), saga.gid, 'compensated', 20_000);

    expect(await effectsOf(saga.gid)).toEqual({ a: [1, 1], b: [1, 1], c: [0, 0] });
    expect(await bank.appliedOrder(saga.gid)).toEqual(['action a', 'action b', 'compensate b', 'compensate a']);
    expect(view.transaction.reason).toBe('step c: action refused (HTTP 409)');
  });

  it('the initiator gone after the submit: the saga completes without it', async () => {
    const env = await freshCoordinatorEnv('saga_initiator_gone');
    inProcess = await startInProcessCoordinator(env);
    const held = hold('action');
    const initiator = new DtxClient({ coordinatorUrl: inProcess.url, initiatorKey: TEST_INITIATOR_KEY, apiToken: TEST_API_TOKEN });
    const saga = initiator.saga().step('a', { url: bank.sagaUrl }).step('b', { url: bank.sagaUrl });
    expect((await saga.submit({ wait: false })).status).toBe('running');
    await initiator.close();
    await held.reached;

    held.open();

    await waitForSagaStatus(client(inProcess.url), saga.gid, 'succeeded');
    expect(await bank.appliedOrder(saga.gid)).toEqual(['action a', 'action b']);
  });
});
