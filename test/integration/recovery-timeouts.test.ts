/**
 * What the coordinator does on its own: the retry budget
 * and needs-attention flag, the timeout sweeper, submits that come too late,
 * and re-sent begin/submit calls — each checked against the effects applied
 * in the participant's database.
 */
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { CoordinatorRefusedError, DtxClient } from '../../participant-sdk/index.ts';
import {
  startInProcessCoordinator,
  testEnv,
  TEST_SECRET,
  TEST_INITIATOR_KEY,
  TEST_API_TOKEN,
  type InProcessCoordinator,
} from '../support/coordinator-harness.ts';
import { createTestDatabase, uniqueRedisPrefix, type TestDatabase } from '../support/databases.ts';
import { startTestParticipant, type TestParticipant } from '../support/test-participant.ts';
import { branchOf, callBranch, viewOf, waitForStatus, waitForView } from '../support/transaction-view.ts';
import { waitFor } from '../../tools/wait.ts';

interface Instance {
  coordinator: InProcessCoordinator;
  dtx: DtxClient;
  stop(): Promise<void>;
}

/** A coordinator on its own database and Redis prefix, with a client. */
async function startInstance(label: string, overrides: Record<string, string> = {}): Promise<Instance> {
  const db = await createTestDatabase(inject('mysqlUrl'), `recovery_${label}`);
  const coordinator = await startInProcessCoordinator(testEnv(db.url, inject('redisUrl'), uniqueRedisPrefix(label), overrides));
  const dtx = new DtxClient({ coordinatorUrl: coordinator.url, initiatorKey: TEST_INITIATOR_KEY, apiToken: TEST_API_TOKEN });
  return {
    coordinator,
    dtx,
    stop: async () => {
      await dtx.close();
      await coordinator.stop();
      await db.drop();
    },
  };
}

let bankDb: TestDatabase;
let bank: TestParticipant;
let gidCounter = 0;
const newGid = (label: string) => `${label}-${process.pid}-${Date.now()}-${++gidCounter}`;

/** A branch of the test participant, as the coordinator API registers it. */
const branch = (branchId: string, payload: unknown = { amount: 1 }) => ({
  branchId,
  confirmUrl: `${bank.resourceUrl}/confirm`,
  cancelUrl: `${bank.resourceUrl}/cancel`,
  payload,
});

beforeAll(async () => {
  bankDb = await createTestDatabase(inject('mysqlUrl'), 'recovery_bank');
  bank = await startTestParticipant(bankDb.url, { coordinatorKey: TEST_SECRET });
});

afterEach(() => {
  for (const op of ['try', 'confirm', 'cancel'] as const) bank.behave(op, 'ok');
});

afterAll(async () => {
  await bank?.stop();
  await bankDb?.drop();
});

// Retries and deadlines are driven by recovery looks: on BullMQ, and on in-process timers (no Redis).
describe.each(['bullmq', 'in-process'] as const)('retry budget (DTX_ATTENTION_AFTER_RETRIES=2), %s recovery', (scheduler) => {
  let instance: Instance;
  beforeAll(async () => {
    instance = await startInstance(`budget_${scheduler}`, { DTX_ATTENTION_AFTER_RETRIES: '2', DTX_SCHEDULER: scheduler });
  });
  afterAll(async () => {
    await instance?.stop();
  });

  it('flags a failing confirm as needing attention after 2 retries, keeps retrying it, and confirms after recovery', async () => {
    const { dtx } = instance;
    bank.behave('confirm', 'error');
    const outcome = await dtx.tcc(async (tx) => {
      await tx.try({ url: bank.resourceUrl, payload: { amount: 1 } });
    });
    const { gid } = outcome;
    expect(outcome.status).toBe('confirming');

    const flagged = await waitForView(dtx, gid, 'needs attention', (v) => v.transaction.needsAttention);
    expect(flagged.transaction.status).toBe('confirming');
    expect(flagged.transaction.retryCount).toBeGreaterThanOrEqual(2);
    expect(flagged.transaction.attentionReason).toBe('phase two still incomplete after 2 failed rounds');
    expect(flagged.transaction.nextRetryAt).not.toBeNull();
    const attention = flagged.events.filter((e) => e.kind === 'attention');
    expect(attention.map((e) => e.message)).toEqual(['phase two still incomplete after 2 failed rounds']);
    // The budget counts failed rounds (README: DTX_ATTENTION_AFTER_RETRIES): flagged by the second failed call.
    const callsBeforeFlag = flagged.events.filter((e) => e.kind === 'branch-call' && e.id < attention[0]!.id);
    expect(callsBeforeFlag.map((e) => [e.attempt, e.outcome])).toEqual([
      [1, 'unknown'],
      [2, 'unknown'],
    ]);

    // Flagged, not dropped: the coordinator keeps calling.
    const seen = branchOf(flagged, '01').attempts;
    const later = await waitForView(dtx, gid, 'confirm retried after the flag', (v) => branchOf(v, '01').attempts >= seen + 2);
    expect(later.transaction).toMatchObject({ status: 'confirming', needsAttention: true });
    expect(later.events.filter((e) => e.kind === 'attention')).toHaveLength(1);
    expect(await bank.effects(gid, 'confirm')).toBe(0);

    bank.behave('confirm', 'ok');
    const done = await waitForStatus(dtx, gid, 'confirmed');
    expect(done.transaction.needsAttention).toBe(false);
    expect(await bank.effects(gid, 'confirm')).toBe(1);
    expect(await bank.effects(gid, 'cancel')).toBe(0);
  });
});

