/**
 * Bad input to every endpoint of the transaction API, against a real
 * coordinator on MySQL and Redis: every refusal is a 4xx JSON
 * `{code, message}` without a stack trace, and a refused request writes nothing.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { registrationProof } from '../../protocol/index.ts';
import { startInProcessCoordinator, testEnv, TEST_API_HEADERS, TEST_SECRET, type InProcessCoordinator } from '../support/coordinator-harness.ts';
import { createTestDatabase, uniqueRedisPrefix, type TestDatabase } from '../support/databases.ts';
import { waitFor } from '../../tools/wait.ts';

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';

interface Reply {
  status: number;
  text: string;
  contentType: string;
  json: () => Record<string, unknown>;
}

interface TransactionViewJson {
  transaction: { gid: string; status: string; reason: string | null };
  branches: { branchId: string; confirmUrl: string; cancelUrl: string; payload: unknown; status: string }[];
  events: { kind: string }[];
}

let db: TestDatabase;
let coordinator: InProcessCoordinator;
/** A participant stub that answers 200 to every confirm and cancel. */
let participant: Server;
let participantUrl: string;

beforeAll(async () => {
  db = await createTestDatabase(inject('mysqlUrl'), 'api_input');
  coordinator = await startInProcessCoordinator(testEnv(db.url, inject('redisUrl'), uniqueRedisPrefix('api-input')));
  participant = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  participant.listen(0, '127.0.0.1');
  await once(participant, 'listening');
  participantUrl = `http://127.0.0.1:${(participant.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await coordinator?.stop();
  if (participant?.listening) {
    participant.closeAllConnections();
    await new Promise<void>((resolve) => participant.close(() => resolve()));
  }
  await db?.drop();
});

const newGid = (label: string) => `${label}-${randomBytes(6).toString('hex')}`;

const branch = (branchId: string, payload: unknown = { amount: 1 }) => ({
  branchId,
  confirmUrl: `${participantUrl}/${branchId}/confirm`,
  cancelUrl: `${participantUrl}/${branchId}/cancel`,
  payload,
});

/**
 * The registration proof the coordinator hands the `tests` caller for its branch `branchId` of
 * `gid`: keyed with its key for the stub participant (the shared DTX_SECRET here).
 */
const proofOf = (gid: string, branchId: string) => registrationProof(TEST_SECRET, { gid, branchId, caller: 'tests' });

async function call(method: Method, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  const response = await coordinator.coordinator.app.inject({
    method,
    url,
    headers: { ...TEST_API_HEADERS, ...headers },
    ...(body === undefined ? {} : typeof body === 'string' || Buffer.isBuffer(body) ? { payload: body } : { payload: body as object }),
  });
  return {
    status: response.statusCode,
    text: response.body,
    contentType: String(response.headers['content-type'] ?? ''),
    json: () => JSON.parse(response.body) as Record<string, unknown>,
  };
}

/** Asserts the reply is a JSON error `{code, message}` with `status`, `code` and no stack trace. */
function expectError(reply: Reply, status: number, code: string): Record<string, unknown> {
  expect({ status: reply.status, text: reply.text }).toMatchObject({ status });
  expect(reply.contentType).toContain('application/json');
  const body = reply.json();
  expect(typeof body.code).toBe('string');
  expect(typeof body.message).toBe('string');
  expect(body.code).toBe(code);
  expect((body.message as string).length).toBeGreaterThan(0);
  expect(reply.text.includes('    at ')).toBe(false);
  expect(body).not.toHaveProperty('stack');
  return body;
}

async function begin(body: Record<string, unknown> = {}): Promise<string> {
  const gid = (body.gid as string | undefined) ?? newGid('t');
  const reply = await call('POST', '/v1/transactions', { gid, ...body });
  expect(reply.status, reply.text).toBe(201);
  return gid;
}

async function view(gid: string): Promise<TransactionViewJson> {
  const reply = await call('GET', `/v1/transactions/${gid}`);
  expect(reply.status, reply.text).toBe(200);
  return reply.json() as unknown as TransactionViewJson;
}

/** Runs `refused`, then checks that the transaction's status, branches and history did not change. */
async function expectNothingWritten(gid: string, refused: () => Promise<void>): Promise<void> {
  const before = await view(gid);
  await refused();
  const after = await view(gid);
  expect(after.transaction.status).toBe(before.transaction.status);
  expect(after.transaction.reason).toBe(before.transaction.reason);
  expect(after.branches).toEqual(before.branches);
  expect(after.events.length).toBe(before.events.length);
}

async function expectNoTransaction(gid: string): Promise<void> {
  expectError(await call('GET', `/v1/transactions/${gid}`), 404, 'NOT_FOUND');
}

const long = (n: number, char = 'a') => char.repeat(n);

describe('invalid gid', () => {
  const badGids = ['has space', 'a/b', 'a:b', 'ünï', 'a#b', long(129)];

  it.each(badGids)('in the begin body (%j) → 400 INVALID_REQUEST, nothing created', async (gid) => {
    expectError(await call('POST', '/v1/transactions', { gid }), 400, 'INVALID_REQUEST');
  });

  it('empty gid in the begin body → 400', async () => {
    expectError(await call('POST', '/v1/transactions', { gid: '' }), 400, 'INVALID_REQUEST');
  });

  it('a 128-char gid is accepted, a 129-char one refused on every endpoint', async () => {
    const gid128 = `${randomBytes(4).toString('hex')}${long(120)}`;
    expect(gid128).toHaveLength(128);
    const ok = await call('POST', '/v1/transactions', { gid: gid128 });
    expect(ok.status, ok.text).toBe(201);
    expect((await view(gid128)).transaction.gid).toBe(gid128);

    const gid129 = `${gid128}a`;
    expectError(await call('POST', '/v1/transactions', { gid: gid129 }), 400, 'INVALID_REQUEST');
    expectError(await call('POST', `/v1/transactions/${gid129}/branches`, { branches: [branch('b1')] }), 400, 'INVALID_REQUEST');
    expectError(await call('POST', `/v1/transactions/${gid129}/submit`, {}), 400, 'INVALID_REQUEST');
    expectError(await call('POST', `/v1/transactions/${gid129}/abort`, {}), 400, 'INVALID_REQUEST');
    expectError(await call('GET', `/v1/transactions/${gid129}`), 400, 'INVALID_REQUEST');
  });

  it.each(['a%20b', 'a%2Fb', 'a:b', '%E2%82%AC', 'a%0Ab', 'a*b'])('in the path (%s) → 400 on every endpoint', async (gid) => {
    expectError(await call('POST', `/v1/transactions/${gid}/branches`, { branches: [branch('b1')] }), 400, 'INVALID_REQUEST');
    expectError(await call('POST', `/v1/transactions/${gid}/submit`, {}), 400, 'INVALID_REQUEST');
    expectError(await call('POST', `/v1/transactions/${gid}/abort`, {}), 400, 'INVALID_REQUEST');
    expectError(await call('GET', `/v1/transactions/${gid}`), 400, 'INVALID_REQUEST');
  });

  it('a very long gid in the path (1000 chars) → 4xx JSON error, no stack', async () => {
    for (const reply of [await call('GET', `/v1/transactions/${long(1000)}`), await call('POST', `/v1/transactions/${long(1000)}/submit`, {})]) {
      expect(reply.status).toBeGreaterThanOrEqual(400);
      expect(reply.status).toBeLessThan(500);
      const body = reply.json();
      expect(typeof body.code).toBe('string');
      expect(typeof body.message).toBe('string');
      expect(reply.text.includes('    at ')).toBe(false);
    }
  });

  it('a malformed percent-encoding in the path → 400 JSON error', async () => {
    const reply = await call('GET', '/v1/transactions/%zz');
    expect(reply.status).toBe(400);
    const body = reply.json();
    expect(typeof body.code).toBe('string');
    expect(typeof body.message).toBe('string');
    expect(reply.text.includes('    at ')).toBe(false);
  });
});

describe('begin: POST /v1/transactions', () => {
  it('unknown field → 400, nothing created', async () => {
    const gid = newGid('unk');
    expectError(await call('POST', '/v1/transactions', { gid, color: 'red' }), 400, 'INVALID_REQUEST');
    await expectNoTransaction(gid);
  });

  it('unknown field inside a branch → 400, nothing created', async () => {
    const gid = newGid('unkb');
    expectError(await call('POST', '/v1/transactions', { gid, branches: [{ ...branch('b1'), url: 'http://x.test' }] }), 400, 'INVALID_REQUEST');
    await expectNoTransaction(gid);
  });

  it.each<[string, Record<string, unknown>]>([
    ['gid as a number', { gid: 12345 }],
    ['timeoutMs as a string', { timeoutMs: '1000' }],
    ['timeoutMs as a float', { timeoutMs: 1000.5 }],
    ['timeoutMs as a boolean', { timeoutMs: true }],
    ['mode unknown', { mode: 'xb' }],
    ['mode as a number', { mode: 1 }],
    ['branches as an object', { branches: { b1: 'x' } }],
    ['branches holding a string', { branches: ['b1'] }],
    ['branchId as a number', { branches: [{ branchId: 1, confirmUrl: 'http://x.test/c', cancelUrl: 'http://x.test/c' }] }],
  ])('wrong type: %s → 400, nothing created', async (_what, fields) => {
    const gid = typeof fields.gid === 'number' ? String(fields.gid) : newGid('wt');
    expectError(await call('POST', '/v1/transactions', { gid, ...fields }), 400, 'INVALID_REQUEST');
    await expectNoTransaction(gid);
  });

  it.each<[string, Record<string, unknown>]>([
    ['a TCC branch without cancelUrl', { branches: [{ branchId: 'b1', confirmUrl: 'http://x.test/c' }] }],
    ['an XA branch without rollbackUrl', { mode: 'xa', branches: [{ branchId: 'b1', commitUrl: 'http://x.test/c' }] }],
    [
      'a branch naming TCC and XA operations',
      { branches: [{ branchId: 'b1', confirmUrl: 'http://x.test/c', cancelUrl: 'http://x.test/c', commitUrl: 'http://x.test/c' }] },
    ],
    ['XA operations in a TCC transaction', { mode: 'tcc', branches: [{ branchId: 'b1', commitUrl: 'http://x.test/c', rollbackUrl: 'http://x.test/r' }] }],
    ['TCC operations in an XA transaction', { mode: 'xa', branches: [{ branchId: 'b1', confirmUrl: 'http://x.test/c', cancelUrl: 'http://x.test/r' }] }],
  ])('operations the mode does not have: %s → 400 INVALID_OPERATIONS, nothing created', async (_what, fields) => {
    const gid = newGid('ops');
    const body = expectError(await call('POST', '/v1/transactions', { gid, ...fields }), 400, 'INVALID_OPERATIONS');
    expect(body.message).toMatch(/branches\[0\] names the operations/);
    await expectNoTransaction(gid);
  });

  it.each<[string, string]>([
    ['an array', '[]'],
    ['a string', '"hello"'],
    ['a number', '42'],
  ])('a JSON body that is %s → 400', async (_what, raw) => {
    expectError(await call('POST', '/v1/transactions', raw, { 'content-type': 'application/json' }), 400, 'INVALID_REQUEST');
  });

  it('non-JSON body with a JSON content type → 400 INVALID_JSON', async () => {
    expectError(await call('POST', '/v1/transactions', '{"gid": "x",', { 'content-type': 'application/json' }), 400, 'INVALID_JSON');
    expectError(await call('POST', '/v1/transactions', 'gid=x', { 'content-type': 'application/json' }), 400, 'INVALID_JSON');
  });

  it('a body of another media type → 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    expectError(await call('POST', '/v1/transactions', 'gid=x', { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expectError(await call('POST', '/v1/transactions', '{}', { 'content-type': 'application/xml' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('a text/plain body → 415 UNSUPPORTED_MEDIA_TYPE, nothing created', async () => {
    const gid = newGid('text');
    expectError(await call('POST', '/v1/transactions', JSON.stringify({ gid }), { 'content-type': 'text/plain' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    await expectNoTransaction(gid);
  });

  it('a body nesting deeper than 256 levels → 400 JSON_TOO_DEEP, nothing created', async () => {
    const gid = newGid('deep');
    const payload = `${'['.repeat(50_000)}${']'.repeat(50_000)}`;
    const body = `{"gid":"${gid}","branches":[{"branchId":"b1","confirmUrl":"${participantUrl}/c","cancelUrl":"${participantUrl}/x","payload":${payload}}]}`;
    expectError(await call('POST', '/v1/transactions', body, { 'content-type': 'application/json' }), 400, 'JSON_TOO_DEEP');
    await expectNoTransaction(gid);
  });

  it('body over 1 MiB → 413 BODY_TOO_LARGE, nothing created', async () => {
    const gid = newGid('big');
    const body = JSON.stringify({ gid, branches: [branch('b1', long(1024 * 1024))] });
    expectError(await call('POST', '/v1/transactions', body, { 'content-type': 'application/json' }), 413, 'BODY_TOO_LARGE');
    await expectNoTransaction(gid);
  });

  it('a payload just under 1 MiB is accepted and stored whole', async () => {
    const gid = newGid('nearbig');
    const payload = { blob: long(1000 * 1000, 'x') };
    const reply = await call('POST', '/v1/transactions', { gid, branches: [branch('b1', payload)] });
    expect(reply.status, reply.text).toBe(201);
    const stored = await view(gid);
    expect(stored.branches).toHaveLength(1);
    expect(stored.branches[0]?.payload).toEqual(payload);
  });

  it.each([0, -1, -60_000])('timeoutMs %i → 400, nothing created', async (timeoutMs) => {
    const gid = newGid('to');
    expectError(await call('POST', '/v1/transactions', { gid, timeoutMs }), 400, 'INVALID_REQUEST');
    await expectNoTransaction(gid);
  });

  it('timeoutMs above the maximum → 400; exactly the maximum → 201', async () => {
    const max = coordinator.config.maxTimeoutMs;
    const over = newGid('tomax');
    expectError(await call('POST', '/v1/transactions', { gid: over, timeoutMs: max + 1 }), 400, 'INVALID_REQUEST');
    await expectNoTransaction(over);
    const huge = newGid('tohuge');
    expectError(await call('POST', '/v1/transactions', { gid: huge, timeoutMs: Number.MAX_SAFE_INTEGER }), 400, 'INVALID_REQUEST');
    await expectNoTransaction(huge);
    const atMax = newGid('toatmax');
    const reply = await call('POST', '/v1/transactions', { gid: atMax, timeoutMs: max });
    expect(reply.status, reply.text).toBe(201);
  });

  it('101 branches → 400, nothing created; 100 branches → 201 with 100 branches', async () => {
    const over = newGid('many');
    const branches101 = Array.from({ length: 101 }, (_, i) => branch(`b${i}`));
    expectError(await call('POST', '/v1/transactions', { gid: over, branches: branches101 }), 400, 'INVALID_REQUEST');
    await expectNoTransaction(over);

    const atMax = newGid('many100');
    const reply = await call('POST', '/v1/transactions', { gid: atMax, branches: branches101.slice(0, 100) });
    expect(reply.status, reply.text).toBe(201);
    expect((await view(atMax)).branches).toHaveLength(100);
  });

  it.each<[string, string]>([
    ['ftp scheme', 'ftp://bank.test/confirm'],
    ['no scheme', 'bank.test/confirm'],
    ['javascript scheme', 'javascript:alert(1)//xxxxxxxx'],
    ['file scheme', 'file:///etc/passwd'],
    ['whitespace inside', 'http://bank.test/con firm'],
    ['empty', ''],
    ['too long (2049 chars)', `http://bank.test/${long(2049 - 'http://bank.test/'.length)}`],
  ])('bad confirm URL (%s) → 400, nothing created', async (_what, url) => {
    const gid = newGid('url');
    expectError(await call('POST', '/v1/transactions', { gid, branches: [{ ...branch('b1'), confirmUrl: url }] }), 400, 'INVALID_REQUEST');
    expectError(await call('POST', '/v1/transactions', { gid, branches: [{ ...branch('b1'), cancelUrl: url }] }), 400, 'INVALID_REQUEST');
    await expectNoTransaction(gid);
  });

  it('a 2048-char URL is accepted and stored whole', async () => {
    const gid = newGid('url2048');
    const url = `${participantUrl}/${long(2048 - participantUrl.length - 1)}`;
    expect(url).toHaveLength(2048);
    const reply = await call('POST', '/v1/transactions', { gid, branches: [{ ...branch('b1'), confirmUrl: url }] });
    expect(reply.status, reply.text).toBe(201);
    expect((await view(gid)).branches[0]?.confirmUrl).toBe(url);
  });

  it('a URL with an encoded "/" in its path → 400 INVALID_URL naming the field, nothing created', async () => {
    const gid = newGid('encsep');
    const confirmUrl = `${participantUrl}/dtx/..%2Fadmin`;
    const body = expectError(await call('POST', '/v1/transactions', { gid, branches: [{ ...branch('b1'), confirmUrl }] }), 400, 'INVALID_URL');
    expect(body.message).toContain('branches[0].confirmUrl');
    await expectNoTransaction(gid);
  });

  it.each([
    ['65 chars', long(65)],
    ['empty', ''],
    ['bad charset', 'b 1'],
    ['slash', 'b/1'],
  ])('bad branchId (%s) → 400, nothing created', async (_what, branchId) => {
    const gid = newGid('bid');
    expectError(await call('POST', '/v1/transactions', { gid, branches: [{ ...branch('b1'), branchId }] }), 400, 'INVALID_REQUEST');
    await expectNoTransaction(gid);
  });

  it('a 64-char branchId is accepted', async () => {
    const gid = newGid('bid64');
    const reply = await call('POST', '/v1/transactions', { gid, branches: [branch(long(64, 'b'))] });
    expect(reply.status, reply.text).toBe(201);
    expect((await view(gid)).branches.map((b) => b.branchId)).toEqual([long(64, 'b')]);
  });

  it('duplicate branch ids with different endpoints in one begin → 409 BRANCH_CONFLICT, nothing created', async () => {
    const gid = newGid('dupb');
    const reply = await call('POST', '/v1/transactions', {
      gid,
      branches: [branch('b1'), { ...branch('b1'), cancelUrl: `${participantUrl}/elsewhere` }],
    });
    expectError(reply, 409, 'BRANCH_CONFLICT');
    await expectNoTransaction(gid);
  });

  it('duplicate equal branches in one begin are registered once', async () => {
    const gid = newGid('dupeq');
    const reply = await call('POST', '/v1/transactions', { gid, branches: [branch('b1'), branch('b1'), branch('b2')] });
    expect(reply.status, reply.text).toBe(201);
    expect((await view(gid)).branches.map((b) => b.branchId).sort()).toEqual(['b1', 'b2']);
  });

  it('a re-sent begin → 200 created:false, same deadline, nothing duplicated', async () => {
    const gid = newGid('again');
    const first = await call('POST', '/v1/transactions', { gid, branches: [branch('b1')] });
    expect(first.status).toBe(201);
    expect(first.json()).toMatchObject({ gid, status: 'trying', created: true });
    const before = await view(gid);

    const second = await call('POST', '/v1/transactions', { gid, branches: [branch('b1')] });
    expect(second.status, second.text).toBe(200);
    // `caller`: who the coordinator authenticated (the token's name), the name a DtxClient sends its tries as;
    // `proofs`: the branch's registration proof again, for an initiator whose first reply was lost.
    expect(second.json()).toEqual({
      gid,
      status: 'trying',
      deadlineAt: first.json().deadlineAt,
      created: false,
      caller: 'tests',
      proofs: { b1: proofOf(gid, 'b1') },
    });
    expect(second.json().proofs).toEqual(first.json().proofs);
    const bare = await call('POST', '/v1/transactions', { gid });
    expect(bare.status, bare.text).toBe(200);
    expect(bare.json()).toMatchObject({ gid, status: 'trying', created: false });

    const after = await view(gid);
    expect(after.branches).toEqual(before.branches);
    expect(after.events.length).toBe(before.events.length);
  });

  it('a re-sent begin with a conflicting branch → 409 BRANCH_CONFLICT, nothing written', async () => {
    const gid = await begin({ branches: [branch('b1')] });
    await expectNothingWritten(gid, async () => {
      const reply = await call('POST', '/v1/transactions', { gid, branches: [branch('b2'), branch('b1', { amount: 2 })] });
      expectError(reply, 409, 'BRANCH_CONFLICT');
    });
  });

  it('begin without a body works (generated gid, trying)', async () => {
    const reply = await call('POST', '/v1/transactions');
    expect(reply.status, reply.text).toBe(201);
    const body = reply.json();
    expect(body.created).toBe(true);
    expect(body.status).toBe('trying');
    expect(typeof body.gid).toBe('string');
    expect((await view(body.gid as string)).transaction.status).toBe('trying');
  });
});

