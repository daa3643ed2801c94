/**
 * Regression (found by the chaos suite, scenario coordinator-crash): a
 * coordinator SIGKILLed while its worker held a recovery job left that job
 * "active" in Redis with a lock nobody renews. The reconciler re-enqueued the
 * due transaction every pass under the same job id (`<gid>@<due time>`), which
 * BullMQ ignores while the dead job exists, so the transaction waited for
 * BullMQ's stalled-job check (lock duration, 30 s by default, plus up to one
 * check interval) — a decided transfer stayed `confirming` for ~70 s in a
 * chaos run. Work the queue has not delivered well after it was due must be
 * recovered anyway.
 */
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { RECOVERY_QUEUE, RecoveryQueue } from '../../coordinator/recovery/recovery-queue.ts';
import { startInProcessCoordinator, testEnv, TEST_API_HEADERS, type InProcessCoordinator } from '../support/coordinator-harness.ts';
import { createTestDatabase, uniqueRedisPrefix, type TestDatabase } from '../support/databases.ts';
import { openCoordinatorLog, uniqueGid, type CoordinatorLogReader } from '../support/recovery-helpers.ts';
import { waitFor } from '../../tools/wait.ts';

describe('a recovery job held by a dead worker', () => {
  let db: TestDatabase;
  let log: CoordinatorLogReader;
  let coordinator: InProcessCoordinator | undefined;
  const redisConnections: Redis[] = [];

  beforeAll(async () => {
    db = await createTestDatabase(inject('mysqlUrl'), 'stuck_job');
    log = openCoordinatorLog(db.url);
  });

  afterAll(async () => {
    await coordinator?.stop();
    for (const r of redisConnections) r.disconnect();
    await log?.close();
    await db?.drop();
  });

  it('does not keep a due transaction waiting for BullMQ to notice the stalled job', { timeout: 30_000 }, async () => {
    const prefix = uniqueRedisPrefix('stuck');
    const gid = uniqueGid('stuck');

    // A transaction whose confirm decision was logged by an instance that died at once:
    // confirming, lease expired, due now (the state a SIGKILL right after the decision leaves).
    const first = await startInProcessCoordinator(testEnv(db.url, inject('redisUrl'), prefix));
    const begun = await fetch(`${first.url}/v1/transactions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...TEST_API_HEADERS },
      body: JSON.stringify({ gid, mode: 'tcc', timeoutMs: 60_000, branches: [] }),
    });
    expect(begun.status).toBe(201);
    await first.stop();
    const past = Date.now() - 1;
    await log.knex('dtx_global').where({ gid }).update({ status: 'committing', lease_owner: 'dead-instance', lease_until: past, next_retry_at: past });
    const due = (await log.row(gid))!.nextRetryAt!;

    // Its recovery job, taken by a worker that then died: active, locked for a minute, never finished.
    const connection = () => {
      const redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
      redisConnections.push(redis);
      return redis;
    };
    const queue = new RecoveryQueue({ connection: connection(), prefix, now: Date.now, logger: pino({ level: 'silent' }) });
    await queue.schedule(gid, due);
    await queue.close();
    const dead = new Worker(RECOVERY_QUEUE, null, { connection: connection(), prefix, lockDuration: 60_000, autorun: false });
    const job = await dead.getNextJob('dead-worker');
    expect(job?.data).toEqual({ gid });
    await dead.close();

    coordinator = await startInProcessCoordinator(testEnv(db.url, inject('redisUrl'), prefix, { DTX_RECONCILE_INTERVAL_MS: '200' }));
    await waitFor(async () => (await log.row(gid))?.status === 'committed', {
      what: `${gid} to be recovered while the dead worker's job is still locked`,
      timeoutMs: 10_000,
      intervalMs: 100,
    });
  });
});