describe.each(['bullmq', 'in-process'] as const)('deadline, with the timeout sweeper running, %s recovery', (scheduler) => {
  let instance: Instance;
  beforeAll(async () => {
    instance = await startInstance(`sweeper_${scheduler}`, { DTX_SCHEDULER: scheduler });
  });
  afterAll(async () => {
    await instance?.stop();
  });

  it('aborts an abandoned transaction by itself at its deadline and cancels its tried branch once', async () => {
    const { dtx } = instance;
    const gid = newGid('abandoned');
    const begun = await dtx.coordinator.begin({ gid, timeoutMs: 800, branches: [branch('01')] });
    expect(begun).toMatchObject({ gid, status: 'trying', created: true });
    // With the registration proof the begin answered, as a DtxClient's try carries it.
    const tried = await callBranch(`${bank.resourceUrl}/try`, { gid, branchId: '01', op: 'try', payload: { amount: 1 }, registration: begun.proofs?.['01'] });
    expect(tried.statusCode).toBe(200);
    // ...and the initiator is never heard of again.

    const view = await waitForStatus(dtx, gid, 'cancelled');
    expect(view.transaction.reason).toBe('timeout');
    expect(view.events.find((e) => e.kind === 'status' && e.toStatus === 'cancelling')).toMatchObject({
      fromStatus: 'trying',
      actor: 'timeout-sweeper',
      message: 'timeout',
    });
    expect(branchOf(view, '01').status).toBe('cancelled');
    expect(await bank.effects(gid, 'try')).toBe(1);
    expect(await bank.effects(gid, 'cancel')).toBe(1);
    expect(await bank.effects(gid, 'confirm')).toBe(0);

    // The initiator comes back after all: its submit is refused, nothing is confirmed.
    const late = await dtx.coordinator.submit(gid).catch((e: unknown) => e);
    expect(late).toBeInstanceOf(CoordinatorRefusedError);
    expect(late).toMatchObject({ httpStatus: 409, code: 'DEADLINE_PASSED', status: 'cancelled' });
    expect((await viewOf(dtx, gid)).transaction.status).toBe('cancelled');
    expect(await bank.effects(gid, 'confirm')).toBe(0);
  });

  it('cancels a transaction whose initiator is still working past the deadline; its submit is refused', async () => {
    const { dtx } = instance;
    let gid = '';
    const error = await dtx
      .tcc(
        async (tx) => {
          gid = tx.gid;
          await tx.try({ url: bank.resourceUrl, payload: { amount: 1 } });
          // Slow business work: the deadline passes and the sweeper acts meanwhile.
          await waitForStatus(dtx, gid, 'cancelled');
        },
        { timeoutMs: 800 },
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CoordinatorRefusedError);
    expect(error).toMatchObject({ gid, httpStatus: 409, code: 'DEADLINE_PASSED', status: 'cancelled' });
    const view = await viewOf(dtx, gid);
    expect(view.transaction).toMatchObject({ status: 'cancelled', reason: 'timeout' });
    expect(await bank.effects(gid, 'cancel')).toBe(1);
    expect(await bank.effects(gid, 'confirm')).toBe(0);
  });
});