describe('register: POST /v1/transactions/:gid/branches', () => {
  it('unknown gid → 404 NOT_FOUND, nothing created', async () => {
    const gid = newGid('nf');
    expectError(await call('POST', `/v1/transactions/${gid}/branches`, { branches: [branch('b1')] }), 404, 'NOT_FOUND');
    await expectNoTransaction(gid);
  });

  it.each<[string, unknown]>([
    ['no body', undefined],
    ['empty object', {}],
    ['empty branches', { branches: [] }],
    ['unknown field', { branches: [branch('b9')], extra: 1 }],
    ['branches as a string', { branches: 'b9' }],
    ['a 65-char branchId', { branches: [{ ...branch('b9'), branchId: long(65) }] }],
    ['a bad URL', { branches: [{ ...branch('b9'), confirmUrl: 'mailto:x@y.test' }] }],
    ['a too long URL', { branches: [{ ...branch('b9'), cancelUrl: `http://x.test/${long(2040)}` }] }],
    ['one good and one bad branch', { branches: [branch('b8'), { ...branch('b9'), branchId: 'b 9' }] }],
    ['101 branches', { branches: Array.from({ length: 101 }, (_, i) => branch(`n${i}`)) }],
  ])('bad body (%s) → 400, nothing written', async (_what, body) => {
    const gid = await begin({ branches: [branch('b1')] });
    await expectNothingWritten(gid, async () => {
      expectError(await call('POST', `/v1/transactions/${gid}/branches`, body), 400, 'INVALID_REQUEST');
    });
  });

  it('a branch without confirmUrl → 400 INVALID_OPERATIONS, nothing written', async () => {
    const gid = await begin({ branches: [branch('b1')] });
    await expectNothingWritten(gid, async () => {
      const body = { branches: [{ branchId: 'b9', cancelUrl: `${participantUrl}/b9/cancel` }] };
      expectError(await call('POST', `/v1/transactions/${gid}/branches`, body), 400, 'INVALID_OPERATIONS');
    });
  });

  it('an XA branch joining a TCC transaction → 409 ILLEGAL_STATE (400 INVALID_OPERATIONS when it names no mode), nothing written', async () => {
    const gid = await begin({ branches: [branch('b1')] });
    await expectNothingWritten(gid, async () => {
      const branches = [{ branchId: 'b9', commitUrl: `${participantUrl}/b9/commit`, rollbackUrl: `${participantUrl}/b9/rollback` }];
      const refusal = expectError(await call('POST', `/v1/transactions/${gid}/branches`, { mode: 'xa', branches }), 409, 'ILLEGAL_STATE');
      expect(refusal.message).toMatch(/is a tcc transaction: xa branches cannot join it/);
      // Named by no mode, the branches are read as the logged mode's: a TCC branch names confirm and cancel.
      const unnamed = expectError(await call('POST', `/v1/transactions/${gid}/branches`, { branches }), 400, 'INVALID_OPERATIONS');
      expect(unnamed.message).toMatch(/a tcc branch has confirm and cancel/);
    });
  });

  it('non-JSON body → 400 INVALID_JSON; over 1 MiB → 413; nothing written', async () => {
    const gid = await begin();
    await expectNothingWritten(gid, async () => {
      const headers = { 'content-type': 'application/json' };
      expectError(await call('POST', `/v1/transactions/${gid}/branches`, '{"branches": [', headers), 400, 'INVALID_JSON');
      const big = JSON.stringify({ branches: [branch('b1', long(1024 * 1024 + 1))] });
      expectError(await call('POST', `/v1/transactions/${gid}/branches`, big, headers), 413, 'BODY_TOO_LARGE');
    });
  });

  it('the same branch registered twice → registered [] the second time', async () => {
    const gid = await begin();
    const first = await call('POST', `/v1/transactions/${gid}/branches`, { branches: [branch('b1')] });
    expect(first.status, first.text).toBe(200);
    expect(first.json()).toEqual({ gid, status: 'trying', registered: ['b1'], caller: 'tests', proofs: { b1: proofOf(gid, 'b1') } });
    await expectNothingWritten(gid, async () => {
      const second = await call('POST', `/v1/transactions/${gid}/branches`, { branches: [branch('b1')] });
      expect(second.status, second.text).toBe(200);
      // A re-send by the caller that registered it: the same proof again (its first reply may have been lost).
      expect(second.json()).toEqual({ gid, status: 'trying', registered: [], caller: 'tests', proofs: { b1: proofOf(gid, 'b1') } });
    });
  });

  it.each<[string, Record<string, unknown>]>([
    ['confirmUrl', { confirmUrl: 'http://127.0.0.1:1/other/confirm' }],
    ['cancelUrl', { cancelUrl: 'http://127.0.0.1:1/other/cancel' }],
    ['payload', { payload: { amount: 2 } }],
  ])('the same branch with another %s → 409 BRANCH_CONFLICT, nothing written (not even the new branch beside it)', async (_what, change) => {
    const gid = await begin({ branches: [branch('b1')] });
    await expectNothingWritten(gid, async () => {
      const reply = await call('POST', `/v1/transactions/${gid}/branches`, { branches: [branch('b2'), { ...branch('b1'), ...change }] });
      expectError(reply, 409, 'BRANCH_CONFLICT');
    });
  });

  it('duplicate ids with different fields inside one request → 409 BRANCH_CONFLICT, nothing written', async () => {
    const gid = await begin();
    await expectNothingWritten(gid, async () => {
      const reply = await call('POST', `/v1/transactions/${gid}/branches`, { branches: [branch('b1'), branch('b1', 'other')] });
      expectError(reply, 409, 'BRANCH_CONFLICT');
    });
  });

  it('after submit → 409 ILLEGAL_STATE for a new branch, 200 registered [] for an equal re-send', async () => {
    const gid = await begin({ branches: [branch('b1')] });
    const submitted = await call('POST', `/v1/transactions/${gid}/submit`, { waitMs: 5_000 });
    expect(submitted.json()).toEqual({ gid, status: 'confirmed' });
    await expectNothingWritten(gid, async () => {
      expectError(await call('POST', `/v1/transactions/${gid}/branches`, { branches: [branch('b2')] }), 409, 'ILLEGAL_STATE');
      expectError(await call('POST', `/v1/transactions/${gid}/branches`, { branches: [branch('b1'), branch('b2')] }), 409, 'ILLEGAL_STATE');
      const again = await call('POST', `/v1/transactions/${gid}/branches`, { branches: [branch('b1')] });
      expect(again.status, again.text).toBe(200);
      expect(again.json()).toEqual({ gid, status: 'confirmed', registered: [], caller: 'tests', proofs: { b1: proofOf(gid, 'b1') } });
    });
  });

  it('after abort → 409 ILLEGAL_STATE', async () => {
    const gid = await begin();
    expect((await call('POST', `/v1/transactions/${gid}/abort`, { waitMs: 5_000 })).json()).toEqual({ gid, status: 'cancelled' });
    await expectNothingWritten(gid, async () => {
      expectError(await call('POST', `/v1/transactions/${gid}/branches`, { branches: [branch('b2')] }), 409, 'ILLEGAL_STATE');
    });
  });

  it('after the deadline → 409, and the transaction ends cancelled without the branch', async () => {
    const gid = await begin({ timeoutMs: 1, branches: [branch('b1')] });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const reply = await call('POST', `/v1/transactions/${gid}/branches`, { branches: [branch('b2')] });
    // The timeout sweep may have aborted it already: then it is no longer trying.
    const code = reply.json().code;
    expect(['DEADLINE_PASSED', 'ILLEGAL_STATE']).toContain(code);
    expectError(reply, 409, code as string);
    await waitFor(async () => (await view(gid)).transaction.status === 'cancelled', { what: `${gid} cancelled by the timeout` });
    expect((await view(gid)).branches.map((b) => [b.branchId, b.status])).toEqual([['b1', 'cancelled']]);
  });
});

