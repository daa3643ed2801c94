/**
 * GET /metrics (Prometheus, prom-client on a per-coordinator registry): the
 * named metrics exist, move with real transactions against a real
 * participant, and a scrape survives an unreachable Redis.
 */
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import type { DtxClient } from '../../participant-sdk/index.ts';
import { startInProcessCoordinator, testEnv, type InProcessCoordinator } from '../support/coordinator-harness.ts';
import { startCoordinatorWithBank, type CoordinatorWithBank } from '../support/coordinator-with-bank.ts';
import { createTestDatabase, uniqueRedisPrefix, type TestDatabase } from '../support/databases.ts';
import { pickFreePort } from '../../tools/free-port.ts';
import { scrape, type Scrape } from '../support/prometheus-text.ts';
import type { TestParticipant } from '../support/test-participant.ts';
import { waitForStatus, waitForView } from '../support/transaction-view.ts';
import { waitFor } from '../../tools/wait.ts';

const TCC = { mode: 'tcc' };

describe('metrics', () => {
  let env: CoordinatorWithBank | undefined;
  let coordinator: InProcessCoordinator;
  let bank: TestParticipant;
  let dtx: DtxClient;

  beforeAll(async () => {
    env = await startCoordinatorWithBank(inject('mysqlUrl'), inject('redisUrl'), 'metrics');
    ({ coordinator, bank, dtx } = env);
  });

  afterEach(() => {
    for (const op of ['try', 'confirm', 'cancel'] as const) bank.behave(op, 'ok');
  });

  afterAll(() => env?.stop());

  /** Value of a sample, 0 when the series does not exist yet. */
  const v = (s: Scrape, name: string, labels?: Record<string, string>) => s.value(name, labels) ?? 0;

  it('exposes the dtx metrics and the process metrics in the text format, without gid or URL labels', async () => {
    const s = await scrape(coordinator.url);
    expect(s.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    const expected: [string, string][] = [
      ['dtx_transactions_total', 'counter'],
      ['dtx_phase_two_duration_seconds', 'histogram'],
      ['dtx_branch_calls_total', 'counter'],
      ['dtx_branch_call_duration_seconds', 'histogram'],
      ['dtx_phase_two_retries_total', 'counter'],
      ['dtx_attention_raised_total', 'counter'],
      ['dtx_transactions_needing_attention', 'gauge'],
      ['dtx_open_transactions', 'gauge'],
      ['dtx_recovery_queue_depth', 'gauge'],
      ['dtx_metrics_source_up', 'gauge'],
      ['process_cpu_user_seconds_total', 'counter'],
      ['process_resident_memory_bytes', 'gauge'],
      ['nodejs_eventloop_lag_seconds', 'gauge'],
    ];
    for (const [name, type] of expected) expect(s.text).toContain(`# TYPE ${name} ${type}`);
    // Series exist at 0 before anything happened, so rate() and alert rules see them.
    for (const outcome of ['begun', 'confirmed', 'cancelled']) expect(s.value('dtx_transactions_total', { ...TCC, outcome })).toBe(0);
    for (const op of ['confirm', 'cancel']) {
      for (const result of ['success', 'failure', 'ongoing', 'unknown']) expect(s.value('dtx_branch_calls_total', { op, result })).toBe(0);
      expect(s.value('dtx_phase_two_retries_total', { op })).toBe(0);
    }
    expect(s.value('dtx_metrics_source_up', { source: 'log' })).toBe(1);
    expect(s.value('dtx_metrics_source_up', { source: 'queue' })).toBe(1);
    expect(s.value('dtx_transactions_needing_attention')).toBe(0);
    expect(s.value('dtx_open_transactions', { status: 'confirming' })).toBe(0);
    expect(Number.isFinite(s.value('dtx_recovery_queue_depth'))).toBe(true);
    expect(s.text).not.toMatch(/\b(gid|url|branch_id|branchId)="/);
  });

  it('a confirmed transaction counts begun and confirmed, two successful confirms and one phase-two duration', async () => {
    const before = await scrape(coordinator.url);
    const outcome = await dtx.tcc(async (tx) => {
      await tx.tryAll([
        { url: bank.resourceUrl, payload: { amount: 1 } },
        { url: bank.resourceUrl, payload: { amount: 2 } },
      ]);
    });
    expect(outcome.status).toBe('confirmed');
    const after = await scrape(coordinator.url);
    expect(v(after, 'dtx_transactions_total', { ...TCC, outcome: 'begun' }) - v(before, 'dtx_transactions_total', { ...TCC, outcome: 'begun' })).toBe(1);
    expect(v(after, 'dtx_transactions_total', { ...TCC, outcome: 'confirmed' }) - v(before, 'dtx_transactions_total', { ...TCC, outcome: 'confirmed' })).toBe(
      1,
    );
    expect(
      v(after, 'dtx_branch_calls_total', { op: 'confirm', result: 'success' }) - v(before, 'dtx_branch_calls_total', { op: 'confirm', result: 'success' }),
    ).toBe(2);
    expect(v(after, 'dtx_branch_call_duration_seconds_count', { op: 'confirm' }) - v(before, 'dtx_branch_call_duration_seconds_count', { op: 'confirm' })).toBe(
      2,
    );
    const durations = { ...TCC, outcome: 'confirmed' };
    expect(v(after, 'dtx_phase_two_duration_seconds_count', durations) - v(before, 'dtx_phase_two_duration_seconds_count', durations)).toBe(1);
    expect(after.value('dtx_phase_two_duration_seconds_bucket', { ...durations, le: '+Inf' })).toBe(
      after.value('dtx_phase_two_duration_seconds_count', durations),
    );
    expect(v(after, 'dtx_phase_two_retries_total', { op: 'confirm' })).toBe(v(before, 'dtx_phase_two_retries_total', { op: 'confirm' }));
  });

  it('a confirm failing with 500 counts unknown calls and retries; the finish after recovery is timed from the decision', async () => {
    const before = await scrape(coordinator.url);
    bank.behave('confirm', 'error');
    const outcome = await dtx.tcc(async (tx) => {
      await tx.try({ url: bank.resourceUrl, payload: { amount: 3 } });
    });
    expect(outcome.status).toBe('confirming');
    const during = await waitFor<Scrape | null>(
      async () => {
        const s = await scrape(coordinator.url);
        return v(s, 'dtx_phase_two_retries_total', { op: 'confirm' }) - v(before, 'dtx_phase_two_retries_total', { op: 'confirm' }) >= 2 ? s : null;
      },
      { what: 'two retries counted', timeoutMs: 10_000 },
    ).then((s) => s!);
    expect(
      v(during, 'dtx_branch_calls_total', { op: 'confirm', result: 'unknown' }) - v(before, 'dtx_branch_calls_total', { op: 'confirm', result: 'unknown' }),
    ).toBeGreaterThanOrEqual(2);
    expect(v(during, 'dtx_transactions_total', { ...TCC, outcome: 'confirmed' })).toBe(v(before, 'dtx_transactions_total', { ...TCC, outcome: 'confirmed' }));

    bank.behave('confirm', 'ok');
    const view = await waitForStatus(dtx, outcome.gid, 'confirmed');
    const durations = { ...TCC, outcome: 'confirmed' };
    // The round that finished it was a recovery round: the decision time is read from the log, after the round.
    const after = await waitFor<Scrape | null>(
      async () => {
        const s = await scrape(coordinator.url);
        return v(s, 'dtx_phase_two_duration_seconds_count', durations) - v(before, 'dtx_phase_two_duration_seconds_count', durations) === 1 ? s : null;
      },
      { what: 'the phase-two duration observed' },
    ).then((s) => s!);
    const decision = view.events.find((e) => e.kind === 'status' && e.fromStatus === 'trying');
    const decidedAt = Date.parse((decision as unknown as { at: string }).at);
    const expectedSeconds = (Date.parse(view.transaction.finishedAt!) - decidedAt) / 1000;
    expect(expectedSeconds).toBeGreaterThan(0.1); // at least two backoff rounds
    const observed = v(after, 'dtx_phase_two_duration_seconds_sum', durations) - v(before, 'dtx_phase_two_duration_seconds_sum', durations);
    expect(observed).toBeCloseTo(expectedSeconds, 3);
    expect(v(after, 'dtx_transactions_total', { ...TCC, outcome: 'confirmed' }) - v(before, 'dtx_transactions_total', { ...TCC, outcome: 'confirmed' })).toBe(
      1,
    );
  });

  it('a confirm answering 409 counts a failure, raises the flag at once and the gauge shows it until repaired', async () => {
    const before = await scrape(coordinator.url);
    bank.behave('confirm', 'reject');
    const outcome = await dtx.tcc(async (tx) => {
      await tx.try({ url: bank.resourceUrl, payload: { amount: 4 } });
    });
    expect(outcome.status).toBe('confirming');
    await waitForView(dtx, outcome.gid, 'flagged', (view) => view.transaction.needsAttention);

    const flagged = await scrape(coordinator.url);
    expect(flagged.value('dtx_transactions_needing_attention')).toBe(1);
    expect(flagged.value('dtx_open_transactions', { status: 'confirming' })).toBe(1);
    expect(
      v(flagged, 'dtx_branch_calls_total', { op: 'confirm', result: 'failure' }) - v(before, 'dtx_branch_calls_total', { op: 'confirm', result: 'failure' }),
    ).toBeGreaterThanOrEqual(1);
    // Raised once, however many rounds keep refusing.
    expect(v(flagged, 'dtx_attention_raised_total', TCC) - v(before, 'dtx_attention_raised_total', TCC)).toBe(1);

    bank.behave('confirm', 'ok');
    await waitForStatus(dtx, outcome.gid, 'confirmed');
    const repaired = await scrape(coordinator.url);
    expect(repaired.value('dtx_transactions_needing_attention')).toBe(0);
    expect(repaired.value('dtx_open_transactions', { status: 'confirming' })).toBe(0);
    expect(v(repaired, 'dtx_attention_raised_total', TCC) - v(before, 'dtx_attention_raised_total', TCC)).toBe(1);
  });

  it('each coordinator has its own registry', async () => {
    const own = await scrape(coordinator.url);
    const second = await startInProcessCoordinator(testEnv(env!.coordinatorDb.url, inject('redisUrl'), uniqueRedisPrefix('metrics2')));
    try {
      const other = await scrape(second.url);
      expect(other.value('dtx_transactions_total', { ...TCC, outcome: 'begun' })).toBe(0);
      expect(own.value('dtx_transactions_total', { ...TCC, outcome: 'begun' })).toBeGreaterThan(0);
    } finally {
      await second.stop();
    }
  });
});

describe('metrics without Redis', () => {
  let coordinatorDb: TestDatabase;
  let coordinator: InProcessCoordinator;

  beforeAll(async () => {
    coordinatorDb = await createTestDatabase(inject('mysqlUrl'), 'metrics_noredis');
    // Nothing listens there: the queue is unreachable for the whole test.
    const deadRedis = `redis://127.0.0.1:${await pickFreePort()}`;
    coordinator = await startInProcessCoordinator(testEnv(coordinatorDb.url, deadRedis, uniqueRedisPrefix('metrics_noredis')));
  });

  afterAll(async () => {
    await coordinator?.stop();
    await coordinatorDb?.drop();
  });

  it('still answers quickly: the queue depth is NaN and the redis source is marked down, MySQL gauges still read', async () => {
    const started = Date.now();
    const s = await scrape(coordinator.url);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(s.value('dtx_recovery_queue_depth')).toBeNaN();
    expect(s.value('dtx_metrics_source_up', { source: 'queue' })).toBe(0);
    expect(s.value('dtx_metrics_source_up', { source: 'log' })).toBe(1);
    expect(s.value('dtx_transactions_needing_attention')).toBe(0);
  });
});
