/**
 * Participants that refuse, fail, stall or hang: what the
 * initiator sees, what the coordinator records, and what is applied in the
 * participant's own database — every effect at most once.
 */
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { DtxClient, TryFailedError, TryRejectedError } from '../../participant-sdk/index.ts';
import { TEST_INITIATOR_KEY, TEST_API_TOKEN, type InProcessCoordinator } from '../support/coordinator-harness.ts';
import { startCoordinatorWithBank, type CoordinatorWithBank } from '../support/coordinator-with-bank.ts';
import { startHoldingProxy } from '../support/holding-proxy.ts';
import type { TestParticipant } from '../support/test-participant.ts';
import { branchOf, callsOf, scheduledDelayMs, waitForStatus, waitForView } from '../support/transaction-view.ts';

describe('participant faults', () => {
  let env: CoordinatorWithBank | undefined;
  let coordinator: InProcessCoordinator;
  let bank: TestParticipant;
  let dtx: DtxClient;
  /** An initiator that gives up on a try after 300 ms. */
  let impatient: DtxClient;

  beforeAll(async () => {
    env = await startCoordinatorWithBank(inject('mysqlUrl'), inject('redisUrl'), 'faults');
    ({ coordinator, bank, dtx } = env);
    impatient = new DtxClient({ coordinatorUrl: coordinator.url, initiatorKey: TEST_INITIATOR_KEY, apiToken: TEST_API_TOKEN, tryTimeoutMs: 300 });
  });

  afterEach(() => {
    for (const op of ['try', 'confirm', 'cancel'] as const) bank.behave(op, 'ok');
  });

  afterAll(async () => {
    await impatient?.close();
    await env?.stop();
  });

  /** Runs a transaction whose second try is answered by `behaviour`; returns the gid and what tcc threw. */
  async function failSecondTry(behaviour: 'reject' | 'error'): Promise<{ gid: string; error: unknown }> {
    let gid = '';
    const error = await dtx
      .tcc(async (tx) => {
        gid = tx.gid;
        await tx.try({ url: bank.resourceUrl, payload: { amount: 5 } });
        bank.behave('try', behaviour);
        await tx.try({ url: bank.resourceUrl, payload: { amount: 7 } });
        return 'unreachable';
      })
      .catch((e: unknown) => e);
    return { gid, error };
  }

  async function expectUndoneOnce(gid: string): Promise<void> {
    // Branch 01's try ran and is undone once; branch 02's failed try was rolled back, its cancel is a null compensation.
    expect(await bank.effects(gid, 'try', '01')).toBe(1);
    expect(await bank.effects(gid, 'try', '02')).toBe(0);
    expect(await bank.effects(gid, 'cancel', '01')).toBe(1);
    expect(await bank.effects(gid, 'cancel', '02')).toBe(0);
    expect(await bank.effects(gid, 'confirm')).toBe(0);
  }

  describe('try', () => {
    it('answered 409: tcc throws TryRejectedError and the transaction is cancelled', async () => {
      const { gid, error } = await failSecondTry('reject');
      expect(error).toBeInstanceOf(TryRejectedError);
      expect(error).toMatchObject({ gid, branchId: '02', code: 'TEST_REJECT' });

      const view = await waitForStatus(dtx, gid, 'cancelled');
      await expectUndoneOnce(gid);
      expect(view.branches.map((b) => b.status)).toEqual(['cancelled', 'cancelled']);
      expect(view.transaction.reason).toContain('rejected');
      expect(view.events.filter((e) => e.kind === 'status').map((e) => [e.fromStatus, e.toStatus])).toEqual([
        ['trying', 'cancelling'],
        ['cancelling', 'cancelled'],
      ]);
    });

    it('answered 500: tcc throws TryFailedError and the transaction is cancelled', async () => {
      const { gid, error } = await failSecondTry('error');
      expect(error).toBeInstanceOf(TryFailedError);
      expect(error).toMatchObject({ gid, branchId: '02', httpStatus: 500, code: 'TRY_FAILED' });

      await waitForStatus(dtx, gid, 'cancelled');
      await expectUndoneOnce(gid);
    });

    it('delayed past the try timeout: cancelled first, and the try arriving late is refused without effect', async () => {
      // The try is held between the initiator and the participant, as by a slow network.
      const proxy = await startHoldingProxy(bank.url);
      try {
        let gid = '';
        const error = await impatient
          .tcc(async (tx) => {
            gid = tx.gid;
            await tx.try({
              tryUrl: `${proxy.url}/dtx/account/try`,
              confirmUrl: `${bank.resourceUrl}/confirm`,
              cancelUrl: `${bank.resourceUrl}/cancel`,
              payload: { amount: 3 },
            });
          })
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(TryFailedError);
        expect(error).toMatchObject({ gid, branchId: '01', httpStatus: null });

        const view = await waitForStatus(dtx, gid, 'cancelled');
        expect(branchOf(view, '01').status).toBe('cancelled');
        expect(await bank.effects(gid, 'cancel')).toBe(0); // null compensation: the try had not run

        proxy.release();
        const late = await proxy.forwarded;
        expect(late.statusCode).toBe(409);
        expect(JSON.parse(late.body)).toMatchObject({ code: 'SUSPENDED' });
        expect(await bank.effects(gid, 'try')).toBe(0);
        expect(await bank.effects(gid, 'cancel')).toBe(0);
        expect(await bank.effects(gid, 'confirm')).toBe(0);
      } finally {
        await proxy.close();
      }
    });

    it('hanging inside the participant past the try timeout: the cancel waits for it, then undoes it once', async () => {
      const gate = bank.gate('try');
      let gid = '';
      const outcome = impatient
        .tcc(async (tx) => {
          gid = tx.gid;
          await tx.try({ url: bank.resourceUrl, payload: { amount: 4 } });
        })
        .catch((e: unknown) => e);
      await gate.reached;
      const error = await outcome;
      expect(error).toBeInstanceOf(TryFailedError);
      expect(error).toMatchObject({ gid, branchId: '01', httpStatus: null });

      // The held try owns its barrier row, so each cancel times out at the coordinator and is retried.
      const stuck = await waitForView(dtx, gid, 'two timed-out cancels', (v) => branchOf(v, '01').attempts >= 2);
      expect(stuck.transaction.status).toBe('cancelling');
      expect(branchOf(stuck, '01').lastError).toMatch(/timeout/i);
      expect(callsOf(stuck, '01', 'cancel').every((e) => e.outcome === 'unknown')).toBe(true);

      gate.open(); // the try completes (its reply goes nowhere), then the cancel undoes it
      await waitForStatus(dtx, gid, 'cancelled');
      expect(await bank.effects(gid, 'try')).toBe(1);
      expect(await bank.effects(gid, 'cancel')).toBe(1);
      expect(await bank.effects(gid, 'confirm')).toBe(0);
    });
  });

  describe('confirm', () => {
    it('answered 500 a few times, then ok: confirmed with one effect per branch, failures in the history', async () => {
      bank.behave('confirm', 'error');
      const outcome = await dtx.tcc(async (tx) => {
        await tx.tryAll([
          { url: bank.resourceUrl, payload: { amount: 1 } },
          { url: bank.resourceUrl, payload: { amount: 2 } },
        ]);
      });
      expect(['confirming', 'confirmed']).toContain(outcome.status);
      const { gid } = outcome;

      const failing = await waitForView(
        dtx,
        gid,
        'three failed confirms per branch, between two rounds',
        (v) => v.branches.every((b) => b.attempts >= 3) && scheduledDelayMs(v) !== null,
      );
      expect(failing.transaction.status).toBe('confirming');
      expect(scheduledDelayMs(failing)).toBeLessThanOrEqual(coordinator.config.retryMaxMs);
      expect(failing.transaction.retryCount).toBeGreaterThan(0);
      expect(failing.transaction.nextRetryAt).not.toBeNull();
      expect(branchOf(failing, '01').lastError).toContain('HTTP 500');
      expect(await bank.effects(gid, 'confirm')).toBe(0);

      bank.behave('confirm', 'ok');
      const done = await waitForStatus(dtx, gid, 'confirmed');
      expect(await bank.effects(gid, 'confirm', '01')).toBe(1);
      expect(await bank.effects(gid, 'confirm', '02')).toBe(1);
      expect(await bank.effects(gid, 'cancel')).toBe(0);
      expect(done.transaction.retryCount).toBeGreaterThan(0);
      expect(done.transaction.nextRetryAt).toBeNull();
      for (const branchId of ['01', '02']) {
        const branch = branchOf(done, branchId);
        expect(branch).toMatchObject({ status: 'confirmed', lastError: null });
        const calls = callsOf(done, branchId, 'confirm');
        expect(calls.map((e) => e.attempt)).toEqual(calls.map((_, i) => i + 1));
        expect(calls.length).toBe(branch.attempts);
        const failures = calls.slice(0, -1);
        expect(failures.length).toBeGreaterThanOrEqual(3);
        for (const failure of failures) {
          expect(failure.outcome).toBe('unknown');
          // The transaction API shows the status line; the participant's body is for operators.
          expect(failure.message).toBe('HTTP 500');
        }
        expect(calls.at(-1)?.outcome).toBe('success');
      }
    });

    it('answered 425 (ongoing), then ok: retried at the base interval without counting retries', async () => {
      bank.behave('confirm', 'ongoing');
      const outcome = await dtx.tcc(async (tx) => {
        await tx.try({ url: bank.resourceUrl, payload: { amount: 1 } });
      });
      const { gid } = outcome;
      expect(outcome.status).toBe('confirming');

      const ongoing = await waitForView(
        dtx,
        gid,
        'four ongoing confirms, between two rounds',
        (v) => branchOf(v, '01').attempts >= 4 && scheduledDelayMs(v) !== null,
      );
      expect(scheduledDelayMs(ongoing)).toBe(coordinator.config.retryBaseMs);
      expect(ongoing.transaction.status).toBe('confirming');
      expect(ongoing.transaction.retryCount).toBe(0);
      expect(ongoing.transaction.needsAttention).toBe(false);
      expect(callsOf(ongoing, '01', 'confirm').every((e) => e.outcome === 'ongoing')).toBe(true);

      bank.behave('confirm', 'ok');
      const done = await waitForStatus(dtx, gid, 'confirmed');
      expect(done.transaction.retryCount).toBe(0);
      expect(await bank.effects(gid, 'confirm')).toBe(1);
    });

    it('answered 409: stays confirming, needs attention naming the branch, keeps retrying, then confirms', async () => {
      bank.behave('confirm', 'reject');
      const outcome = await dtx.tcc(async (tx) => {
        await tx.try({ url: bank.resourceUrl, payload: { amount: 1 } });
      });
      const { gid } = outcome;
      expect(outcome.status).toBe('confirming');

      const flagged = await waitForView(dtx, gid, 'needs attention', (v) => v.transaction.needsAttention);
      expect(flagged.transaction.status).toBe('confirming');
      expect(flagged.transaction.attentionReason).toContain('branch 01');
      expect(flagged.transaction.attentionReason).toContain('409');
      expect(flagged.events.some((e) => e.kind === 'attention' && e.message?.includes('branch 01'))).toBe(true);

      const seen = branchOf(flagged, '01').attempts;
      const later = await waitForView(dtx, gid, 'more confirm attempts', (v) => branchOf(v, '01').attempts >= seen + 2);
      expect(later.transaction.status).toBe('confirming');
      expect(later.transaction.needsAttention).toBe(true);
      expect(callsOf(later, '01', 'confirm').every((e) => e.outcome === 'failure')).toBe(true);
      expect(await bank.effects(gid, 'confirm')).toBe(0);

      bank.behave('confirm', 'ok');
      const done = await waitForStatus(dtx, gid, 'confirmed');
      expect(done.transaction.needsAttention).toBe(false);
      // Raised once, not once per refused round.
      expect(done.events.filter((e) => e.kind === 'attention')).toHaveLength(1);
      expect(await bank.effects(gid, 'confirm')).toBe(1);
      expect(await bank.effects(gid, 'cancel')).toBe(0);
    });

    it('hanging past the branch timeout: counted unknown, retried, and applied once after release', async () => {
      const gate = bank.gate('confirm');
      const submitted = dtx.tcc(async (tx) => {
        await tx.try({ url: bank.resourceUrl, payload: { amount: 1 } });
      });
      await gate.reached;
      const outcome = await submitted; // the first round ends with the branch timeout
      const { gid } = outcome;
      expect(outcome.status).toBe('confirming');

      // The held confirm owns its barrier row: the retries wait behind it and time out too.
      const stuck = await waitForView(dtx, gid, 'two timed-out confirms', (v) => branchOf(v, '01').attempts >= 2);
      expect(stuck.transaction.status).toBe('confirming');
      expect(stuck.transaction.retryCount).toBeGreaterThan(0);
      const calls = callsOf(stuck, '01', 'confirm');
      expect(calls.every((e) => e.outcome === 'unknown' && /timeout/i.test(e.message ?? ''))).toBe(true);

      gate.open();
      await waitForStatus(dtx, gid, 'confirmed');
      expect(await bank.effects(gid, 'confirm')).toBe(1);
      expect(await bank.effects(gid, 'cancel')).toBe(0);
    });
  });

  describe('cancel', () => {
    it('answered 500 during an abort: retried until it succeeds, applied once per branch', async () => {
      bank.behave('cancel', 'error');
      let gid = '';
      const failure = new Error('initiator gives up');
      await expect(
        dtx.tcc(async (tx) => {
          gid = tx.gid;
          await tx.tryAll([
            { url: bank.resourceUrl, payload: { amount: 1 } },
            { url: bank.resourceUrl, payload: { amount: 2 } },
          ]);
          throw failure;
        }),
      ).rejects.toBe(failure);

      const failing = await waitForView(dtx, gid, 'three failed cancels per branch', (v) => v.branches.every((b) => b.attempts >= 3));
      expect(failing.transaction.status).toBe('cancelling');
      expect(failing.transaction.retryCount).toBeGreaterThan(0);
      expect(callsOf(failing, '01', 'cancel').every((e) => e.outcome === 'unknown' && e.message?.includes('HTTP 500'))).toBe(true);
      expect(await bank.effects(gid, 'cancel')).toBe(0);

      bank.behave('cancel', 'ok');
      const done = await waitForStatus(dtx, gid, 'cancelled');
      expect(done.transaction.reason).toBe('initiator gives up');
      expect(await bank.effects(gid, 'cancel', '01')).toBe(1);
      expect(await bank.effects(gid, 'cancel', '02')).toBe(1);
      expect(await bank.effects(gid, 'confirm')).toBe(0);
    });
  });
});
