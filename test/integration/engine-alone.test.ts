/**
 * The engine on its ports alone: a MySQL store, a branch client, and a
 * scheduler that only records — no HTTP server, no Redis. It runs a TCC
 * transaction to its end, and a failing confirm is scheduled on the port
 * and finished by `recover`, as a reconciler or a queue worker would.
 */
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { HttpBranchClient } from '../../coordinator/branch-client/http-branch-client.ts';
import { createEngine, type Engine } from '../../coordinator/engine/create-engine.ts';
import type { RetryScheduler } from '../../coordinator/engine/ports.ts';
import { ParticipantPolicy } from '../../coordinator/security/participant-policy.ts';
import { MysqlAdminStore } from '../../coordinator/store/mysql/mysql-admin-store.ts';
import { MysqlWriter } from '../../coordinator/store/mysql/mysql-writer.ts';
import { TEST_SECRET } from '../support/coordinator-harness.ts';
import { createTestDatabase, type TestDatabase } from '../support/databases.ts';
import { openLogStore, type LogStore } from '../support/log-store.ts';
import { startTestParticipant, type TestParticipant } from '../support/test-participant.ts';
import { callBranch } from '../support/transaction-view.ts';
import { waitFor } from '../../tools/wait.ts';

describe('the engine without a server or a queue', () => {
  let logDb: TestDatabase;
  let bankDb: TestDatabase;
  let log: LogStore;
  let bank: TestParticipant;
  let client: HttpBranchClient;
  let engine: Engine;
  /** The scheduler port: what the engine asked to look at again, and when. */
  const scheduled: { gid: string; at: number }[] = [];

  beforeAll(async () => {
    logDb = await createTestDatabase(inject('mysqlUrl'), 'engine_alone_log');
    bankDb = await createTestDatabase(inject('mysqlUrl'), 'engine_alone_bank');
    log = await openLogStore(logDb.url);
    bank = await startTestParticipant(bankDb.url, { coordinatorKey: TEST_SECRET });
    client = new HttpBranchClient({ keyFor: () => TEST_SECRET, timeoutMs: 2_000, connectionsPerOrigin: 4, now: Date.now });
    const scheduler: RetryScheduler = {
      schedule: async (gid, at) => {
        scheduled.push({ gid, at });
      },
    };
    engine = createEngine({
      store: log.store,
      adminStore: new MysqlAdminStore(new MysqlWriter(log.knex)),
      scheduler,
      branchClient: client,
      clock: { now: Date.now },
      participants: new ParticipantPolicy([], TEST_SECRET, true),
      instanceId: 'engine-alone',
      leaseMs: 4_000,
      retryPolicy: { baseDelayMs: 10, maxDelayMs: 20, attentionAfterRetries: 100, attentionAfterMs: 600_000 },
      maxBulk: 10,
      logger: pino({ level: 'silent' }),
    });
  });

  afterAll(async () => {
    await engine?.drain(2_000);
    await client?.close();
    await bank?.stop();
    await log?.close();
    await bankDb?.drop();
    await logDb?.drop();
  });

  /** Begins a transaction with one branch at the bank and runs its try, as an initiator does. */
  async function tried(label: string): Promise<string> {
    const gid = `${label}-${randomBytes(5).toString('hex')}`;
    const payload = JSON.stringify({ amount: 1 });
    const begun = await engine.service.begin({
      gid,
      caller: 'tests',
      mode: 'tcc',
      timeoutMs: 60_000,
      branches: [{ branchId: '01', operations: { confirm: `${bank.resourceUrl}/confirm`, cancel: `${bank.resourceUrl}/cancel` }, payload }],
    });
    // The try carries the registration proof the begin answered, as an initiator's does.
    const registration = begun.proofs?.['01'];
    expect(registration).toMatch(/^v1=[0-9a-f]{64}$/);
    expect((await callBranch(`${bank.resourceUrl}/try`, { gid, branchId: '01', op: 'try', payload: { amount: 1 }, registration })).statusCode).toBe(200);
    return gid;
  }

  it('runs a TCC transaction to committed (confirmed)', async () => {
    const gid = await tried('alone');
    expect(await engine.service.submit({ gid, reason: null, waitMs: 5_000, actor: 'tests' })).toEqual({ status: 'committed', mode: 'tcc' });
    expect(await bank.effects(gid, 'confirm')).toBe(1);
    expect(scheduled.filter((s) => s.gid === gid)).toEqual([]);
    // The happy path is on the rows (who began, registered and decided it, the completing call); no event rows.
    const snapshot = await log.store.load(gid);
    expect(snapshot?.transaction).toMatchObject({ status: 'committed', caller: 'tests', decidedBy: 'tests' });
    expect(snapshot?.branches.map((b) => [b.status, b.registeredBy, b.completion?.op, b.completion?.httpStatus])).toEqual([
      ['committed', 'tests', 'confirm', 200],
    ]);
    expect(await log.store.events(gid)).toEqual([]);
  });

  it('schedules a failed confirm on its scheduler port, and recover() finishes it', async () => {
    const gid = await tried('retried');
    bank.behave('confirm', 'error');
    try {
      expect(await engine.service.submit({ gid, reason: null, waitMs: 5_000, actor: 'tests' })).toEqual({ status: 'committing', mode: 'tcc' });
    } finally {
      bank.behave('confirm', 'ok');
    }
    expect(scheduled.filter((s) => s.gid === gid)).toHaveLength(1);
    // What the queue worker does once the job is due (recover answers null before: not due yet).
    const status = await waitFor(() => engine.service.recover(gid), { what: 'the retried confirm to finish', timeoutMs: 5_000 });
    expect(status).toBe('committed');
    expect(await bank.effects(gid, 'confirm')).toBe(1);
  });
});