describe('submit and abort', () => {
  for (const action of ['submit', 'abort'] as const) {
    describe(action, () => {
      it('unknown gid → 404 NOT_FOUND, nothing created', async () => {
        const gid = newGid('nf');
        expectError(await call('POST', `/v1/transactions/${gid}/${action}`, {}), 404, 'NOT_FOUND');
        expectError(await call('POST', `/v1/transactions/${gid}/${action}`), 404, 'NOT_FOUND');
        await expectNoTransaction(gid);
      });

      it.each<[string, unknown]>([
        ['reason over 512 chars', { reason: long(513) }],
        ['reason as a number', { reason: 5 }],
        ['waitMs over 60000', { waitMs: 60_001 }],
        ['waitMs negative', { waitMs: -1 }],
        ['waitMs as a float', { waitMs: 1.5 }],
        ['waitMs as a string', { waitMs: '100' }],
        ['unknown field', { force: true }],
        ['an array', []],
      ])('%s → 400, status unchanged', async (_what, body) => {
        const gid = await begin({ branches: [branch('b1')] });
        await expectNothingWritten(gid, async () => {
          expectError(await call('POST', `/v1/transactions/${gid}/${action}`, body), 400, 'INVALID_REQUEST');
        });
        expect((await view(gid)).transaction.status).toBe('trying');
      });

      it('non-JSON body → 400 INVALID_JSON; over 1 MiB → 413; status unchanged', async () => {
        const gid = await begin();
        await expectNothingWritten(gid, async () => {
          const headers = { 'content-type': 'application/json' };
          expectError(await call('POST', `/v1/transactions/${gid}/${action}`, '{reason:', headers), 400, 'INVALID_JSON');
          expectError(await call('POST', `/v1/transactions/${gid}/${action}`, JSON.stringify({ reason: long(1024 * 1024) }), headers), 413, 'BODY_TOO_LARGE');
        });
      });

      it('a 512-char reason and waitMs 60000 are accepted; the reason is stored', async () => {
        const gid = await begin({ branches: [branch('b1')] });
        const reason = long(512, 'r');
        const reply = await call('POST', `/v1/transactions/${gid}/${action}`, { reason, waitMs: 60_000 });
        expect(reply.status, reply.text).toBe(200);
        expect(reply.json()).toEqual({ gid, status: action === 'submit' ? 'confirmed' : 'cancelled' });
        expect((await view(gid)).transaction.reason).toBe(reason);
      });

      it('without a body works, and a re-send answers the same status', async () => {
        const gid = await begin({ branches: [branch('b1'), branch('b2')] });
        const final = action === 'submit' ? 'confirmed' : 'cancelled';
        const first = await call('POST', `/v1/transactions/${gid}/${action}`);
        expect(first.status, first.text).toBe(200);
        expect(['confirming', 'cancelling', final]).toContain(first.json().status);
        await waitFor(async () => (await view(gid)).transaction.status === final, { what: `${gid} ${final}` });
        const settled = await view(gid);
        expect(settled.branches.map((b) => b.status)).toEqual([final, final]);

        await expectNothingWritten(gid, async () => {
          for (const body of [undefined, {}, { waitMs: 0 }]) {
            const again = await call('POST', `/v1/transactions/${gid}/${action}`, body);
            expect(again.status, again.text).toBe(200);
            expect(again.json()).toEqual({ gid, status: final });
          }
        });
      });
    });
  }

  it('submit after abort → 409 ILLEGAL_STATE, stays cancelled', async () => {
    const gid = await begin({ branches: [branch('b1')] });
    expect((await call('POST', `/v1/transactions/${gid}/abort`, { reason: 'no', waitMs: 5_000 })).json()).toEqual({ gid, status: 'cancelled' });
    await expectNothingWritten(gid, async () => {
      expectError(await call('POST', `/v1/transactions/${gid}/submit`, {}), 409, 'ILLEGAL_STATE');
      expectError(await call('POST', `/v1/transactions/${gid}/submit`), 409, 'ILLEGAL_STATE');
    });
    expect((await view(gid)).transaction).toMatchObject({ status: 'cancelled', reason: 'no' });
  });

  it('abort after submit → 409 ILLEGAL_STATE, stays confirmed', async () => {
    const gid = await begin({ branches: [branch('b1')] });
    expect((await call('POST', `/v1/transactions/${gid}/submit`, { waitMs: 5_000 })).json()).toEqual({ gid, status: 'confirmed' });
    await expectNothingWritten(gid, async () => {
      expectError(await call('POST', `/v1/transactions/${gid}/abort`, { reason: 'too late' }), 409, 'ILLEGAL_STATE');
    });
    expect((await view(gid)).transaction.status).toBe('confirmed');
  });

  it('abort after submit while phase two is still running (confirming) → 409 ILLEGAL_STATE', async () => {
    // A branch whose participant is unreachable keeps the transaction confirming.
    const gid = await begin({ branches: [{ ...branch('b1'), confirmUrl: 'http://127.0.0.1:1/confirm', cancelUrl: 'http://127.0.0.1:1/cancel' }] });
    expect((await call('POST', `/v1/transactions/${gid}/submit`, { waitMs: 0 })).json()).toEqual({ gid, status: 'confirming' });
    expectError(await call('POST', `/v1/transactions/${gid}/abort`, {}), 409, 'ILLEGAL_STATE');
    expect((await view(gid)).transaction.status).toBe('confirming');
    // A re-sent submit answers the current status.
    expect((await call('POST', `/v1/transactions/${gid}/submit`, { waitMs: 0 })).json()).toEqual({ gid, status: 'confirming' });
  });

  it('submit after the deadline → 409, and the transaction ends cancelled', async () => {
    const gid = await begin({ timeoutMs: 1, branches: [branch('b1')] });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const reply = await call('POST', `/v1/transactions/${gid}/submit`, {});
    expect(reply.status, reply.text).toBe(409);
    // The timeout sweep may have aborted it first: then submit meets a cancelled transaction.
    const code = reply.json().code;
    expect(['DEADLINE_PASSED', 'ILLEGAL_STATE']).toContain(code);
    expectError(reply, 409, code as string);
    await waitFor(async () => (await view(gid)).transaction.status === 'cancelled', { what: `${gid} cancelled after its deadline` });
  });
});

