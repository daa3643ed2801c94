/**
 * Transactional messages on the coordinator alone (stub endpoints stand in
 * for the sender's check-back and the receivers): prepare, submit and
 * delivery until each receiver accepted; abort; the check-back deciding a
 * message whose sender never submitted; delivery held until its time.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { MESSAGE_SENDER_BRANCH } from '../../protocol/index.ts';
import { startInProcessCoordinator, testEnv, TEST_API_HEADERS, type InProcessCoordinator } from '../support/coordinator-harness.ts';
import { createTestDatabase, uniqueRedisPrefix, type TestDatabase } from '../support/databases.ts';
import { startStubParticipant, type StubParticipant } from '../support/stub-participant.ts';
import { waitFor } from '../../tools/wait.ts';

interface MessageView {
  transaction: { status: string; reason: string | null; decidedBy: string | null; notBefore: string | null; needsAttention: boolean };
  branches: { branchId: string; status: string; attempts: number }[];
  events: {
    kind: string;
    fromStatus: string | null;
    toStatus: string | null;
    branchId: string | null;
    op: string | null;
    outcome: string | null;
    actor: string | null;
  }[];
}

describe('transactional messages on the coordinator', () => {
  let db: TestDatabase;
  let coordinator: InProcessCoordinator;
  let receivers: StubParticipant;
  let sender: StubParticipant;
  let n = 0;

  const call = async (method: 'GET' | 'POST', path: string, body?: unknown) => {
    const response = await fetch(`${coordinator.url}${path}`, {
      method,
      headers: { ...TEST_API_HEADERS, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      // A number beyond 2^53 written out as such: the payload must reach the receiver byte for byte.
      body: body === undefined ? undefined : JSON.stringify(body).replace('"__BIG__"', '12345678901234567890'),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const view = async (gid: string) => (await call('GET', `/v1/transactions/${gid}`)).body as unknown as MessageView;
  const until = (gid: string, status: string) =>
    waitFor(async () => ((await view(gid)).transaction.status === status ? view(gid) : undefined), { what: `message ${gid} ${status}`, timeoutMs: 10_000 });
  const prepare = (gid: string, extra: Record<string, unknown> = {}) =>
    call('POST', '/v1/messages', {
      gid,
      checkUrl: `${sender.resourceUrl}/check`,
      branches: [
        { id: 'notify', url: `${receivers.resourceUrl}/deliver`, payload: { to: 'alice', n: '__BIG__' } },
        { id: 'audit', url: `${receivers.resourceUrl}/deliver` },
      ],
      ...extra,
    });
  const newGid = () => `msg-${Date.now()}-${++n}`;

  beforeAll(async () => {
    db = await createTestDatabase(inject('mysqlUrl'), 'msgcoord');
    coordinator = await startInProcessCoordinator(testEnv(db.url, inject('redisUrl'), uniqueRedisPrefix('msgcoord'), { DTX_ATTENTION_AFTER_MS: '1000' }));
    receivers = await startStubParticipant();
    sender = await startStubParticipant();
  });
  beforeEach(() => {
    receivers.answer(() => 200);
    sender.answer(() => 200);
  });
  afterAll(async () => {
    await sender?.close();
    await receivers?.close();
    await coordinator?.stop();
    await db?.drop();
  });

  it('prepared, then submitted: every receiver gets the payload as sent; a re-sent prepare is answered with where it stands', async () => {
    const gid = newGid();
    const prepared = await prepare(gid);
    expect(prepared).toMatchObject({ status: 201, body: { gid, status: 'prepared', created: true } });
    expect(receivers.calls.filter((c) => c.headers['dtx-gid'] === gid)).toEqual([]);

    const submitted = await call('POST', `/v1/transactions/${gid}/submit`, {});
    expect(submitted.body).toMatchObject({ gid, status: 'delivered' });
    const delivered = receivers.calls.filter((c) => c.headers['dtx-gid'] === gid);
    expect(delivered.map((c) => [c.headers['dtx-branch-id'], c.headers['dtx-op'], c.body]).sort()).toEqual([
      ['audit', 'deliver', 'null'],
      ['notify', 'deliver', '{"to":"alice","n":12345678901234567890}'],
    ]);
    expect((await prepare(gid)).body).toMatchObject({ status: 'delivered', created: false });
    const other = await call('POST', '/v1/messages', {
      gid,
      checkUrl: `${sender.resourceUrl}/check`,
      branches: [{ id: 'x', url: `${receivers.resourceUrl}/deliver` }],
    });
    expect(other).toMatchObject({ status: 409, body: { code: 'GID_CONFLICT' } });
    expect(sender.calls.filter((c) => c.headers['dtx-gid'] === gid)).toEqual([]);
  });

  it('a receiver failing is retried until it accepts; a refusal is flagged', async () => {
    const gid = newGid();
    let failures = 0;
    receivers.answer((c) => (c.headers['dtx-branch-id'] === 'notify' && failures++ < 3 ? (failures === 1 ? 409 : 500) : 200));
    await prepare(gid);
    await call('POST', `/v1/transactions/${gid}/submit`, { waitMs: 0 });
    const done = await until(gid, 'delivered');
    expect(done?.branches.map((b) => [b.branchId, b.status])).toEqual([
      ['notify', 'delivered'],
      ['audit', 'delivered'],
    ]);
    expect(done?.events.some((e) => e.kind === 'attention')).toBe(true);
  });

  it('aborted by its sender, whose check-back says it never committed: nothing is delivered, and a late submit is refused', async () => {
    const gid = newGid();
    sender.answer((c) => (c.headers['dtx-gid'] === gid ? 409 : 200));
    await prepare(gid);
    expect((await call('POST', `/v1/transactions/${gid}/abort`, { reason: 'local transaction failed' })).body).toMatchObject({ status: 'aborted' });
    // The abort was decided by the sender's own record, asked first.
    expect(sender.calls.filter((c) => c.headers['dtx-gid'] === gid).map((c) => c.headers['dtx-op'])).toEqual(['check']);
    expect((await view(gid)).transaction.reason).toContain('check-back: the initiator never committed');
    expect((await call('POST', `/v1/transactions/${gid}/submit`, {})).body).toMatchObject({ code: 'ILLEGAL_STATE', status: 'aborted' });
    expect(receivers.calls.filter((c) => c.headers['dtx-gid'] === gid)).toEqual([]);
    expect((await view(gid)).branches.map((b) => b.status)).toEqual(['dropped', 'dropped']);
  });

  it('an abort of a message whose check-back says it committed is refused 409 ILLEGAL_STATE, and the message is delivered', async () => {
    const gid = newGid();
    await prepare(gid);
    expect(await call('POST', `/v1/transactions/${gid}/abort`, { reason: 'changed my mind', waitMs: 5_000 })).toMatchObject({
      status: 409,
      body: { code: 'ILLEGAL_STATE' },
    });
    expect((await until(gid, 'delivered'))?.transaction.reason).toContain('check-back: the initiator committed');
    expect(receivers.calls.filter((c) => c.headers['dtx-gid'] === gid)).toHaveLength(2);
  });

  it('an abort of a message whose check-back does not answer leaves it prepared (200, status prepared), for the check-back at its deadline', async () => {
    const gid = newGid();
    sender.answer((c) => (c.headers['dtx-gid'] === gid ? 500 : 200));
    await prepare(gid);
    expect(await call('POST', `/v1/transactions/${gid}/abort`, { reason: 'local transaction failed' })).toMatchObject({
      status: 200,
      body: { gid, status: 'prepared' },
    });
    expect((await view(gid)).transaction).toMatchObject({ status: 'prepared', needsAttention: false });
    expect(receivers.calls.filter((c) => c.headers['dtx-gid'] === gid)).toEqual([]);
  });

  it.each([
    [200, 'delivered', 'check-back: the initiator committed'],
    [409, 'aborted', 'check-back: the initiator never committed'],
  ])('never submitted: the check-back answering %i decides it (%s)', async (answer, outcome, reason) => {
    const gid = newGid();
    let asked = 0;
    sender.answer((c) => (c.headers['dtx-gid'] === gid && asked++ === 0 ? 500 : answer));
    await prepare(gid, { timeoutMs: 200 });
    const done = await until(gid, outcome);
    expect(done?.transaction).toMatchObject({ reason, decidedBy: 'check-back' });
    const checks = sender.calls.filter((c) => c.headers['dtx-gid'] === gid);
    // Asked again after an answer that said nothing.
    expect(checks.length).toBeGreaterThanOrEqual(2);
    expect(checks.map((c) => [c.headers['dtx-op'], c.headers['dtx-branch-id'], c.body])[0]).toEqual(['check', MESSAGE_SENDER_BRANCH, '{}']);
    expect(receivers.calls.filter((c) => c.headers['dtx-gid'] === gid).length).toBe(outcome === 'delivered' ? 2 : 0);
  });

  it('delivered no earlier than deliverAt', async () => {
    const gid = newGid();
    const deliverAt = new Date(Date.now() + 1_000);
    await prepare(gid, { deliverAt: deliverAt.toISOString() });
    expect((await call('POST', `/v1/transactions/${gid}/submit`, { waitMs: 0 })).body).toMatchObject({ status: 'submitted' });
    const done = await until(gid, 'delivered');
    expect(done?.transaction.notBefore).toBe(deliverAt.toISOString());
    const first = Math.min(...receivers.calls.filter((c) => c.headers['dtx-gid'] === gid).map((c) => c.at));
    expect(first).toBeGreaterThanOrEqual(deliverAt.getTime());
  });

  it.each<[string, Record<string, unknown>]>([
    ['no receivers', { branches: [] }],
    ['no checkUrl', { checkUrl: undefined }],
    ['a checkUrl that is not http', { checkUrl: 'ftp://x.test/check' }],
    ['deliverAt not a time', { deliverAt: 'tomorrow' }],
    ['a receiver named sender (the check-back goes by that id)', { branches: [{ id: 'sender', url: 'http://127.0.0.1:9/dtx/r/deliver' }] }],
  ])('bad input: %s → 400, nothing prepared', async (_what, fields) => {
    const gid = newGid();
    const reply = await prepare(gid, fields);
    expect(reply.status).toBe(400);
    expect(reply.body).toMatchObject({ code: expect.any(String), message: expect.any(String) });
    expect((await call('GET', `/v1/transactions/${gid}`)).status).toBe(404);
  });

  it('a message begun at POST /v1/transactions is refused: it is prepared at /v1/messages', async () => {
    const gid = newGid();
    expect(await call('POST', '/v1/transactions', { gid, mode: 'msg' })).toMatchObject({ status: 400, body: { code: 'UNSUPPORTED_MODE' } });
    expect((await call('GET', `/v1/transactions/${gid}`)).status).toBe(404);
  });

  it('a check-back that never answers is asked again, and raised to an operator once the attention age has passed', async () => {
    const gid = newGid();
    sender.answer(() => 503);
    await prepare(gid, { timeoutMs: 100 });
    const flagged = await waitFor(
      async () => {
        const current = await view(gid);
        return current.transaction.needsAttention ? current : undefined;
      },
      { what: 'the unanswered check-back flagged', timeoutMs: 15_000 },
    );
    expect(flagged?.transaction.status).toBe('prepared');
    expect(flagged?.events.filter((e) => e.kind === 'attention')).toHaveLength(1);
    expect(sender.calls.filter((c) => c.headers['dtx-gid'] === gid).length).toBeGreaterThanOrEqual(2);
    // Answered at last: decided as usual.
    sender.answer(() => 409);
    await until(gid, 'aborted');
  });
});
