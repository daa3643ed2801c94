/**
 * A branch that answers 425 (ongoing) forever never fails a round, so the
 * failed-rounds budget never flags it: the age of the decision does
 * (DTX_ATTENTION_AFTER_MS). Flagged once, with the alert, and still retried
 * at the base interval until the branch completes.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { TransactionSnapshot } from '../../coordinator/domain/transaction.ts';
import { startInProcessCoordinator, testEnv, type InProcessCoordinator } from '../support/coordinator-harness.ts';
import { createTestDatabase, uniqueRedisPrefix, type TestDatabase } from '../support/databases.ts';
import { startStubParticipant, type StubParticipant } from '../support/stub-participant.ts';
import { waitFor } from '../../tools/wait.ts';

const ATTENTION_AFTER_MS = 800;

describe('a branch answering 425 forever', () => {
  let db: TestDatabase;
  let participant: StubParticipant;
  let alerts: StubParticipant;
  let instance: InProcessCoordinator;

  beforeAll(async () => {
    db = await createTestDatabase(inject('mysqlUrl'), 'attention_age');
    participant = await startStubParticipant();
    alerts = await startStubParticipant();
    instance = await startInProcessCoordinator(
      testEnv(db.url, inject('redisUrl'), uniqueRedisPrefix('attention_age'), {
        DTX_ATTENTION_AFTER_MS: String(ATTENTION_AFTER_MS),
        DTX_ALERT_URL: `${alerts.resourceUrl}/hook`,
      }),
    );
  });

  afterAll(async () => {
    await instance?.stop();
    await participant?.close();
    await alerts?.close();
    await db?.drop();
  });

  const load = async (gid: string): Promise<TransactionSnapshot> => {
    const snapshot = await instance.coordinator.store.load(gid);
    if (!snapshot) throw new Error(`${gid} not in the log`);
    return snapshot;
  };

  it('is flagged needs-attention, with one alert, once the decision is DTX_ATTENTION_AFTER_MS old; retried at the base interval throughout', async () => {
    participant.answer(() => 425);
    const { service, store } = instance.coordinator;
    const { gid } = await service.begin({
      caller: 'tests',
      mode: 'tcc',
      timeoutMs: 30_000,
      branches: [
        { branchId: '01', operations: { confirm: `${participant.resourceUrl}/confirm`, cancel: `${participant.resourceUrl}/cancel` }, payload: '{"amount":1}' },
      ],
    });
    expect(await service.submit({ gid, reason: null, waitMs: 0, actor: 'tests' })).toEqual({ status: 'committing', mode: 'tcc' });

    const flagged = (await waitFor(
      async () => {
        const snapshot = await load(gid);
        return snapshot.transaction.needsAttention ? snapshot : null;
      },
      { what: `${gid} flagged needs attention`, timeoutMs: 15_000, intervalMs: 50 },
    ))!;
    const { transaction } = flagged;
    expect(transaction.status).toBe('committing');
    // Ongoing replies are not failed rounds: the budget of DTX_ATTENTION_AFTER_RETRIES was not what flagged it.
    expect(transaction.retryCount).toBe(0);
    expect(transaction.attentionReason).toContain('after the confirm decision');
    expect(transaction.attentionReason).toContain('branch 01: ongoing (HTTP 425)');
    const decidedAt = transaction.decidedAt!;
    expect(decidedAt).toBeGreaterThan(0);

    const events = await store.events(gid);
    const raised = events.filter((e) => e.kind === 'attention');
    expect(raised).toHaveLength(1);
    expect(raised[0]!.at - decidedAt).toBeGreaterThanOrEqual(ATTENTION_AFTER_MS);
    // Every call before the flag was an ongoing reply, each round one base interval after the last.
    const callsBefore = events.filter((e) => e.kind === 'branch-call');
    expect(callsBefore.length).toBeGreaterThanOrEqual(3);
    expect(callsBefore.every((e) => e.outcome === 'ongoing')).toBe(true);

    // The alert went out, naming the transaction.
    const alert = (await waitFor(() => alerts.calls.find((call) => call.body.includes(gid)), { what: 'the needs-attention alert', timeoutMs: 10_000 }))!;
    expect(JSON.parse(alert.body)).toMatchObject({ gid, reason: transaction.attentionReason });

    // Still retried, at the base interval, and flagged only once.
    const seen = participant.calls.length;
    const later = (await waitFor(
      async () => {
        const snapshot = await load(gid);
        const between = snapshot.transaction.leaseOwner === null && snapshot.transaction.nextRetryAt !== null;
        return participant.calls.length >= seen + 3 && between ? snapshot : null;
      },
      { what: 'three more rounds after the flag', timeoutMs: 10_000, intervalMs: 20 },
    ))!;
    expect(later.transaction.nextRetryAt! - later.transaction.updatedAt).toBe(instance.config.retryBaseMs);
    expect(later.transaction.needsAttention).toBe(true);
    expect((await store.events(gid)).filter((e) => e.kind === 'attention')).toHaveLength(1);
    expect(alerts.calls.filter((call) => call.body.includes(gid))).toHaveLength(1);

    // Once the branch completes, the transaction does, and the flag is cleared.
    participant.answer(() => 200);
    const done = (await waitFor(
      async () => {
        const snapshot = await load(gid);
        return snapshot.transaction.status === 'committed' ? snapshot : null;
      },
      { what: `${gid} committed`, timeoutMs: 10_000 },
    ))!;
    expect(done.transaction.needsAttention).toBe(false);
    expect(done.branches.map((b) => b.status)).toEqual(['committed']);
  });
});
