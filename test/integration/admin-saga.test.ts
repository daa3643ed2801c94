/**
 * A saga through the admin API: its steps with their prerequisites, the
 * operator actions that apply where it stands (asked of the same decisions
 * the actions run), and force-abort turning a running saga back.
 */
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { ADMIN_TOKENS, adminCall, OPERATOR } from '../support/admin-api.ts';
import { startCoordinatorWithBank, type CoordinatorWithBank } from '../support/coordinator-with-bank.ts';
import { waitFor } from '../../tools/wait.ts';

interface SagaAdminView {
  transaction: { status: string; reason: string | null };
  branches: { branchId: string; status: string; dependsOn: string[] | null; actionUrl: string; compensateUrl: string }[];
  operator: { actions: Record<string, string | null>; resolve: { as: string; branches: string[] } | null };
}

describe('a saga in the admin API', () => {
  let env: CoordinatorWithBank;
  const view = async (gid: string) => (await adminCall<SagaAdminView>(env.coordinator.url, 'GET', `/transactions/${gid}`, { token: OPERATOR.token })).body;

  beforeAll(async () => {
    env = await startCoordinatorWithBank(inject('mysqlUrl'), inject('redisUrl'), 'adminsaga', { DTX_ADMIN_TOKENS: ADMIN_TOKENS });
  });
  afterEach(() => env.bank.behaveWell());
  afterAll(async () => {
    await env?.stop();
  });

  it('shows a running saga with its graph; force-abort turns it back and compensates what ran, once', async () => {
    const { dtx, bank } = env;
    const gate = bank.gate('action');
    const saga = dtx
      .saga()
      .step('a', { url: bank.sagaUrl })
      .step('b', { url: bank.sagaUrl, dependsOn: [] })
      .step('c', { url: bank.sagaUrl, dependsOn: ['a', 'b'] });
    const submitted = await saga.submit({ wait: false });
    expect(submitted.status).toBe('running');
    await gate.reached;

    const running = await view(saga.gid);
    expect(running.transaction.status).toBe('running');
    expect(running.branches.map((b) => [b.branchId, b.dependsOn, b.actionUrl, b.compensateUrl])).toEqual([
      ['a', [], `${bank.sagaUrl}/action`, `${bank.sagaUrl}/compensate`],
      ['b', [], `${bank.sagaUrl}/action`, `${bank.sagaUrl}/compensate`],
      ['c', ['a', 'b'], `${bank.sagaUrl}/action`, `${bank.sagaUrl}/compensate`],
    ]);
    expect(running.operator.actions['force-abort']).toBeNull();
    expect(running.operator.actions.close).toBeNull();
    expect(running.operator.actions.resume).toMatch(/not paused/);
    expect(running.operator.resolve).toEqual({ as: 'succeeded', branches: ['a', 'b', 'c'] });

    const aborted = await adminCall(env.coordinator.url, 'POST', `/transactions/${saga.gid}/force-abort`, {
      token: OPERATOR.token,
      body: { reason: 'the customer cancelled the order' },
    });
    expect(aborted.status).toBe(200);
    gate.open();
    const done = await waitFor<SagaAdminView | undefined>(
      async () => {
        const current = await view(saga.gid);
        return current.transaction.status === 'compensated' ? current : undefined;
      },
      { timeoutMs: 10_000, what: 'the saga compensated' },
    );
    if (!done) throw new Error('unreachable: waitFor returns a value');
    expect(done.branches.map((b) => b.status)).toEqual(['compensated', 'compensated', 'compensated']);
    // c never ran (its prerequisites were in flight); a and b ran or may have: each compensated once, a held action blocked or undone.
    expect(await bank.effects(saga.gid, 'action', 'c')).toBe(0);
    for (const step of ['a', 'b']) {
      expect(await bank.effects(saga.gid, 'compensate', step)).toBe(await bank.effects(saga.gid, 'action', step));
    }
    expect(done.operator.actions['force-abort']).toMatch(/nothing to force/);
  });

  it('a pause while a step runs stops the saga after that step; resume runs the rest', async () => {
    const { dtx, bank } = env;
    const gate = bank.gate('action');
    const saga = dtx.saga().step('a', { url: bank.sagaUrl }).step('b', { url: bank.sagaUrl });
    await saga.submit({ wait: false });
    await gate.reached;
    const act = (action: string) =>
      adminCall(env.coordinator.url, 'POST', `/transactions/${saga.gid}/${action}`, { token: OPERATOR.token, body: { reason: 'checking the ledger' } });
    expect((await act('pause')).status).toBe(200);
    gate.open();
    const paused = await waitFor(
      async () => {
        const current = await view(saga.gid);
        return current.branches[0]?.status === 'succeeded' && current.transaction.status === 'running' ? current : undefined;
      },
      { timeoutMs: 10_000, what: 'step a recorded while paused' },
    );
    expect(paused?.operator.actions.resume).toBeNull();
    expect(
      (
        await adminCall<{ transaction: { paused: boolean; nextRetryAt: string | null } }>(env.coordinator.url, 'GET', `/transactions/${saga.gid}`, {
          token: OPERATOR.token,
        })
      ).body.transaction,
    ).toMatchObject({
      paused: true,
      nextRetryAt: null,
    });
    expect(await bank.effects(saga.gid, 'action', 'b')).toBe(0);
    expect(bank.received.action).toBeGreaterThanOrEqual(1);

    expect((await act('resume')).status).toBe(200);
    await waitFor(async () => (await view(saga.gid)).transaction.status === 'succeeded', { timeoutMs: 10_000, what: 'the saga succeeded after resume' });
    expect(await bank.appliedOrder(saga.gid)).toEqual(['action a', 'action b']);
  });

  it('refuses force-abort of a saga that succeeded, and says so in its view', async () => {
    const { dtx, bank } = env;
    const outcome = await dtx.saga().step('a', { url: bank.sagaUrl }).submit();
    expect(outcome.status).toBe('succeeded');
    const succeeded = await view(outcome.gid);
    expect(succeeded.operator.actions['force-abort']).toMatch(/every step succeeded/);
    expect(succeeded.operator.resolve).toBeNull();
    const refused = await adminCall(env.coordinator.url, 'POST', `/transactions/${outcome.gid}/force-abort`, {
      token: OPERATOR.token,
      body: { reason: 'too late' },
    });
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ code: 'ILLEGAL_STATE', status: 'succeeded' });
  });
});
