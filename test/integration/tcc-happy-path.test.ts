import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DtxClient } from '../../participant-sdk/index.ts';
import { startInProcessCoordinator, testEnv, TEST_SECRET, type InProcessCoordinator } from '../support/coordinator-harness.ts';
import { createTestDatabase, uniqueRedisPrefix, type TestDatabase } from '../support/databases.ts';
import { startTestParticipant, type TestParticipant } from '../support/test-participant.ts';

describe('TCC happy path', () => {
  let coordinatorDb: TestDatabase;
  let bankDb: TestDatabase;
  let coordinator: InProcessCoordinator;
  let bank: TestParticipant;
  let dtx: DtxClient;

  beforeAll(async () => {
    coordinatorDb = await createTestDatabase(inject('mysqlUrl'), 'happy_coord');
    bankDb = await createTestDatabase(inject('mysqlUrl'), 'happy_bank');
    coordinator = await startInProcessCoordinator(testEnv(coordinatorDb.url, inject('redisUrl'), uniqueRedisPrefix('happy')));
    bank = await startTestParticipant(bankDb.url, { secret: TEST_SECRET });
    dtx = new DtxClient({ coordinatorUrl: coordinator.url, secret: TEST_SECRET });
  });

  afterAll(async () => {
    await dtx?.close();
    await bank?.stop();
    await coordinator?.stop();
    await bankDb?.drop();
    await coordinatorDb?.drop();
  });

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
    const before = coordinator.coordinator.store.commitCount;
    const outcome = await dtx.tcc(async (tx) => {
      await tx.tryAll([{ url: bank.resourceUrl, payload: { amount: 1 } }, { url: bank.resourceUrl, payload: { amount: 2 } }]);
    });
    expect(outcome.status).toBe('confirmed');
    expect(coordinator.coordinator.store.commitCount - before).toBeLessThanOrEqual(3);
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
    const { waitFor } = await import('../support/wait.ts');
    await waitFor(async () => (await dtx.coordinator.query(gid)).transaction.status === 'cancelled', { what: 'cancelled' });
    expect(await bank.effects(gid, 'cancel')).toBe(1);
    expect(await bank.effects(gid, 'confirm')).toBe(0);
  });
});
