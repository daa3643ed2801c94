/**
 * Who may use the coordinator, where it may send signed calls, and what a
 * captured call is worth: the transaction API's credentials, the participant
 * allow-list, signatures bound to their target with per-participant keys,
 * and reply bodies kept small and shown only to operators.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DtxClient, HEADERS, verify } from '../../participant-sdk/index.ts';
import { ADMIN_TOKENS, adminCall, OPERATOR, VIEWER } from '../support/admin-api.ts';
import { startCaptureServer, type CaptureServer } from '../support/capture-server.ts';
import {
  startInProcessCoordinator,
  testEnv,
  TEST_API_HEADERS,
  TEST_API_TOKEN,
  TEST_INITIATOR_KEY,
  type InProcessCoordinator,
} from '../support/coordinator-harness.ts';
import { createTestDatabase, uniqueRedisPrefix, type TestDatabase } from '../support/databases.ts';
import { startTestParticipant, type TestParticipant } from '../support/test-participant.ts';
import { waitFor } from '../../tools/wait.ts';

/** The coordinator's key for the bank and for a second participant (one an attacker may control): never the same. */
const BANK_KEY = 'bank-key-0123456789abcdef';
const OTHER_KEY = 'other-participant-key-0123';
const OPS_TOKEN = 'ops-token-0123456789abcdef';

const gidOf = (label: string) => `${label}-${randomBytes(5).toString('hex')}`;

interface Reply {
  status: number;
  body: Record<string, unknown>;
}

