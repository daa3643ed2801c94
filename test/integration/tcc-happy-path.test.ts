import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { DtxClient } from '../../participant-sdk/index.ts';
import type { InProcessCoordinator } from '../support/coordinator-harness.ts';
import { startCoordinatorWithBank, type CoordinatorWithBank } from '../support/coordinator-with-bank.ts';
import type { TestParticipant } from '../support/test-participant.ts';

describe('TCC happy path', () => {
  let env: CoordinatorWithBank | undefined;
  let coordinator: InProcessCoordinator;
  let bank: TestParticipant;
  let dtx: DtxClient;

  beforeAll(async () => {
    env = await startCoordinatorWithBank(inject('mysqlUrl'), inject('redisUrl'), 'happy');
    ({ coordinator, bank, dtx } = env);
  });

  afterAll(() => env?.stop());

  it('confirms both branches once, and the caller sees confirmed', async () => {
    const outcome = await dtx.tcc(async (tx) => {
      await tx.try({ url: bank.resourceUrl, payload: { amount: 1 } });
      await tx.try({ url: bank.resourceUrl, payload: { amount: 2 } });
      return 'done';
    });
    expect(outcome.status).toBe('confirmed');
    expect(outcome.result).toBe('done');
    expect(await bank.effects(outcome.gid, 'try')).toBe(2);
    expect(await bank.effects(outcome.gid, 'confirm')).toBe(2);
    expect(await bank.effects(outcome.gid, 'cancel')).toBe(0);
    const view = await dtx.coordinator.query(outcome.gid);
    expect(view.transaction.status).toBe('confirmed');
  });

  it('makes at most 3 coordinator commits for a 2-branch transaction registered up front', async () => {
    const before = coordinator.coordinator.log.commitCount();
    const outcome = await dtx.tcc(async (tx) => {
      await tx.tryAll([
        { url: bank.resourceUrl, payload: { amount: 1 } },
        { url: bank.resourceUrl, payload: { amount: 2 } },
      ]);
    });
    expect(outcome.status).toBe('confirmed');
    expect(coordinator.coordinator.log.commitCount() - before).toBeLessThanOrEqual(3);
    expect(await bank.effects(outcome.gid, 'confirm')).toBe(2);
  });

  it('aborts and cancels when the function throws, and rethrows', async () => {
    let gid = '';
    const failure = new Error('changed my mind');
    await expect(
      dtx.tcc(async (tx) => {
        gid = tx.gid;
        await tx.try({ url: bank.resourceUrl, payload: {} });
        throw failure;
      }),
    ).rejects.toBe(failure);
    const { waitFor } = await import('../../tools/wait.ts');
    await waitFor(async () => (await dtx.coordinator.query(gid)).transaction.status === 'cancelled', { what: 'cancelled' });
    expect(await bank.effects(gid, 'cancel')).toBe(1);
    expect(await bank.effects(gid, 'confirm')).toBe(0);
  });
});
