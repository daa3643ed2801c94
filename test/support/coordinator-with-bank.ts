/**
 * The setting most integration suites share: one in-process coordinator and
 * one test participant (the bank), each on a database of its own, and an
 * initiator client signed with the test secret.
 *
 *   const env = await startCoordinatorWithBank(inject('mysqlUrl'), inject('redisUrl'), 'metrics');
 *   ...
 *   await env.stop();
 */
import { DtxClient } from '../../participant-sdk/index.ts';
import { startInProcessCoordinator, testEnv, TEST_SECRET, TEST_API_TOKEN, TEST_INITIATOR_KEY, type InProcessCoordinator } from './coordinator-harness.ts';
import { createTestDatabase, uniqueRedisPrefix, type TestDatabase } from './databases.ts';
import { startTestParticipant, type TestParticipant } from './test-participant.ts';

export interface CoordinatorWithBank {
  coordinatorDb: TestDatabase;
  bankDb: TestDatabase;
  coordinator: InProcessCoordinator;
  bank: TestParticipant;
  dtx: DtxClient;
  /** Stops what was started and drops both databases, last started first. */
  stop(): Promise<void>;
}

/**
 * Starts the setting; `label` names the databases and the Redis prefix, and
 * `coordinatorEnv` overrides testEnv's settings (DTX_ALERT_URL, …). If a
 * step fails, what was already started is stopped before the error is thrown.
 */
export async function startCoordinatorWithBank(
  mysqlUrl: string,
  redisUrl: string,
  label: string,
  coordinatorEnv: Record<string, string> = {},
): Promise<CoordinatorWithBank> {
  const undo: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    for (const step of undo.splice(0).reverse()) await step();
  };
  try {
    const coordinatorDb = await createTestDatabase(mysqlUrl, `${label}_coord`);
    undo.push(() => coordinatorDb.drop());
    const bankDb = await createTestDatabase(mysqlUrl, `${label}_bank`);
    undo.push(() => bankDb.drop());
    const coordinator = await startInProcessCoordinator(testEnv(coordinatorDb.url, redisUrl, uniqueRedisPrefix(label), coordinatorEnv));
    undo.push(() => coordinator.stop());
    const bank = await startTestParticipant(bankDb.url, { coordinatorKey: TEST_SECRET });
    undo.push(() => bank.stop());
    const dtx = new DtxClient({ coordinatorUrl: coordinator.url, initiatorKey: TEST_INITIATOR_KEY, apiToken: TEST_API_TOKEN });
    undo.push(() => dtx.close());
    return { coordinatorDb, bankDb, coordinator, bank, dtx, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
