/**
 * Every reply a step can give, at every position of a three-step saga
 * a → b → c: a refused action turns the saga back, replies that say "not
 * yet" (425, 500, a timeout) are retried until the step's retry limit or the
 * deadline, and a compensation is retried until it succeeds, raised to the
 * operator when refused. Each action and compensation takes effect at most
 * once, as the participant's database shows.
 */
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import type { SagaStepOptions } from '../../participant-sdk/index.ts';
import { startCoordinatorWithBank, type CoordinatorWithBank } from '../support/coordinator-with-bank.ts';
import { stepCalls, stepEffects, stepOf, waitForSaga, waitForSagaStatus, type SagaView } from '../support/saga-view.ts';
import type { Gate } from '../support/test-participant.ts';

const STEPS = ['a', 'b', 'c'] as const;
type StepId = (typeof STEPS)[number];

describe('saga faults', () => {
  let env: CoordinatorWithBank;
  const gates: Gate[] = [];

  beforeAll(async () => {
    env = await startCoordinatorWithBank(inject('mysqlUrl'), inject('redisUrl'), 'saga_faults');
  });
  afterEach(() => {
    for (const gate of gates.splice(0)) gate.open();
    env.bank.behaveWell();
  });
  afterAll(async () => {
    await env?.stop();
  });

  /** Submits a → b → c (and more steps after, if given) without waiting; `options` apply to step `target` only. */
  async function submit(target: string, options: SagaStepOptions = {}, more: string[] = [], timeoutMs?: number): Promise<string> {
    const saga = env.dtx.saga({ timeoutMs });
    for (const id of [...STEPS, ...more]) saga.step(id, { url: env.bank.sagaUrl, ...(id === target ? options : {}) });
    expect((await saga.submit({ wait: false })).status).toBe('running');
    return saga.gid;
  }

  const effectsOf = (gid: string) => stepEffects(env.bank, gid, STEPS);

  const before = (id: StepId) => STEPS.slice(0, STEPS.indexOf(id));
  const after = (id: StepId) => STEPS.slice(STEPS.indexOf(id) + 1);
  /** The participant's order for a saga turned back at `id`: the actions before it, then their compensations in reverse. */
  const turnedBackAt = (id: StepId) => [
    ...before(id).map((s) => `action ${s}`),
    ...before(id)
      .reverse()
      .map((s) => `compensate ${s}`),
  ];

  /** The step refused (or given up) was compensated with a null compensation, and the steps after it were never called. */
  function expectCutAt(view: SagaView, id: StepId): void {
    expect(stepCalls(view, id, 'compensate').map((e) => e.outcome)).toEqual(['success']);
    for (const later of after(id)) {
      expect(stepCalls(view, later, 'action')).toEqual([]);
      expect(stepCalls(view, later, 'compensate').map((e) => e.outcome)).toEqual(['skipped']);
    }
    expect(view.branches.map((b) => b.status)).toEqual(['compensated', 'compensated', 'compensated']);
  }

  describe.each(STEPS)('step %s', (id) => {
    it('action refused (409): turned back, what ran compensated in reverse, a null compensation for the refused step', async () => {
      env.bank.behave('action', 'reject', id);
      const gid = await submit(id);

      const view = await waitForSagaStatus(env.dtx, gid, 'compensated');

      expect(await env.bank.appliedOrder(gid)).toEqual(turnedBackAt(id));
      expect(view.transaction.reason).toBe(`step ${id}: action refused (HTTP 409)`);
      expect(view.events).toContainEqual(expect.objectContaining({ kind: 'status', fromStatus: 'running', toStatus: 'compensating', actor: 'coordinator' }));
      expect(stepCalls(view, id, 'action').map((e) => e.outcome)).toEqual(['failure']);
      expectCutAt(view, id);
    });

    it('action ongoing (425), then ok: retried without counting failed rounds, succeeded, applied once', async () => {
      env.bank.behave('action', 'ongoing', id);
      const gid = await submit(id);

      const retried = await waitForSaga(env.dtx, gid, `${id} answered ongoing 3 times`, (view) => stepCalls(view, id, 'action').length >= 3);
      expect(stepCalls(retried, id, 'action').every((e) => e.outcome === 'ongoing')).toBe(true);
      expect(retried.transaction).toMatchObject({ status: 'running', retryCount: 0, needsAttention: false });
      env.bank.behaveWell();

      const view = await waitForSagaStatus(env.dtx, gid, 'succeeded');
      expect(await env.bank.appliedOrder(gid)).toEqual(['action a', 'action b', 'action c']);
      expect(stepCalls(view, id, 'action').at(-1)?.outcome).toBe('success');
    });

    it('action failing (500) a few times, then ok: retried, succeeded, each action applied once', async () => {
      env.bank.behave('action', 'error', id);
      const gid = await submit(id);

      const retried = await waitForSaga(env.dtx, gid, `${id} failed 3 times`, (view) => stepCalls(view, id, 'action').length >= 3);
      expect(stepCalls(retried, id, 'action').every((e) => e.outcome === 'unknown' && e.message === 'HTTP 500')).toBe(true);
      expect(retried.transaction.status).toBe('running');
      expect(retried.transaction.retryCount).toBeGreaterThan(0);
      env.bank.behaveWell();

      await waitForSagaStatus(env.dtx, gid, 'succeeded');
      expect(await env.bank.appliedOrder(gid)).toEqual(['action a', 'action b', 'action c']);
    });

    it("action held past the step's timeoutMs: counted unknown, retried, applied once overall", async () => {
      // Ongoing first, so that the gate catches this step's own next call.
      env.bank.behave('action', 'ongoing', id);
      const gid = await submit(id, { timeoutMs: 150 });
      await waitForSaga(env.dtx, gid, `${id} called`, (view) => stepCalls(view, id, 'action').length >= 1);
      const gate = env.bank.gate('action');
      gates.push(gate);
      env.bank.behaveWell();
      await gate.reached;

      const timedOut = await waitForSaga(env.dtx, gid, `${id} timed out and was retried`, (view) =>
        stepCalls(view, id, 'action').some((e) => e.outcome === 'unknown'),
      );
      expect(stepOf(timedOut, id).callTimeoutMs).toBe(150);
      expect(timedOut.transaction.status).toBe('running');
      // The held call completes late; its retry finds it done (the barrier answers the repeat).
      gate.open();

      await waitForSagaStatus(env.dtx, gid, 'succeeded');
      expect(await env.bank.appliedOrder(gid)).toEqual(['action a', 'action b', 'action c']);
    });

    it('retry limit spent (retryLimit 1, action failing): turned back, the reason names the step and its limit', async () => {
      env.bank.behave('action', 'error', id);
      const gid = await submit(id, { retryLimit: 1 });

      const view = await waitForSagaStatus(env.dtx, gid, 'compensated');

      expect(view.transaction.reason).toBe(`step ${id}: action failed 2 times, its retry limit is 1`);
      expect(stepOf(view, id).maxAttempts).toBe(2);
      expect(stepCalls(view, id, 'action').map((e) => e.outcome)).toEqual(['unknown', 'unknown']);
      expect(await env.bank.appliedOrder(gid)).toEqual(turnedBackAt(id));
      expectCutAt(view, id);
    });

    it('compensation failing (500), then ok: compensated, its prerequisites only after it, each once', async () => {
      // A fourth step refused turns the saga back after a, b and c ran.
      env.bank.behave('action', 'reject', 'z');
      env.bank.behave('compensate', 'error', id);
      const gid = await submit(id, {}, ['z']);

      const failing = await waitForSaga(env.dtx, gid, `${id}'s compensation failed twice`, (view) => stepCalls(view, id, 'compensate').length >= 2);
      expect(failing.transaction.status).toBe('compensating');
      // Reverse order: what it depends on waits for its compensation.
      for (const earlier of before(id)) expect(await env.bank.effects(gid, 'compensate', earlier)).toBe(0);
      env.bank.behaveWell();

      await waitForSagaStatus(env.dtx, gid, 'compensated');
      expect(await env.bank.appliedOrder(gid)).toEqual(['action a', 'action b', 'action c', 'compensate c', 'compensate b', 'compensate a']);
    });

    it('compensation refused (409): stays compensating, raised for attention, retried until the participant takes it', async () => {
      env.bank.behave('action', 'reject', 'z');
      env.bank.behave('compensate', 'reject', id);
      const gid = await submit(id, {}, ['z']);

      const stuck = await waitForSaga(
        env.dtx,
        gid,
        `${id}'s compensation refused twice, flagged`,
        (view) => view.transaction.needsAttention && stepCalls(view, id, 'compensate').filter((e) => e.outcome === 'failure').length >= 2,
      );
      expect(stuck.transaction.status).toBe('compensating');
      expect(stuck.transaction.attentionReason).toContain(`branch ${id} refused compensate`);
      expect(await effectsOf(gid)).toMatchObject({ [id]: [1, 0] });
      env.bank.behaveWell();

      await waitForSagaStatus(env.dtx, gid, 'compensated');
      expect(await env.bank.appliedOrder(gid)).toEqual(['action a', 'action b', 'action c', 'compensate c', 'compensate b', 'compensate a']);
    });
  });

  it('deadline: an action failing past the saga timeoutMs turns it back by itself (reason timeout), what ran compensated', async () => {
    env.bank.behave('action', 'error', 'b');
    const gid = await submit('b', {}, [], 1_000);

    const view = await waitForSagaStatus(env.dtx, gid, 'compensated');

    expect(view.transaction.reason).toBe('timeout');
    expect(view.events).toContainEqual(
      // Turned back by the round that saw the deadline pass, or by the recovery sweep: never by the caller.
      expect.objectContaining({
        kind: 'status',
        fromStatus: 'running',
        toStatus: 'compensating',
        message: 'timeout',
        actor: expect.stringMatching(/^(coordinator|timeout-sweeper)$/),
      }),
    );
    expect(stepCalls(view, 'b', 'action').length).toBeGreaterThan(1);
    expect(await env.bank.appliedOrder(gid)).toEqual(['action a', 'compensate a']);
    expect(await effectsOf(gid)).toEqual({ a: [1, 1], b: [0, 0], c: [0, 0] });
    expectCutAt(view, 'b');
  });
});