describe('deadline, with the sweeper stopped', () => {
  let instance: Instance;
  beforeAll(async () => {
    instance = await startInstance('nosweep');
    // Nothing looks at a trying transaction now, so it is still trying when the late submit arrives.
    await instance.coordinator.coordinator.reconciler.stop();
  });
  afterAll(async () => {
    await instance?.stop();
  });

  it('refuses a submit after the deadline with 409 DEADLINE_PASSED, and aborts the transaction', async () => {
    const { dtx } = instance;
    let gid = '';
    const error = await dtx
      .tcc(
        async (tx) => {
          gid = tx.gid;
          await tx.try({ url: bank.resourceUrl, payload: { amount: 1 } });
          const deadline = Date.parse((await viewOf(dtx, gid)).transaction.deadlineAt);
          await waitFor(() => Date.now() > deadline, { what: 'the deadline to pass' });
          expect((await viewOf(dtx, gid)).transaction.status).toBe('trying');
        },
        { timeoutMs: 800 },
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CoordinatorRefusedError);
    // The status it moves to: the late submit aborts it at once.
    expect(error).toMatchObject({ gid, httpStatus: 409, code: 'DEADLINE_PASSED', status: 'cancelling' });

    const view = await waitForStatus(dtx, gid, 'cancelled');
    expect(view.transaction.reason).toBe('deadline passed before submit');
    expect(view.events.some((e) => e.kind === 'status' && e.toStatus === 'confirming')).toBe(false);
    expect(await bank.effects(gid, 'try')).toBe(1);
    expect(await bank.effects(gid, 'cancel')).toBe(1);
    expect(await bank.effects(gid, 'confirm')).toBe(0);

    // Submitting again changes nothing, and gets the same answer.
    const again = await dtx.coordinator.submit(gid).catch((e: unknown) => e);
    expect(again).toMatchObject({ httpStatus: 409, code: 'DEADLINE_PASSED', status: 'cancelled' });
    expect(await bank.effects(gid, 'confirm')).toBe(0);
  });
});

describe('re-sent requests', () => {
  let instance: Instance;
  beforeAll(async () => {
    instance = await startInstance('resend');
  });
  afterAll(async () => {
    await instance?.stop();
  });

  it('answers a re-sent begin and a re-sent submit as the first time, and applies nothing twice', async () => {
    const { dtx } = instance;
    const gid = newGid('resend');
    const branches = [branch('01', { amount: 1 }), branch('02', { amount: 2 })];

    const first = await dtx.coordinator.begin({ gid, timeoutMs: 30_000, branches });
    const second = await dtx.coordinator.begin({ gid, timeoutMs: 30_000, branches });
    expect(first).toMatchObject({ gid, status: 'trying', created: true, caller: 'tests' });
    expect(second).toEqual({ ...first, created: false });

    // Each try carries the registration proof the begin answered for its branch (a re-sent begin answers the same).
    expect(Object.keys(first.proofs ?? {}).sort()).toEqual(['01', '02']);
    for (const branchId of ['01', '02']) {
      const call = { gid, branchId, op: 'try' as const, payload: { amount: 1 }, registration: first.proofs?.[branchId] };
      expect((await callBranch(`${bank.resourceUrl}/try`, call)).statusCode).toBe(200);
      // A try re-sent by the network is a duplicate.
      expect(await callBranch(`${bank.resourceUrl}/try`, call)).toMatchObject({ statusCode: 200, body: { duplicate: true } });
    }

    expect(await dtx.coordinator.submit(gid)).toEqual({ gid, status: 'confirmed' });
    expect(await dtx.coordinator.submit(gid)).toEqual({ gid, status: 'confirmed' });
    const late = await dtx.coordinator.begin({ gid, timeoutMs: 30_000, branches });
    // (The client's begin type omits deadlineAt, which the coordinator sends.)
    const deadlineOf = (reply: object) => (reply as { deadlineAt?: unknown }).deadlineAt;
    expect(deadlineOf(first)).toEqual(expect.any(String));
    expect(late).toMatchObject({ gid, status: 'confirmed', created: false });
    expect(deadlineOf(late)).toBe(deadlineOf(first));
    // The reply names the caller the coordinator authenticated: the name a DtxClient sends its tries as.
    // (Its proofs: the same as the begin's, those of the branches this caller registered.)
    expect(await dtx.coordinator.register(gid, branches)).toEqual({ gid, status: 'confirmed', registered: [], caller: 'tests', proofs: first.proofs });
    // A re-sent confirm (as after a lost reply) is a duplicate too.
    expect(await callBranch(`${bank.resourceUrl}/confirm`, { gid, branchId: '01', op: 'confirm', payload: { amount: 1 } })).toMatchObject({
      statusCode: 200,
      body: { duplicate: true },
    });

    const view = await viewOf(dtx, gid);
    expect(view.transaction.status).toBe('confirmed');
    const kinds = (kind: string) => view.events.filter((e) => e.kind === kind);
    expect(kinds('begin')).toHaveLength(1);
    expect(kinds('register').map((e) => e.branchId)).toEqual(['01', '02']);
    expect(kinds('status').map((e) => [e.fromStatus, e.toStatus])).toEqual([
      ['trying', 'confirming'],
      ['confirming', 'confirmed'],
    ]);
    expect(kinds('branch-call')).toHaveLength(2);
    for (const branchId of ['01', '02']) {
      expect(branchOf(view, branchId)).toMatchObject({ status: 'confirmed', attempts: 1 });
      expect(await bank.effects(gid, 'try', branchId)).toBe(1);
      expect(await bank.effects(gid, 'confirm', branchId)).toBe(1);
    }
    expect(await bank.effects(gid, 'cancel')).toBe(0);
  });
});