describe('query: GET /v1/transactions/:gid', () => {
  it('unknown gid → 404 NOT_FOUND', async () => {
    expectError(await call('GET', `/v1/transactions/${newGid('nf')}`), 404, 'NOT_FOUND');
  });

  it('answers the transaction, its branches with parsed payloads, and its history', async () => {
    const gid = await begin({ branches: [branch('b1', { amount: 7, note: 'x' })] });
    const body = await view(gid);
    expect(body.transaction).toMatchObject({ gid, status: 'trying', reason: null });
    expect(body.branches).toHaveLength(1);
    expect(body.branches[0]).toMatchObject({ branchId: 'b1', payload: { amount: 7, note: 'x' }, status: 'prepared' });
    expect(body.events.map((e) => e.kind)).toEqual(['begin', 'register']);
  });
});

describe('routing', () => {
  it.each<[Method, string]>([
    ['GET', '/v1/nope'],
    ['GET', '/v2/transactions/abc'],
    ['GET', '/transactions/abc'],
    ['POST', '/v1/transactions/abc/commit'],
    ['DELETE', '/v1/transactions/abc'],
    ['PUT', '/v1/transactions'],
    ['PATCH', '/v1/transactions/abc'],
    ['GET', '/v1/transactions/abc/branches'],
    ['GET', '/v1/transactions/abc/submit'],
  ])('%s %s → 404 ROUTE_NOT_FOUND', async (method, url) => {
    expectError(await call(method, url), 404, 'ROUTE_NOT_FOUND');
  });

  it('errors have the same shape over real HTTP', async () => {
    const response = await fetch(`${coordinator.url}/v1/transactions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...TEST_API_HEADERS },
      body: JSON.stringify({ timeoutMs: -5 }),
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toContain('application/json');
    const text = await response.text();
    expect(text.includes('    at ')).toBe(false);
    const body = JSON.parse(text) as Record<string, unknown>;
    expect(body.code).toBe('INVALID_REQUEST');
    expect(typeof body.message).toBe('string');

    const missing = await fetch(`${coordinator.url}/v1/transactions/${newGid('nf')}/submit`, { method: 'POST', headers: TEST_API_HEADERS });
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as Record<string, unknown>).code).toBe('NOT_FOUND');
  });
});
