/**
 * The saga's API at its edges: a saga sent again under its gid (while
 * running, done, compensated, with other steps, over a TCC gid), bad input
 * refused with nothing logged and nothing called, and abort.
 */
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { CoordinatorRefusedError, DtxError } from '../../participant-sdk/index.ts';
import { startCoordinatorWithBank, type CoordinatorWithBank } from '../support/coordinator-with-bank.ts';
import { uniqueGid } from '../support/recovery-helpers.ts';
import { postV1, sagaView, stepCalls, waitForSagaStatus, wireStep } from '../support/saga-view.ts';
import type { Gate } from '../support/test-participant.ts';

describe('saga API', () => {
  let env: CoordinatorWithBank;
  const gates: Gate[] = [];

  beforeAll(async () => {
    env = await startCoordinatorWithBank(inject('mysqlUrl'), inject('redisUrl'), 'saga_api');
  });
  afterEach(() => {
    for (const gate of gates.splice(0)) gate.open();
    env.bank.behaveWell();
  });
  afterAll(async () => {
    await env?.stop();
  });

  const held = (op: 'action' | 'compensate') => {
    const gate = env.bank.gate(op);
    gates.push(gate);
    return gate;
  };
  const steps = (...ids: string[]) => ids.map((id) => wireStep(env.bank.sagaUrl, id));
  const postSaga = (body: unknown) => postV1(env.coordinator.url, '/sagas', body);

  describe('sent again under its gid', () => {
    it('while running: 200, created false, status running; the steps run once', async () => {
      const gid = uniqueGid('resend-running');
      const gate = held('action');
      expect(await postSaga({ gid, waitMs: 0, steps: steps('a', 'b') })).toMatchObject({ statusCode: 201, body: { gid, status: 'running', created: true } });
      await gate.reached;

      expect(await postSaga({ gid, waitMs: 0, steps: steps('a', 'b') })).toMatchObject({ statusCode: 200, body: { gid, status: 'running', created: false } });

      gate.open();
      await waitForSagaStatus(env.dtx, gid, 'succeeded');
      expect(await env.bank.appliedOrder(gid)).toEqual(['action a', 'action b']);
    });

    it('after it succeeded: 200 with status succeeded, nothing run again', async () => {
      const saga = env.dtx.saga().step('a', { url: env.bank.sagaUrl }).step('b', { url: env.bank.sagaUrl });
      expect((await saga.submit()).status).toBe('succeeded');

      expect(await postSaga({ gid: saga.gid, steps: steps('a', 'b') })).toMatchObject({
        statusCode: 200,
        body: { gid: saga.gid, status: 'succeeded', created: false },
      });
      // The SDK's re-send says the same.
      const again = env.dtx.saga({ gid: saga.gid }).step('a', { url: env.bank.sagaUrl }).step('b', { url: env.bank.sagaUrl });
      expect(await again.submit()).toEqual({ gid: saga.gid, status: 'succeeded', created: false });
      expect(await env.bank.appliedOrder(saga.gid)).toEqual(['action a', 'action b']);
    });

    it('after it was compensated: 409 ILLEGAL_STATE naming the status; nothing run again', async () => {
      env.bank.behave('action', 'reject', 'b');
      const saga = env.dtx.saga().step('a', { url: env.bank.sagaUrl }).step('b', { url: env.bank.sagaUrl });
      expect((await saga.submit()).status).toBe('compensated');
      env.bank.behaveWell();

      const reply = await postSaga({ gid: saga.gid, steps: steps('a', 'b') });

      expect(reply).toMatchObject({ statusCode: 409, body: { code: 'ILLEGAL_STATE', status: 'compensated' } });
      expect(reply.body.message).toEqual(expect.any(String));
      const again = env.dtx.saga({ gid: saga.gid }).step('a', { url: env.bank.sagaUrl }).step('b', { url: env.bank.sagaUrl });
      await expect(again.submit()).rejects.toMatchObject({
        constructor: CoordinatorRefusedError,
        httpStatus: 409,
        code: 'ILLEGAL_STATE',
        status: 'compensated',
      });
      expect(await env.bank.appliedOrder(saga.gid)).toEqual(['action a', 'compensate a']);
    });

    it('with other steps: 409 GID_CONFLICT; the saga logged first is untouched', async () => {
      const saga = env.dtx.saga().step('a', { url: env.bank.sagaUrl }).step('b', { url: env.bank.sagaUrl });
      expect((await saga.submit()).status).toBe('succeeded');

      for (const other of [steps('a'), steps('a', 'c'), steps('b', 'a'), steps('a', 'b', 'c')]) {
        expect(await postSaga({ gid: saga.gid, steps: other })).toMatchObject({ statusCode: 409, body: { code: 'GID_CONFLICT' } });
      }
      expect(await env.bank.appliedOrder(saga.gid)).toEqual(['action a', 'action b']);
      expect((await sagaView(env.dtx, saga.gid)).branches.map((b) => b.branchId)).toEqual(['a', 'b']);
    });

    it('over a TCC transaction: 409 GID_CONFLICT, no step called', async () => {
      const gid = uniqueGid('tcc-then-saga');
      await env.dtx.coordinator.begin({ gid, branches: [] });

      expect(await postSaga({ gid, steps: steps('a') })).toMatchObject({ statusCode: 409, body: { code: 'GID_CONFLICT' } });
      expect(await env.bank.appliedOrder(gid)).toEqual([]);
      expect((await env.dtx.coordinator.query(gid)).transaction).toMatchObject({ mode: 'tcc', status: 'trying' });
    });
  });

  describe('bad input: 400 with code and message, nothing logged, nothing called', () => {
    const cases: [string, () => Record<string, unknown>, string][] = [
      [
        'a cycle',
        () => ({ steps: [wireStep(env.bank.sagaUrl, 'a', { dependsOn: ['b'] }), wireStep(env.bank.sagaUrl, 'b', { dependsOn: ['a'] })] }),
        'INVALID_STEPS',
      ],
      ['a step depending on itself', () => ({ steps: [wireStep(env.bank.sagaUrl, 'a', { dependsOn: ['a'] })] }), 'INVALID_STEPS'],
      [
        'an unknown prerequisite',
        () => ({ steps: [wireStep(env.bank.sagaUrl, 'a'), wireStep(env.bank.sagaUrl, 'b', { dependsOn: ['nope'] })] }),
        'INVALID_STEPS',
      ],
      ['a step id given twice', () => ({ steps: [wireStep(env.bank.sagaUrl, 'a'), wireStep(env.bank.sagaUrl, 'a', { dependsOn: [] })] }), 'INVALID_STEPS'],
      ['no step', () => ({ steps: [] }), 'INVALID_REQUEST'],
      // The test coordinator's branch timeout is 800 ms.
      ['a step timeout above the branch timeout', () => ({ steps: [wireStep(env.bank.sagaUrl, 'a', { timeoutMs: 801 })] }), 'INVALID_STEPS'],
      [
        'a URL that is not http',
        () => ({ steps: [{ id: 'a', action: { url: 'ftp://127.0.0.1/x/action' }, compensate: { url: `${env.bank.sagaUrl}/compensate` } }] }),
        'INVALID_REQUEST',
      ],
    ];

    it.each(cases)('%s', async (_name, body, code) => {
      const gid = uniqueGid('bad-saga');
      const receivedBefore = { ...env.bank.received };

      const reply = await postSaga({ gid, ...body() });

      expect(reply.statusCode).toBe(400);
      expect(reply.body).toMatchObject({ code, message: expect.any(String) });
      await expect(env.dtx.coordinator.query(gid)).rejects.toMatchObject({ httpStatus: 404, code: 'NOT_FOUND' });
      expect(env.bank.received).toEqual(receivedBefore);
      expect(await env.bank.appliedOrder(gid)).toEqual([]);
    });

    it('mode saga at POST /v1/transactions: UNSUPPORTED_MODE', async () => {
      const gid = uniqueGid('saga-as-transaction');

      const reply = await postV1(env.coordinator.url, '/transactions', { gid, mode: 'saga', branches: [] });

      expect(reply).toMatchObject({ statusCode: 400, body: { code: 'UNSUPPORTED_MODE', message: expect.any(String) } });
      await expect(env.dtx.coordinator.query(gid)).rejects.toMatchObject({ httpStatus: 404 });
    });

    it('the SDK refuses a malformed or repeated step id before sending anything (DtxError INVALID_STEP)', () => {
      const saga = env.dtx.saga().step('a', { url: env.bank.sagaUrl });
      for (const bad of ['', 'has space', 'x'.repeat(65), 'slash/id']) {
        expect(() => saga.step(bad, { url: env.bank.sagaUrl })).toThrow(expect.objectContaining({ constructor: DtxError, code: 'INVALID_STEP' }));
      }
      expect(() => saga.step('a', { url: env.bank.sagaUrl })).toThrow(expect.objectContaining({ code: 'INVALID_STEP', message: expect.stringContaining('a') }));
    });
  });

  describe('abort', () => {
    it('of a running saga: turned back, what ran compensated in reverse, the rest never run', async () => {
      const gate = held('action');
      const saga = env.dtx.saga().step('a', { url: env.bank.sagaUrl }).step('b', { url: env.bank.sagaUrl }).step('c', { url: env.bank.sagaUrl });
      expect((await saga.submit({ wait: false })).status).toBe('running');
      await gate.reached;

      const aborted = await postV1(env.coordinator.url, `/transactions/${saga.gid}/abort`, { reason: 'changed my mind', waitMs: 0 });
      expect(aborted).toMatchObject({ statusCode: 200, body: { gid: saga.gid, status: 'compensating' } });
      // The held action of a completes after the abort: it ran, so it is compensated.
      gate.open();

      const view = await waitForSagaStatus(env.dtx, saga.gid, 'compensated');
      expect(await env.bank.appliedOrder(saga.gid)).toEqual(['action a', 'compensate a']);
      for (const id of ['b', 'c']) {
        expect(await env.bank.effects(saga.gid, 'action', id)).toBe(0);
        expect(stepCalls(view, id, 'compensate').map((e) => e.outcome)).toEqual(['skipped']);
      }
      expect(view.transaction.reason).toBe('changed my mind');
      expect(view.events).toContainEqual(expect.objectContaining({ kind: 'status', fromStatus: 'running', toStatus: 'compensating', actor: 'tests' }));
    });

    it('of a succeeded saga: 409, nothing compensated', async () => {
      const saga = env.dtx.saga().step('a', { url: env.bank.sagaUrl });
      expect((await saga.submit()).status).toBe('succeeded');

      const reply = await postV1(env.coordinator.url, `/transactions/${saga.gid}/abort`, {});

      expect(reply).toMatchObject({ statusCode: 409, body: { code: 'ILLEGAL_STATE', status: 'succeeded' } });
      expect(await env.bank.appliedOrder(saga.gid)).toEqual(['action a']);
      expect((await sagaView(env.dtx, saga.gid)).transaction.status).toBe('succeeded');
    });
  });
});