describe('trust', () => {
  let coordinatorDb: TestDatabase;
  let bankDb: TestDatabase;
  let bank: TestParticipant;
  let other: CaptureServer;
  let coordinator: InProcessCoordinator;
  let dtx: DtxClient;

  beforeAll(async () => {
    coordinatorDb = await createTestDatabase(inject('mysqlUrl'), 'trust_coord');
    bankDb = await createTestDatabase(inject('mysqlUrl'), 'trust_bank');
    bank = await startTestParticipant(bankDb.url, { coordinatorKey: BANK_KEY });
    other = await startCaptureServer();
    coordinator = await startInProcessCoordinator(
      testEnv(coordinatorDb.url, inject('redisUrl'), uniqueRedisPrefix('trust'), {
        // Only these two participants, each with its own key; no shared key at all.
        DTX_SECRET: '',
        DTX_PARTICIPANTS: `${bank.url}/dtx/=${BANK_KEY},${other.url}/=${OTHER_KEY}`,
        DTX_ADMIN_TOKENS: ADMIN_TOKENS,
        DTX_OPS_TOKEN: OPS_TOKEN,
        DTX_ATTENTION_AFTER_RETRIES: '100',
      }),
    );
    // The initiator tries with its own key at the bank, never the coordinator's.
    dtx = new DtxClient({ coordinatorUrl: coordinator.url, apiToken: TEST_API_TOKEN, initiatorKey: TEST_INITIATOR_KEY });
  });

  afterAll(async () => {
    await dtx?.close();
    await coordinator?.stop();
    await other?.stop();
    await bank?.stop();
    await bankDb?.drop();
    await coordinatorDb?.drop();
  });

  async function v1(method: 'GET' | 'POST', path: string, body?: unknown, headers: Record<string, string> = TEST_API_HEADERS): Promise<Reply> {
    const response = await fetch(`${coordinator.url}/v1${path}`, {
      method,
      headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  /** Whether the log holds the transaction at all. */
  async function logRows(gid: string): Promise<number> {
    return (await coordinator.coordinator.store.load(gid)) ? 1 : 0;
  }

  const branchAt = (base: string, branchId = '01', payload: unknown = { amount: 1 }) => ({
    branchId,
    confirmUrl: `${base}/confirm`,
    cancelUrl: `${base}/cancel`,
    payload,
  });

  describe('the transaction API needs a calling service token', () => {
    it.each([
      ['no token', {}],
      ['a wrong token', { authorization: 'Bearer not-a-configured-token' }],
      ['another scheme', { authorization: `Basic ${TEST_API_TOKEN}` }],
    ])('%s → 401 UNAUTHENTICATED, nothing written', async (_case, headers) => {
      const gid = gidOf('anon');
      for (const [method, path, body] of [
        ['POST', '/transactions', { gid }],
        ['POST', `/transactions/${gid}/submit`, {}],
        ['GET', `/transactions/${gid}`, undefined],
      ] as const) {
        const reply = await v1(method, path, body, headers);
        expect(reply, `${method} ${path}`).toMatchObject({ status: 401, body: { code: 'UNAUTHENTICATED' } });
      }
      expect(await logRows(gid)).toBe(0);
    });

    it("records the caller's name on the transaction and as the actor of its decision", async () => {
      const gid = gidOf('caller');
      expect((await v1('POST', '/transactions', { gid })).status).toBe(201);
      expect((await v1('POST', `/transactions/${gid}/submit`, {})).status).toBe(200);
      const view = await v1('GET', `/transactions/${gid}`);
      expect(view.body['transaction']).toMatchObject({ caller: 'tests', status: 'confirmed' });
      const events = view.body['events'] as { kind: string; toStatus: string | null; actor: string | null }[];
      expect(events.find((e) => e.kind === 'begin')?.actor).toBe('tests');
      // Registered later, by the same service: also recorded.
      const joined = gidOf('joined');
      expect((await v1('POST', '/transactions', { gid: joined })).status).toBe(201);
      expect((await v1('POST', `/transactions/${joined}/branches`, { branches: [branchAt(`${bank.resourceUrl}`)] })).status).toBe(200);
      const registered = ((await v1('GET', `/transactions/${joined}`)).body['events'] as { kind: string; actor: string | null }[]).find(
        (e) => e.kind === 'register',
      );
      expect(registered?.actor).toBe('tests');
      expect(events.find((e) => e.toStatus === 'confirming')?.actor).toBe('tests');
    });
  });

  describe('participants are allowed, not assumed', () => {
    it.each([
      ['a host outside the list', 'http://evil.test/dtx/account', 403, 'PARTICIPANT_NOT_ALLOWED'],
      ['an allowed host on another port', 'http://127.0.0.1:1/dtx/account', 403, 'PARTICIPANT_NOT_ALLOWED'],
      ['an allowed origin outside the mount path', 'BANK/admin/account', 403, 'PARTICIPANT_NOT_ALLOWED'],
      ['a path climbing out of the mount', 'BANK/dtx/../admin/account', 403, 'PARTICIPANT_NOT_ALLOWED'],
      ['a URL that does not parse', 'http://[', 400, 'INVALID_URL'],
      ['a port out of range', 'http://127.0.0.1:99999/dtx/account', 400, 'INVALID_URL'],
      ['a host longer than the log keeps', `http://${'h'.repeat(300)}.test/dtx/account`, 400, 'INVALID_URL'],
      ['credentials in the URL', 'http://user:pw@127.0.0.1/dtx/account', 400, 'INVALID_URL'],
    ])('%s → %s %s, nothing written', async (_case, base, status, code) => {
      const gid = gidOf('url');
      const url = base.replace('BANK', bank.url);
      const begin = await v1('POST', '/transactions', { gid, branches: [branchAt(url)] });
      expect(begin).toMatchObject({ status, body: { code } });
      expect(String(begin.body['message'])).toContain('branches[0].confirmUrl');
      expect(await logRows(gid)).toBe(0);

      // The same through a later registration.
      expect((await v1('POST', '/transactions', { gid })).status).toBe(201);
      const register = await v1('POST', `/transactions/${gid}/branches`, { branches: [branchAt(`${bank.url}/dtx/account`), branchAt(url, '02')] });
      expect(register).toMatchObject({ status, body: { code } });
      const view = await v1('GET', `/transactions/${gid}`);
      expect(view.body['branches']).toEqual([]);
    });
  });

  describe('a confirm that was never earned', () => {
    it("is refused by the bank's barrier and flagged; a captured call is worthless elsewhere", async () => {
      // A caller registers the bank's real endpoints with a payload of its choosing and submits without any try.
      const forged = gidOf('forged');
      expect((await v1('POST', '/transactions', { gid: forged, branches: [branchAt(`${bank.resourceUrl}`, '01', { amount: 1_000_000 })] })).status).toBe(201);
      await v1('POST', `/transactions/${forged}/submit`, { waitMs: 0 });
      const flagged = await waitFor(
        async () => {
          const view = await v1('GET', `/transactions/${forged}`);
          const transaction = view.body['transaction'] as { needsAttention: boolean; attentionReason: string | null };
          return transaction.needsAttention ? transaction : null;
        },
        { timeoutMs: 10_000, what: 'the forged transaction to be flagged' },
      );
      // The bank answered 409: its barrier knows of no try for this branch, and the handler never ran.
      expect(flagged!.attentionReason).toContain('refused confirm (HTTP 409)');
      expect(bank.received.confirm).toBe(0);
      expect(await bank.effects(forged, 'confirm')).toBe(0);

      // A participant that holds its own key sees the coordinator's signed confirm ...
      const captured = gidOf('captured');
      expect((await v1('POST', '/transactions', { gid: captured, branches: [branchAt(`${other.url}/dtx/account`, '01', { amount: 5 })] })).status).toBe(201);
      expect((await v1('POST', `/transactions/${captured}/submit`, {})).body['status']).toBe('confirmed');
      const call = other.requests.find((r) => r.headers[HEADERS.gid] === captured);
      expect(call).toBeDefined();
      // It names the caller that registered the branch, as the coordinator authenticated it.
      expect(call!.headers[HEADERS.caller]).toBe('tests');
      const signed = {
        method: 'POST',
        host: String(call!.headers.host),
        path: call!.path,
        gid: captured,
        branchId: '01',
        op: 'confirm' as const,
        timestamp: Number(call!.headers[HEADERS.timestamp]),
        coordinator: '',
        caller: 'tests',
        body: call!.body,
      };
      // ... signed with its own key over its own host and path ...
      expect(verify(OTHER_KEY, signed, String(call!.headers[HEADERS.signature]), Date.now(), 60_000)).toEqual({ ok: true });
      expect(verify(BANK_KEY, signed, String(call!.headers[HEADERS.signature]), Date.now(), 60_000)).toEqual({ ok: false, reason: 'mismatch' });

      // ... and replaying it to the bank, as sent or with its Host header set to the original, is refused.
      const headers = Object.fromEntries(Object.entries(call!.headers).filter(([name]) => name.startsWith('dtx-') || name === 'content-type')) as Record<
        string,
        string
      >;
      for (const host of [undefined, String(call!.headers.host)]) {
        const replay = await fetch(`${bank.resourceUrl}/confirm`, {
          method: 'POST',
          headers: { ...headers, ...(host ? { 'x-forwarded-host': host } : {}) },
          body: call!.body,
        });
        expect(replay.status).toBe(401);
      }
      expect(await bank.effects(captured, 'confirm')).toBe(0);
    });
  });

  describe("participants' replies", () => {
    it('are kept to a small excerpt, read without taking the whole body, and shown only to operators', async () => {
      const gid = gidOf('flood');
      // 409 with a body that never ends: the coordinator reads its head and moves on.
      other.answer({ status: 409, body: `{"code":"NO","message":"secret-detail ${'y'.repeat(60_000)}"}`, endless: true });
      try {
        expect((await v1('POST', '/transactions', { gid, branches: [branchAt(`${other.url}/dtx/account`)] })).status).toBe(201);
        await v1('POST', `/transactions/${gid}/submit`, { waitMs: 0 });
        const recorded = await waitFor(
          async () => {
            const snapshot = await coordinator.coordinator.store.load(gid);
            const branch = snapshot?.branches[0];
            return branch?.lastError ? branch : null;
          },
          { timeoutMs: 10_000, what: 'the refused confirm to be recorded' },
        );
        // The reply's status, not a timeout: the endless body was not read to its end.
        expect(recorded!.lastError).toMatch(/^HTTP 409: \{"code":"NO","message":"secret-detail y+/);
        expect(Buffer.byteLength(recorded!.lastError!)).toBeLessThanOrEqual(600);

        const forCaller = await v1('GET', `/transactions/${gid}`);
        expect(JSON.stringify(forCaller.body)).not.toContain('secret-detail');
        expect((forCaller.body['branches'] as { lastError: string }[])[0]!.lastError).toBe('HTTP 409');

        const forViewer = await adminCall(coordinator.url, 'GET', `/transactions/${gid}`, { token: VIEWER.token });
        expect(JSON.stringify(forViewer.body)).not.toContain('secret-detail');
        const forOperator = await adminCall(coordinator.url, 'GET', `/transactions/${gid}`, { token: OPERATOR.token });
        expect(JSON.stringify(forOperator.body)).toContain('secret-detail');
      } finally {
        other.answer({ status: 200, body: '{"ok":true,"result":null}' });
      }
    });
  });

  describe('the protocol', () => {
    it('carries a payload to the participant byte for byte, under the signature', async () => {
      const gid = gidOf('bytes');
      const payload = '{ "id": 12345678901234567890, "price": 1.10, "note": "caf\\u00e9" }';
      const body = `{"gid":"${gid}","branches":[{"branchId":"01","confirmUrl":"${other.url}/dtx/p/confirm","cancelUrl":"${other.url}/dtx/p/cancel","payload":${payload}}]}`;
      expect((await v1('POST', '/transactions', body)).status).toBe(201);
      expect((await v1('POST', `/transactions/${gid}/submit`, {})).body['status']).toBe('confirmed');
      const call = other.requests.find((r) => r.headers[HEADERS.gid] === gid);
      expect(call?.body).toBe(payload);
    });

    it('answers a body that is not JSON with 415', async () => {
      const response = await fetch(`${coordinator.url}/v1/transactions`, {
        method: 'POST',
        headers: { ...TEST_API_HEADERS, 'content-type': 'text/plain' },
        body: '{}',
      });
      expect(response.status).toBe(415);
      expect(await response.json()).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE' });
    });

    it('makes a re-sent submit wait for phase two like the first one', async () => {
      const gate = bank.gate('confirm');
      const gid = gidOf('resend');
      const outcome = dtx.tcc(
        async (tx) => {
          await tx.try({ url: bank.resourceUrl, payload: { amount: 1 } });
        },
        { gid },
      );
      await gate.reached;
      // While the first round holds the confirm at the gate, a re-send asking to wait 400 ms waits
      // them out (a re-send that does not wait answers `confirming` at once)...
      const started = Date.now();
      expect((await v1('POST', `/transactions/${gid}/submit`, { waitMs: 400 })).body).toMatchObject({ status: 'confirming' });
      expect(Date.now() - started).toBeGreaterThanOrEqual(400);
      // ... and one sent with time to spare answers the outcome once the round ends.
      const resent = v1('POST', `/transactions/${gid}/submit`, { waitMs: 10_000 });
      gate.open();
      expect((await resent).body).toMatchObject({ status: 'confirmed' });
      expect((await outcome).status).toBe('confirmed');
    });

    it('answers DEADLINE_PASSED, with the status it moves to, for a submit after the deadline aborted it', async () => {
      const gid = gidOf('late');
      expect((await v1('POST', '/transactions', { gid, timeoutMs: 1 })).status).toBe(201);
      await waitFor(async () => ((await v1('GET', `/transactions/${gid}`)).body['transaction'] as { status: string }).status === 'cancelled', {
        timeoutMs: 10_000,
        what: 'the timeout abort',
      });
      const late = await v1('POST', `/transactions/${gid}/submit`, {});
      expect(late).toMatchObject({ status: 409, body: { code: 'DEADLINE_PASSED', status: 'cancelled' } });
    });
  });

  describe('operations endpoints behind DTX_OPS_TOKEN', () => {
    it.each(['/metrics', '/docs/json'])('%s: 401 without the token, 200 with it', async (path) => {
      expect((await fetch(`${coordinator.url}${path}`)).status).toBe(401);
      expect((await fetch(`${coordinator.url}${path}`, { headers: { authorization: `Bearer ${TEST_API_TOKEN}` } })).status).toBe(401);
      expect((await fetch(`${coordinator.url}${path}`, { headers: { authorization: `Bearer ${OPS_TOKEN}` } })).status).toBe(200);
    });
  });
});
