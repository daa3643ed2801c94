/**
 * XA transactions on the coordinator alone (stub endpoints stand in for the
 * participants' XA resources): begun in mode `xa` with commit and rollback
 * URLs, submitted → every branch committed; aborted, or left past its
 * deadline → every branch rolled back; phase two retried until each branch
 * answered; the API speaks XA's words; TCC and XA branches never mix.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { startInProcessCoordinator, testEnv, TEST_API_HEADERS, type InProcessCoordinator } from '../support/coordinator-harness.ts';
import { createTestDatabase, uniqueRedisPrefix, type TestDatabase } from '../support/databases.ts';
import { startStubParticipant, type StubParticipant } from '../support/stub-participant.ts';
import { waitFor } from '../../tools/wait.ts';

interface XaView {
  transaction: { mode: string; status: string; reason: string | null };
  branches: { branchId: string; status: string; commitUrl?: string; rollbackUrl?: string; attempts: number; xid?: string }[];
}

describe('XA transactions on the coordinator', () => {
  let db: TestDatabase;
  let coordinator: InProcessCoordinator;
  let participant: StubParticipant;
  let n = 0;

  const call = async (method: 'GET' | 'POST', path: string, body?: unknown) => {
    const response = await fetch(`${coordinator.url}${path}`, {
      method,
      headers: { ...TEST_API_HEADERS, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const view = async (gid: string) => (await call('GET', `/v1/transactions/${gid}`)).body as unknown as XaView;
  const until = (gid: string, status: string) =>
    waitFor(async () => ((await view(gid)).transaction.status === status ? view(gid) : undefined), { what: `xa ${gid} ${status}`, timeoutMs: 10_000 });
  const branch = (id: string) => ({
    branchId: id,
    commitUrl: `${participant.resourceUrl}/commit`,
    rollbackUrl: `${participant.resourceUrl}/rollback`,
    payload: { id },
  });
  const callsOf = (gid: string) => participant.calls.filter((c) => c.headers['dtx-gid'] === gid).map((c) => `${c.op} ${String(c.headers['dtx-branch-id'])}`);
  const newGid = () => `xa-${Date.now()}-${++n}`;

  beforeAll(async () => {
    db = await createTestDatabase(inject('mysqlUrl'), 'xacoord');
    coordinator = await startInProcessCoordinator(testEnv(db.url, inject('redisUrl'), uniqueRedisPrefix('xacoord')));
    participant = await startStubParticipant();
  });
  beforeEach(() => participant.answer(() => 200));
  afterAll(async () => {
    await participant?.close();
    await coordinator?.stop();
    await db?.drop();
  });

  it('begun preparing, submitted: every branch committed once, in XA words; a re-sent submit answers committed', async () => {
    const gid = newGid();
    const begun = await call('POST', '/v1/transactions', { gid, mode: 'xa', timeoutMs: 30_000, branches: [branch('b1')] });
    expect(begun).toMatchObject({ status: 201, body: { gid, status: 'preparing', created: true } });
    expect((await call('POST', `/v1/transactions/${gid}/branches`, { branches: [branch('b2')] })).status).toBe(200);
    const submitted = await call('POST', `/v1/transactions/${gid}/submit`, { waitMs: 5_000 });
    expect(submitted).toMatchObject({ status: 200, body: { status: 'committed' } });
    expect(callsOf(gid).sort()).toEqual(['commit b1', 'commit b2']);
    const done = await view(gid);
    expect(done.transaction).toMatchObject({ mode: 'xa', status: 'committed' });
    expect(done.branches.map((b) => [b.branchId, b.status, b.commitUrl, b.rollbackUrl])).toEqual([
      ['b1', 'committed', `${participant.resourceUrl}/commit`, `${participant.resourceUrl}/rollback`],
      ['b2', 'committed', `${participant.resourceUrl}/commit`, `${participant.resourceUrl}/rollback`],
    ]);
    // Each branch's xid, as its participant's database names it (hex of the gid and the branch id, dtx's format id).
    const hex = (text: string) => Buffer.from(text, 'ascii').toString('hex');
    expect(done.branches.map((b) => b.xid)).toEqual([`X'${hex(gid)}',X'${hex('b1')}',6583416`, `X'${hex(gid)}',X'${hex('b2')}',6583416`]);
    expect(await call('POST', `/v1/transactions/${gid}/submit`, {})).toMatchObject({ status: 200, body: { status: 'committed' } });
    expect(callsOf(gid)).toHaveLength(2);
  });

  it('aborted while preparing: every branch rolled back; a late submit is refused with its XA status', async () => {
    const gid = newGid();
    await call('POST', '/v1/transactions', { gid, mode: 'xa', timeoutMs: 30_000, branches: [branch('b1'), branch('b2')] });
    expect(await call('POST', `/v1/transactions/${gid}/abort`, { reason: 'prepare failed', waitMs: 5_000 })).toMatchObject({
      status: 200,
      body: { status: 'rolled-back' },
    });
    expect(callsOf(gid).sort()).toEqual(['rollback b1', 'rollback b2']);
    const late = await call('POST', `/v1/transactions/${gid}/submit`, {});
    expect(late).toMatchObject({ status: 409, body: { code: 'ILLEGAL_STATE', status: 'rolled-back' } });
    expect(String(late.body['message'])).toMatch(/rolled-back: it was aborted \(prepare failed\)/);
  });

  it('left preparing past its deadline: rolled back by recovery', async () => {
    const gid = newGid();
    await call('POST', '/v1/transactions', { gid, mode: 'xa', timeoutMs: 300, branches: [branch('b1')] });
    const done = (await until(gid, 'rolled-back'))!;
    expect(done.transaction.reason).toMatch(/deadline|timeout/);
    expect(callsOf(gid)).toEqual(['rollback b1']);
  });

  it('a commit answered 500 then 200 is retried until it succeeds; the decision is never reversed by an abort', async () => {
    const gid = newGid();
    let failures = 0;
    participant.answer((c) => (c.headers['dtx-gid'] === gid && ++failures <= 2 ? 500 : 200));
    await call('POST', '/v1/transactions', { gid, mode: 'xa', timeoutMs: 30_000, branches: [branch('b1')] });
    const submitted = await call('POST', `/v1/transactions/${gid}/submit`, { waitMs: 0 });
    expect(submitted.status).toBe(200);
    const aborted = await call('POST', `/v1/transactions/${gid}/abort`, {});
    expect(aborted).toMatchObject({ status: 409, body: { code: 'ILLEGAL_STATE' } });
    expect(String(aborted.body['message'])).toMatch(/the commit decision is logged and cannot be reversed/);
    const done = (await until(gid, 'committed'))!;
    expect(done.branches[0]).toMatchObject({ status: 'committed' });
    expect(callsOf(gid)).toEqual(['commit b1', 'commit b1', 'commit b1']);
  });

  it('XA and TCC branches never mix: a TCC transaction refuses XA branches and the reverse', async () => {
    const tcc = newGid();
    await call('POST', '/v1/transactions', { gid: tcc, timeoutMs: 30_000 });
    // Registered as XA: the transaction is TCC. Registered without a mode: the log's mode (TCC) wants other operations.
    expect(await call('POST', `/v1/transactions/${tcc}/branches`, { mode: 'xa', branches: [branch('b1')] })).toMatchObject({
      status: 409,
      body: { code: 'ILLEGAL_STATE' },
    });
    expect(await call('POST', `/v1/transactions/${tcc}/branches`, { branches: [branch('b1')] })).toMatchObject({
      status: 400,
      body: { code: 'INVALID_OPERATIONS' },
    });
    expect((await view(tcc)).branches).toEqual([]);
    const xa = newGid();
    await call('POST', '/v1/transactions', { gid: xa, mode: 'xa', timeoutMs: 30_000 });
    const tccBranch = { branchId: 'b1', confirmUrl: `${participant.resourceUrl}/confirm`, cancelUrl: `${participant.resourceUrl}/cancel` };
    expect(await call('POST', `/v1/transactions/${xa}/branches`, { mode: 'tcc', branches: [tccBranch] })).toMatchObject({
      status: 409,
      body: { code: 'ILLEGAL_STATE' },
    });
    expect(await call('POST', `/v1/transactions/${xa}/branches`, { branches: [tccBranch] })).toMatchObject({
      status: 400,
      body: { code: 'INVALID_OPERATIONS' },
    });
    expect((await view(xa)).branches).toEqual([]);
  });
});
