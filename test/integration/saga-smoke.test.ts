import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { startCoordinatorWithBank, type CoordinatorWithBank } from '../support/coordinator-with-bank.ts';

describe('saga smoke', () => {
  let env: CoordinatorWithBank;

  beforeAll(async () => {
    env = await startCoordinatorWithBank(inject('mysqlUrl'), inject('redisUrl'), 'sagasmoke');
  });
  afterEach(() => env.bank.behaveWell());
  afterAll(async () => {
    await env?.stop();
  });

  it('runs three steps in order', async () => {
    const { dtx, bank } = env;
    const saga = dtx
      .saga()
      .step('a', { url: bank.sagaUrl, payload: { n: 1 } })
      .step('b', { url: bank.sagaUrl })
      .step('c', { url: bank.sagaUrl });
    const outcome = await saga.submit();
    expect(outcome.status).toBe('succeeded');
    expect(await bank.appliedOrder(saga.gid)).toEqual(['action a', 'action b', 'action c']);
    const view = await dtx.coordinator.query(saga.gid);
    console.log(JSON.stringify(view, null, 1));
  });

  it('compensates in reverse when c is refused', async () => {
    const { dtx, bank } = env;
    bank.behave('action', 'reject', 'c');
    const saga = dtx.saga().step('a', { url: bank.sagaUrl }).step('b', { url: bank.sagaUrl }).step('c', { url: bank.sagaUrl }).step('d', { url: bank.sagaUrl });
    const outcome = await saga.submit();
    expect(outcome.status).toBe('compensated');
    expect(await bank.appliedOrder(saga.gid)).toEqual(['action a', 'action b', 'compensate b', 'compensate a']);
    const view = await dtx.coordinator.query(saga.gid);
    console.log(JSON.stringify(view.events, null, 1));
  });
});
