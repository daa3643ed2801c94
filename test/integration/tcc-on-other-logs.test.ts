/**
 * A TCC transaction end to end on a coordinator whose log is not MySQL: on
 * PostgreSQL (DTX_LOG_URL=postgres://…, a database the coordinator creates
 * at start) and inside the process (DTX_LOG_URL=embedded:memory). The bank
 * (a test participant) keeps its own database on MySQL. The commits a
 * transaction costs the log are checked as on MySQL (tcc-happy-path.test.ts).
 * And a log given to createCoordinator, as a store written outside this
 * package would be.
 */
import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { pino } from 'pino';
import { loadConfig } from '../../coordinator/config.ts';
import { createCoordinator } from '../../coordinator/coordinator.ts';
import { openLog } from '../../coordinator/store/open-log.ts';
import type { TransactionLog } from '../../coordinator/store/ports/transaction-log.ts';
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

describe('a log of its own, given to createCoordinator', () => {
  it('runs on the log it is given instead of the one DTX_LOG_URL names, prepares it at start and closes it at stop', async () => {
    const inner = openLog({ kind: 'embedded', url: 'embedded:memory' }, { poolMax: 1, queryTimeoutMs: 10_000 });
    const calls = { prepare: 0, begin: 0, close: 0 };
    // What a store written outside this package looks like to the coordinator: the TransactionLog port.
    const own: TransactionLog = {
      ...inner,
      kind: inner.kind,
      description: 'a log of its own',
      store: new Proxy(inner.store, {
        get(target, property, receiver) {
          if (property === 'begin') calls.begin++;
          return Reflect.get(target, property, receiver) as unknown;
        },
      }),
      prepare: async () => (calls.prepare++, inner.prepare()),
      close: async () => (calls.close++, inner.close()),
    };
    // DTX_LOG_URL names a server that is not there: nothing may reach it.
    const config = loadConfig(testEnv('mysql://nobody@127.0.0.1:1/none', inject('redisUrl'), uniqueRedisPrefix('own-log'), { DTX_SCHEDULER: 'in-process' }));
    const coordinator = createCoordinator(config, { logger: pino({ level: 'silent' }), log: own });
    const bankDb = await createTestDatabase(inject('mysqlUrl'), 'own_log_bank');
    const bank = await startTestParticipant(bankDb.url, { coordinatorKey: TEST_SECRET });
    const url = await coordinator.start();
    const dtx = new DtxClient({ coordinatorUrl: url, initiatorKey: TEST_INITIATOR_KEY, apiToken: TEST_API_TOKEN });
    try {
      expect(calls.prepare).toBe(1);
      const outcome = await dtx.tcc(async (tx) => {
        await tx.try({ url: bank.resourceUrl, payload: { amount: 1 } });
      });
      expect(outcome.status).toBe('confirmed');
      expect(calls.begin).toBeGreaterThan(0);
      expect(coordinator.log).toBe(own);
    } finally {
      await dtx.close();
      await coordinator.stop();
      await bank.stop();
      await bankDb.drop();
    }
    expect(calls.close).toBe(1);
  });
});
