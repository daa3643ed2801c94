/**
 * A TCC transaction end to end on a coordinator whose log is not MySQL: on
 * PostgreSQL (DTX_LOG_URL=postgres://…, a database the coordinator creates
 * at start) and inside the process (DTX_LOG_URL=embedded:memory). The bank
 * (a test participant) keeps its own database on MySQL. The commits a
 * transaction costs the log are checked as on MySQL (tcc-happy-path.test.ts).
 */
import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DtxClient } from '../../participant-sdk/index.ts';
import { waitFor } from '../../tools/wait.ts';
import {
  startInProcessCoordinator,
  testEnv,
  TEST_API_TOKEN,
  TEST_INITIATOR_KEY,
  TEST_SECRET,
  type InProcessCoordinator,
} from '../support/coordinator-harness.ts';
import { createTestDatabase, uniqueRedisPrefix, type TestDatabase } from '../support/databases.ts';
import { startTestParticipant, type TestParticipant } from '../support/test-participant.ts';

interface LogUnderTest {
  url: string;
  kind: 'postgres' | 'embedded';
  /** Removes what the coordinator created (its database). */
  drop(): Promise<void>;
}

/** A database on the test server that does not exist yet: the coordinator's start creates it. */
function missingPostgresDatabase(): LogUnderTest {
  const name = `dtx_tcc_log_${randomBytes(6).toString('hex')}`;
  const url = new URL(inject('postgresUrl'));
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    kind: 'postgres',
    drop: async () => {
      const admin = new pg.Client({ connectionString: inject('postgresUrl'), connectionTimeoutMillis: 10_000 });
      await admin.connect();
      try {
        await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await admin.end();
      }
    },
  };
}

const LOGS: { name: string; open: () => LogUnderTest }[] = [
  { name: 'PostgreSQL', open: missingPostgresDatabase },
  { name: 'embedded', open: () => ({ url: 'embedded:memory', kind: 'embedded', drop: async () => undefined }) },
];

describe.each(LOGS)('TCC on the $name log', ({ name, open }) => {
  let log: LogUnderTest;
  let bankDb: TestDatabase | undefined;
  let coordinator: InProcessCoordinator | undefined;
  let bank: TestParticipant | undefined;
  let dtx: DtxClient | undefined;

  beforeAll(async () => {
    log = open();
    bankDb = await createTestDatabase(inject('mysqlUrl'), `tcc_${name}_bank`);
    coordinator = await startInProcessCoordinator(testEnv(log.url, inject('redisUrl'), uniqueRedisPrefix(`tcc-${name}`), { DTX_LOG_URL: log.url }));
    bank = await startTestParticipant(bankDb.url, { coordinatorKey: TEST_SECRET });
    dtx = new DtxClient({ coordinatorUrl: coordinator.url, initiatorKey: TEST_INITIATOR_KEY, apiToken: TEST_API_TOKEN });
  });

  afterAll(async () => {
    await dtx?.close();
    await bank?.stop();
    await coordinator?.stop();
    await bankDb?.drop();
    await log?.drop();
  });

  it('confirms both branches once, and the caller sees confirmed', async () => {
    expect(coordinator!.coordinator.log.kind).toBe(log.kind);
    const outcome = await dtx!.tcc(async (tx) => {
      await tx.try({ url: bank!.resourceUrl, payload: { amount: 1 } });
      await tx.try({ url: bank!.resourceUrl, payload: { amount: 2 } });
      return 'done';
    });
    expect(outcome.status).toBe('confirmed');
    expect(outcome.result).toBe('done');
    expect(await bank!.effects(outcome.gid, 'try')).toBe(2);
    expect(await bank!.effects(outcome.gid, 'confirm')).toBe(2);
    expect(await bank!.effects(outcome.gid, 'cancel')).toBe(0);
    const view = await dtx!.coordinator.query(outcome.gid);
    expect(view.transaction.status).toBe('confirmed');
  });

  it('makes at most 3 log commits for a 2-branch transaction registered up front', async () => {
    const before = coordinator!.coordinator.log.commitCount();
    const outcome = await dtx!.tcc(async (tx) => {
      await tx.tryAll([
        { url: bank!.resourceUrl, payload: { amount: 1 } },
        { url: bank!.resourceUrl, payload: { amount: 2 } },
      ]);
    });
    expect(outcome.status).toBe('confirmed');
    expect(coordinator!.coordinator.log.commitCount() - before).toBeLessThanOrEqual(3);
    expect(await bank!.effects(outcome.gid, 'confirm')).toBe(2);
  });

  it('aborts and cancels when the function throws, and rethrows', async () => {
    let gid = '';
    const failure = new Error('changed my mind');
    await expect(
      dtx!.tcc(async (tx) => {
        gid = tx.gid;
        await tx.try({ url: bank!.resourceUrl, payload: {} });
        throw failure;
      }),
    ).rejects.toBe(failure);
    await waitFor(async () => (await dtx!.coordinator.query(gid)).transaction.status === 'cancelled', { what: 'cancelled' });
    expect(await bank!.effects(gid, 'cancel')).toBe(1);
    expect(await bank!.effects(gid, 'confirm')).toBe(0);
  });
});
