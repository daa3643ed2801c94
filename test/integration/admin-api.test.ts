/**
 * The admin API (/admin/v1) against real MariaDB and Redis: tokens and
 * roles, bad input on every endpoint, listing with filters and cursor
 * paging, stats, and every operator action — what it changes, where it is
 * refused with 409, and its audit entry and `operator` event.
 *
 * Two coordinators: `slow` retries phase two only after 5-10 minutes, so a
 * stuck transaction stays exactly as the test left it (no background round
 * changes attempts or calls a participant); `fast` retries every 100-400 ms,
 * for pause and resume.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { DtxClient } from '../../participant-sdk/index.ts';
import { ADMIN_TOKENS, adminCall, OPERATOR, VIEWER, type AdminReply, type AdminTransaction, type AuditItem, type ListItem } from '../support/admin-api.ts';
import {
  startInProcessCoordinator,
  testEnv,
  TEST_SECRET,
  TEST_INITIATOR_KEY,
  TEST_API_TOKEN,
  type InProcessCoordinator,
} from '../support/coordinator-harness.ts';
import { createTestDatabase, uniqueRedisPrefix, type TestDatabase } from '../support/databases.ts';
import { startTestParticipant, type TestParticipant } from '../support/test-participant.ts';
import { waitFor } from '../../tools/wait.ts';

const REASON = 'investigating ticket OPS-42';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const hex = () => randomBytes(4).toString('hex');

let databases: TestDatabase[] = [];
let slow: InProcessCoordinator;
let fast: InProcessCoordinator;
/** Participant of the slow coordinator's transactions. */
let bank: TestParticipant;
/** Participant of the fast coordinator's transactions (its own gates and counts). */
let fastBank: TestParticipant;
let slowDtx: DtxClient;
let fastDtx: DtxClient;

beforeAll(async () => {
  const [slowDb, fastDb, bankDb, fastBankDb] = await Promise.all(
    ['admin_slow', 'admin_fast', 'admin_bank', 'admin_fast_bank'].map((label) => createTestDatabase(inject('mysqlUrl'), label)),
  );
  databases = [slowDb!, fastDb!, bankDb!, fastBankDb!];
  slow = await startInProcessCoordinator(
    testEnv(slowDb!.url, inject('redisUrl'), uniqueRedisPrefix('admin-slow'), {
      DTX_ADMIN_TOKENS: ADMIN_TOKENS,
      DTX_RETRY_BASE_MS: '600000',
      DTX_RETRY_MAX_MS: '600000',
      DTX_ATTENTION_AFTER_RETRIES: '1',
      DTX_ADMIN_MAX_BULK: '3',
      // participant-b.test is never called: its branches stay trying, for the participant filter.
      DTX_PARTICIPANTS: 'http://127.0.0.1:*/,http://participant-b.test:8080/dtx/',
    }),
  );
  fast = await startInProcessCoordinator(testEnv(fastDb!.url, inject('redisUrl'), uniqueRedisPrefix('admin-fast'), { DTX_ADMIN_TOKENS: ADMIN_TOKENS }));
  bank = await startTestParticipant(bankDb!.url, { coordinatorKey: TEST_SECRET });
  fastBank = await startTestParticipant(fastBankDb!.url, { coordinatorKey: TEST_SECRET });
  slowDtx = new DtxClient({ coordinatorUrl: slow.url, initiatorKey: TEST_INITIATOR_KEY, apiToken: TEST_API_TOKEN });
  fastDtx = new DtxClient({ coordinatorUrl: fast.url, initiatorKey: TEST_INITIATOR_KEY, apiToken: TEST_API_TOKEN });
});

afterEach(() => {
  for (const participant of [bank, fastBank]) for (const op of ['try', 'confirm', 'cancel'] as const) participant?.behave(op, 'ok');
});

afterAll(async () => {
  await slowDtx?.close();
  await fastDtx?.close();
  await Promise.all([slow?.stop(), fast?.stop()]);
  await Promise.all([bank?.stop(), fastBank?.stop()]);
  await Promise.all(databases.map((db) => db.drop()));
});

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

const act = (c: InProcessCoordinator, path: string, body: unknown, token: string = OPERATOR.token) =>
  adminCall<AdminTransaction & { code?: string; message?: string; status?: string }>(c.url, 'POST', path, { token, body });
const read = <T = Record<string, unknown>>(c: InProcessCoordinator, path: string, token: string = VIEWER.token) => adminCall<T>(c.url, 'GET', path, { token });

async function view(c: InProcessCoordinator, gid: string): Promise<AdminTransaction> {
  const reply = await read<AdminTransaction>(c, `/transactions/${gid}`);
  expect(reply.status).toBe(200);
  return reply.body;
}

async function waitForView(c: InProcessCoordinator, gid: string, what: string, predicate: (v: AdminTransaction) => boolean, timeoutMs = 15_000) {
  return (await waitFor(
    async () => {
      const current = await view(c, gid);
      return predicate(current) ? current : null;
    },
    { what: `${gid}: ${what}`, timeoutMs },
  ))!;
}

/** A transaction whose confirm keeps failing: `confirming`, flagged on the slow coordinator after its first round. */
async function stuck(dtx: DtxClient, participant: TestParticipant, label: string, branches = 1): Promise<string> {
  participant.behave('confirm', 'error');
  const gid = `${label}-${hex()}`;
  const outcome = await dtx.tcc(
    async (tx) => {
      await tx.tryAll(Array.from({ length: branches }, (_, i) => ({ url: participant.resourceUrl, payload: { i } })));
    },
    { gid },
  );
  expect(outcome.status).toBe('confirming');
  return gid;
}

/** A transaction still trying (deadline in 10 minutes), with one registered branch whose try never ran. */
async function trying(dtx: DtxClient, gid: string, resourceUrl: string = bank.resourceUrl): Promise<string> {
  await dtx.coordinator.begin({
    gid,
    timeoutMs: 600_000,
    branches: [{ branchId: '01', confirmUrl: `${resourceUrl}/confirm`, cancelUrl: `${resourceUrl}/cancel`, payload: { n: 1 } }],
  });
  return gid;
}

async function confirmed(dtx: DtxClient, label: string): Promise<string> {
  const gid = `${label}-${hex()}`;
  const outcome = await dtx.tcc(async (tx) => void (await tx.try({ url: bank.resourceUrl, payload: {} })), { gid });
  expect(outcome.status).toBe('confirmed');
  return gid;
}

function expectError(reply: AdminReply<object>, status: number, code: string): void {
  const body = reply.body as Record<string, unknown>;
  expect({ status: reply.status, code: body.code }).toEqual({ status, code });
  expect(typeof body.message).toBe('string');
  expect(JSON.stringify(body)).not.toMatch(/\.ts:\d+|node_modules/);
}

/** The audit entry and the `operator` event an action must leave. */
async function expectAudited(c: InProcessCoordinator, gid: string, action: string, reason: string, since: number, branchId: string | null = null) {
  const detail = await view(c, gid);
  const entry = detail.audit?.find((a) => a.action === action && a.reason === reason);
  expect(entry, `audit entry ${action} of ${gid}`).toMatchObject({ actor: OPERATOR.name, role: 'operator', gid, branchId });
  expect(Date.parse(entry!.at)).toBeGreaterThanOrEqual(since - 1);
  expect(Date.parse(entry!.at)).toBeLessThanOrEqual(Date.now());
  const event = detail.events.find((e) => e.kind === 'operator' && e.message?.startsWith(`${action}:`) && e.message.includes(reason));
  expect(event, `operator event ${action} of ${gid}`).toMatchObject({ actor: OPERATOR.name, branchId });
  return { entry: entry!, event: event!, detail };
}

const items = (reply: AdminReply<{ items: ListItem[] }>) => reply.body.items.map((i) => i.gid);
/** The gids of a reply as a sorted list, for filters (the order is the paging test's business). */
const gidsOf = (reply: AdminReply<{ items: ListItem[] }>) => items(reply).sort();
const sorted = (gids: string[]) => [...gids].sort();

// ---------------------------------------------------------------------------

describe('authentication and roles', () => {
  let gid: string;
  beforeAll(async () => {
    gid = await stuck(slowDtx, bank, 'auth', 2);
  });

  const reads = () => ['/transactions', `/transactions/${gid}`, '/stats', '/audit'];
  const actions = (): [string, unknown][] => [
    [`/transactions/${gid}/retry`, { reason: REASON }],
    [`/transactions/${gid}/pause`, { reason: REASON }],
    [`/transactions/${gid}/resume`, { reason: REASON }],
    [`/transactions/${gid}/force-abort`, { reason: REASON }],
    [`/transactions/${gid}/branches/01/resolve`, { reason: REASON }],
    [`/transactions/${gid}/close`, { reason: REASON, lastResort: true }],
    ['/transactions/retry', { filter: { gidPrefix: gid }, limit: 5, reason: REASON }],
  ];

  it('every endpoint answers 401 UNAUTHENTICATED without a valid bearer token', async () => {
    const wrong = [undefined, 'Bearer not-a-configured-token', `Basic ${Buffer.from(`x:${OPERATOR.token}`).toString('base64')}`, 'Bearer ', OPERATOR.token];
    for (const authorization of wrong) {
      for (const path of reads()) {
        const reply = await adminCall(slow.url, 'GET', path, { authorization });
        expectError(reply, 401, 'UNAUTHENTICATED');
        expect(reply.headers.get('www-authenticate')).toBe('Bearer');
      }
      for (const [path, body] of actions()) expectError(await adminCall(slow.url, 'POST', path, { authorization, body }), 401, 'UNAUTHENTICATED');
    }
  });

  it('a viewer reads every endpoint but every action is 403 FORBIDDEN and changes nothing', async () => {
    for (const path of reads()) expect((await read(slow, path, VIEWER.token)).status).toBe(200);
    const before = await view(slow, gid);
    for (const [path, body] of actions()) expectError(await act(slow, path, body, VIEWER.token), 403, 'FORBIDDEN');
    const after = await view(slow, gid);
    expect(after.transaction).toEqual(before.transaction);
    expect(after.events).toEqual(before.events);
    expect(after.audit).toEqual([]);
  });

  it('an operator reads too, and the scheme name is case-insensitive', async () => {
    for (const path of reads()) expect((await read(slow, path, OPERATOR.token)).status).toBe(200);
    expect((await adminCall(slow.url, 'GET', '/stats', { authorization: `bearer ${VIEWER.token}` })).status).toBe(200);
  });

  it('checks the token before the input: bad input without a token is 401, from a viewer 403', async () => {
    expectError(await adminCall(slow.url, 'GET', '/transactions?limit=0&status=bogus'), 401, 'UNAUTHENTICATED');
    expectError(await adminCall(slow.url, 'POST', `/transactions/${gid}/retry`, { body: { reason: 'x' } }), 401, 'UNAUTHENTICATED');
    expectError(await adminCall(slow.url, 'POST', '/transactions/bad%20gid/close', { body: {} }), 401, 'UNAUTHENTICATED');
    expectError(await act(slow, `/transactions/${gid}/close`, {}, VIEWER.token), 403, 'FORBIDDEN');
    expectError(await act(slow, '/transactions/retry', { limit: -1 }, VIEWER.token), 403, 'FORBIDDEN');
  });
});

describe('bad input', () => {
  let gid: string;
  beforeAll(async () => {
    gid = await stuck(slowDtx, bank, 'input', 2);
  });

  const cursorOf = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

  it('GET /transactions refuses bad filters, limits and cursors with 400 INVALID_REQUEST', async () => {
    const queries = [
      'status=bogus',
      'mode=xb',
      'needsAttention=yes',
      'paused=1',
      'olderThanMs=-5',
      'olderThanMs=soon',
      'order=sideways',
      'limit=0',
      'limit=501',
      'limit=ten',
      'gidPrefix=bad%20prefix',
      'gidPrefix=',
      'participant=not-a-url',
      'participant=http://host:1/with/path',
      'createdAfter=yesterday',
      'createdBefore=2024-13-45T00:00:00Z',
      'cursor=not%20base64!',
      `cursor=${Buffer.from('not json').toString('base64url')}`,
      `cursor=${cursorOf([1])}`,
      `cursor=${cursorOf({ createdAt: 1, gid: 'a' })}`,
      `cursor=${cursorOf(['1', 'a'])}`,
      'unknown=1',
    ];
    for (const query of queries) expectError(await read(slow, `/transactions?${query}`), 400, 'INVALID_REQUEST');
  });

  it('GET /transactions/:gid and /audit refuse bad ids and limits; an unknown gid is 404', async () => {
    expectError(await read(slow, '/transactions/bad%20gid!'), 400, 'INVALID_REQUEST');
    expectError(await read(slow, `/transactions/${'g'.repeat(129)}`), 400, 'INVALID_REQUEST');
    expectError(await read(slow, '/transactions/no-such-gid'), 404, 'NOT_FOUND');
    for (const query of ['limit=0', 'limit=501', 'limit=x', 'beforeId=x', 'beforeId=-1', 'gid=bad%20gid', 'other=1']) {
      expectError(await read(slow, `/audit?${query}`), 400, 'INVALID_REQUEST');
    }
  });

  it('every action refuses a missing, short, long or mistyped reason and unknown fields, and changes nothing', async () => {
    const before = await view(slow, gid);
    const paths = ['retry', 'pause', 'resume', 'force-abort', 'branches/01/resolve', 'close'].map((a) => `/transactions/${gid}/${a}`);
    const bodies: unknown[] = [
      undefined,
      {},
      { reason: 'ab' },
      { reason: '   ' },
      { reason: 'x'.repeat(1001) },
      { reason: 42 },
      { reason: REASON, extra: true },
      [REASON],
    ];
    for (const path of paths) {
      for (const body of bodies) {
        const lastResort = path.endsWith('/close') && body && typeof body === 'object' && !Array.isArray(body) ? { lastResort: true } : {};
        const reply = await act(slow, path, body === undefined ? undefined : Array.isArray(body) ? body : { ...body, ...lastResort });
        if (reply.status === 200) throw new Error(`${path} accepted ${JSON.stringify(body)}`);
        expectError(reply, 400, 'INVALID_REQUEST');
      }
    }
    expectError(await act(slow, `/transactions/${gid}/branches/bad%20branch/resolve`, { reason: REASON }), 400, 'INVALID_REQUEST');
    expectError(await act(slow, '/transactions/bad%20gid/retry', { reason: REASON }), 400, 'INVALID_REQUEST');
    const after = await view(slow, gid);
    expect(after.transaction).toEqual(before.transaction);
    expect(after.events).toEqual(before.events);
    expect(after.audit).toEqual([]);
  });

  it('close needs lastResort: true', async () => {
    for (const body of [{ reason: REASON }, { reason: REASON, lastResort: false }, { reason: REASON, lastResort: 'true' }, { reason: REASON, lastResort: 1 }]) {
      expectError(await act(slow, `/transactions/${gid}/close`, body), 400, 'INVALID_REQUEST');
    }
    expect((await view(slow, gid)).transaction.status).toBe('confirming');
  });

  it('bulk retry refuses a missing filter, reason or limit, a limit out of range and unknown filter fields', async () => {
    const filter = { gidPrefix: gid };
    const bodies = [
      {},
      { filter, reason: REASON },
      { filter, limit: 5 },
      { limit: 5, reason: REASON },
      { filter, limit: 0, reason: REASON },
      { filter, limit: 100_001, reason: REASON },
      { filter, limit: 1.5, reason: REASON },
      { filter, limit: '5', reason: REASON },
      { filter, limit: 5, reason: 'no' },
      { filter: { status: 'bogus' }, limit: 5, reason: REASON },
      { filter: { paused: true }, limit: 5, reason: REASON },
      { filter: { createdAfter: 'yesterday' }, limit: 5, reason: REASON },
      { filter: { olderThanMs: -1 }, limit: 5, reason: REASON },
      { filter: { needsAttention: 'true' }, limit: 5, reason: REASON },
      { filter, limit: 5, reason: REASON, dryRun: true },
    ];
    for (const body of bodies) expectError(await act(slow, '/transactions/retry', body), 400, 'INVALID_REQUEST');
    expect((await view(slow, gid)).audit).toEqual([]);
  });

  it('an action on an unknown gid is 404 NOT_FOUND', async () => {
    for (const action of ['retry', 'pause', 'resume', 'force-abort', 'branches/01/resolve']) {
      expectError(await act(slow, `/transactions/no-such-${hex()}/${action}`, { reason: REASON }), 404, 'NOT_FOUND');
    }
    expectError(await act(slow, `/transactions/no-such-${hex()}/close`, { reason: REASON, lastResort: true }), 404, 'NOT_FOUND');
  });
});

describe('reading', () => {
  it('one transaction: branches with attempts and last error, the event history, the audit entries', async () => {
    const gid = await stuck(slowDtx, bank, 'one', 2);
    const detail = await view(slow, gid);
    expect(detail.transaction).toMatchObject({ gid, status: 'confirming', needsAttention: true, paused: false, retryCount: 1 });
    expect(detail.branches).toHaveLength(2);
    for (const branch of detail.branches) {
      expect(branch).toMatchObject({ status: 'prepared', attempts: 1, participant: bank.url });
      expect(branch.lastError).toContain('HTTP 500');
    }
    expect(detail.events.map((e) => e.kind)).toEqual(['begin', 'register', 'register', 'status', 'branch-call', 'branch-call', 'attention']);
    expect(detail.events.filter((e) => e.kind === 'branch-call').map((e) => [e.op, e.outcome])).toEqual([
      ['confirm', 'unknown'],
      ['confirm', 'unknown'],
    ]);
    expect(detail.audit).toEqual([]);
  });

  it('stats: open counts by status, flagged, paused, oldest open, retry backlog, finished in the last hour', async () => {
    type Stats = {
      open: Record<'trying' | 'confirming' | 'cancelling', number>;
      finishedLastHour: Record<'confirmed' | 'cancelled', number>;
      needsAttention: number;
      paused: number;
      oldestOpenCreatedAt: string | null;
      retryBacklog: number;
      flaggedLastHour: number;
    };
    const before = (await read<Stats>(slow, '/stats')).body;
    const started = Date.now();
    await stuck(slowDtx, bank, 'stats');
    const paused = await stuck(slowDtx, bank, 'stats-paused');
    expect((await act(slow, `/transactions/${paused}/pause`, { reason: REASON })).status).toBe(200);
    await trying(slowDtx, `stats-trying-${hex()}`);
    bank.behave('confirm', 'ok');
    await confirmed(slowDtx, 'stats-done');
    const after = (await read<Stats>(slow, '/stats')).body;
    expect({
      trying: after.open.trying - before.open.trying,
      confirming: after.open.confirming - before.open.confirming,
      cancelling: after.open.cancelling - before.open.cancelling,
      needsAttention: after.needsAttention - before.needsAttention,
      paused: after.paused - before.paused,
      flaggedLastHour: after.flaggedLastHour - before.flaggedLastHour,
      confirmedLastHour: after.finishedLastHour.confirmed - before.finishedLastHour.confirmed,
      retryBacklog: after.retryBacklog - before.retryBacklog,
    }).toEqual({ trying: 1, confirming: 2, cancelling: 0, needsAttention: 2, paused: 1, flaggedLastHour: 2, confirmedLastHour: 1, retryBacklog: 0 });
    expect(Date.parse(after.oldestOpenCreatedAt!)).toBeLessThanOrEqual(started);
  });
});

describe('listing', () => {
  it('cursor paging over 25 transactions, 10 a page, returns every one exactly once in both orders', async () => {
    const prefix = `page${hex()}-`;
    const gids: string[] = [];
    // In batches begun concurrently, so that several share a created_at and the gid breaks the tie.
    for (let batch = 0; batch < 5; batch++) {
      const names = Array.from({ length: 5 }, (_, i) => `${prefix}${batch}${i}-${hex()}`);
      await Promise.all(names.map((name) => trying(slowDtx, name)));
      gids.push(...names);
    }
    for (const order of ['newest', 'oldest'] as const) {
      const seen: ListItem[] = [];
      const sizes: number[] = [];
      let cursor: string | null = null;
      do {
        const reply: AdminReply<{ items: ListItem[]; nextCursor: string | null }> = await read(
          slow,
          `/transactions?gidPrefix=${prefix}&limit=10&order=${order}${cursor ? `&cursor=${cursor}` : ''}`,
        );
        expect(reply.status).toBe(200);
        seen.push(...reply.body.items);
        sizes.push(reply.body.items.length);
        cursor = reply.body.nextCursor;
      } while (cursor && sizes.length < 10);
      expect(sizes).toEqual([10, 10, 5]);
      expect(new Set(seen.map((i) => i.gid)).size).toBe(25);
      expect(seen.map((i) => i.gid).sort()).toEqual([...gids].sort());
      const key = (i: ListItem) => [Date.parse(i.createdAt), i.gid] as const;
      const sorted = [...seen].sort((a, b) => {
        const [ta, ga] = key(a);
        const [tb, gb] = key(b);
        const c = ta - tb || (ga < gb ? -1 : ga > gb ? 1 : 0);
        return order === 'oldest' ? c : -c;
      });
      expect(seen.map((i) => i.gid)).toEqual(sorted.map((i) => i.gid));
    }
    const whole = await read<{ items: ListItem[]; nextCursor: string | null }>(slow, `/transactions?gidPrefix=${prefix}&limit=25`);
    expect(whole.body.items).toHaveLength(25);
    expect(whole.body.nextCursor).toBeNull();
  });

  it('filters by gid prefix (LIKE wildcards taken literally), participant and age', async () => {
    const tag = `flt${hex()}`;
    const underscore = await trying(slowDtx, `${tag}_a`);
    const letter = await trying(slowDtx, `${tag}Xa`);
    const elsewhere = await trying(slowDtx, `${tag}-other`, 'http://participant-b.test:8080/dtx/account');
    expect(items(await read(slow, `/transactions?gidPrefix=${tag}_`))).toEqual([underscore]);
    expect(gidsOf(await read(slow, `/transactions?gidPrefix=${tag}`))).toEqual(sorted([underscore, letter, elsewhere]));

    expect(items(await read(slow, `/transactions?gidPrefix=${tag}&participant=${encodeURIComponent('http://participant-b.test:8080')}`))).toEqual([elsewhere]);
    expect(gidsOf(await read(slow, `/transactions?gidPrefix=${tag}&participant=${encodeURIComponent(bank.url)}`))).toEqual(sorted([underscore, letter]));
    expect(items(await read(slow, `/transactions?gidPrefix=${tag}&participant=${encodeURIComponent('http://participant-c.test:1')}`))).toEqual([]);

    const lastOld = Date.parse((await view(slow, elsewhere)).transaction.createdAt);
    await sleep(1_000); // a gap in creation times for the age filter, not a wait for a condition
    const younger = await trying(slowDtx, `${tag}-young`);
    const youngAt = (await view(slow, younger)).transaction.createdAt;
    // Older than the young one's age plus half the gap: the three old ones, whatever the machine's load.
    const olderThanMs = Date.now() - Date.parse(youngAt) + 500;
    expect(gidsOf(await read(slow, `/transactions?gidPrefix=${tag}&olderThanMs=${olderThanMs}`))).toEqual(sorted([underscore, letter, elsewhere]));
    expect(items(await read(slow, `/transactions?gidPrefix=${tag}&createdAfter=${encodeURIComponent(new Date(lastOld + 1).toISOString())}`))).toEqual([
      younger,
    ]);
    expect(gidsOf(await read(slow, `/transactions?gidPrefix=${tag}&createdBefore=${encodeURIComponent(youngAt)}`))).toEqual(
      sorted([underscore, letter, elsewhere]),
    );
    expect(
      items(await read(slow, `/transactions?gidPrefix=${tag}&createdAfter=${encodeURIComponent(youngAt)}&createdBefore=${encodeURIComponent(youngAt)}`)),
    ).toEqual([]);
  });

  it('filters by status, needs attention, paused and mode', async () => {
    const tag = `st${hex()}`;
    const flagged = await stuck(slowDtx, bank, `${tag}-flagged`);
    const paused = await stuck(slowDtx, bank, `${tag}-paused`);
    expect((await act(slow, `/transactions/${paused}/pause`, { reason: REASON })).status).toBe(200);
    const open = await trying(slowDtx, `${tag}-trying`);
    const list = async (query: string) => gidsOf(await read(slow, `/transactions?gidPrefix=${tag}&${query}`));
    expect(await list('status=confirming')).toEqual(sorted([flagged, paused]));
    expect(await list('status=trying')).toEqual([open]);
    expect(await list('status=confirmed')).toEqual([]);
    expect(await list('needsAttention=true')).toEqual(sorted([flagged, paused]));
    expect(await list('needsAttention=false')).toEqual([open]);
    expect(await list('paused=true')).toEqual([paused]);
    expect(await list('paused=false')).toEqual(sorted([flagged, open]));
    expect(await list('needsAttention=true&paused=false&status=confirming')).toEqual([flagged]);
    expect(await list('mode=tcc')).toEqual(sorted([flagged, paused, open]));
    const reply = await read<{ items: ListItem[] }>(slow, `/transactions?gidPrefix=${paused}`);
    expect(reply.body.items[0]).toMatchObject({ gid: paused, status: 'confirming', needsAttention: true, paused: true, retryCount: 1 });
  });
});

describe('actions', () => {
  it('retry now: the next round runs at once, is audited, and retrying a healthy participant finishes it', async () => {
    const gid = await stuck(slowDtx, bank, 'retry');
    const before = await view(slow, gid);
    expect(Date.parse(before.transaction.nextRetryAt!) - Date.now()).toBeGreaterThan(60_000);
    const since = Date.now();
    const reply = await act(slow, `/transactions/${gid}/retry`, { reason: REASON });
    expect(reply.status).toBe(200);
    // Due now (or, if the round already started, at the end of its 2 s lease): not minutes away.
    expect(Date.parse(reply.body.transaction.nextRetryAt!) - Date.now()).toBeLessThan(5_000);
    const after = await waitForView(slow, gid, 'a second round', (v) => v.branches[0]!.attempts === 2 && v.transaction.leaseOwner === null);
    expect(after.transaction).toMatchObject({ status: 'confirming', retryCount: 2 });
    await expectAudited(slow, gid, 'retry', REASON, since);

    bank.behave('confirm', 'ok');
    expect((await act(slow, `/transactions/${gid}/retry`, { reason: 'participant repaired' })).status).toBe(200);
    const done = await waitForView(slow, gid, 'confirmed', (v) => v.transaction.status === 'confirmed');
    expect(done.branches[0]).toMatchObject({ status: 'confirmed', attempts: 3, lastError: null });
    expect(await bank.effects(gid, 'confirm')).toBe(1);
    expectError(await act(slow, `/transactions/${gid}/retry`, { reason: REASON }), 409, 'ILLEGAL_STATE');
  });

  it('retry is refused with 409 while trying, when finished and when paused', async () => {
    expectError(await act(slow, `/transactions/${await trying(slowDtx, `retry-trying-${hex()}`)}/retry`, { reason: REASON }), 409, 'ILLEGAL_STATE');
    expectError(await act(slow, `/transactions/${await confirmed(slowDtx, 'retry-done')}/retry`, { reason: REASON }), 409, 'ILLEGAL_STATE');
    const paused = await stuck(slowDtx, bank, 'retry-paused');
    expect((await act(slow, `/transactions/${paused}/pause`, { reason: REASON })).status).toBe(200);
    const refused = await act(slow, `/transactions/${paused}/retry`, { reason: REASON });
    expectError(refused, 409, 'ILLEGAL_STATE');
    expect(refused.body.status).toBe('confirming');
  });

  it('pause stops the retries (attempts stop growing) and resume starts them again', async () => {
    const gid = await stuck(fastDtx, fastBank, 'pause');
    await waitForView(fast, gid, 'retried a few times', (v) => v.branches[0]!.attempts >= 3);
    const since = Date.now();
    const reply = await act(fast, `/transactions/${gid}/pause`, { reason: REASON });
    expect(reply.status).toBe(200);
    expect(reply.body.transaction).toMatchObject({ paused: true, nextRetryAt: null });
    // A round already running when the pause landed still records its outcome.
    const settled = await waitForView(fast, gid, 'no round in flight', (v) => v.transaction.leaseOwner === null);
    const received = fastBank.received.confirm;
    // What a retry job queued before the pause, or a reconciler pass, would do now: neither may touch it.
    expect(await fast.coordinator.service.recover(gid)).toBeNull();
    await fast.coordinator.reconciler.pass();
    const later = await view(fast, gid);
    expect(later.branches[0]!.attempts).toBe(settled.branches[0]!.attempts);
    expect(later.transaction).toMatchObject({ paused: true, nextRetryAt: null, retryCount: settled.transaction.retryCount });
    expect(fastBank.received.confirm).toBe(received);
    await expectAudited(fast, gid, 'pause', REASON, since);

    expectError(await act(fast, `/transactions/${gid}/pause`, { reason: REASON }), 409, 'ILLEGAL_STATE');
    const resumed = await act(fast, `/transactions/${gid}/resume`, { reason: 'maintenance over' });
    expect(resumed.status).toBe(200);
    expect(resumed.body.transaction.paused).toBe(false);
    await waitForView(fast, gid, 'retried again', (v) => v.branches[0]!.attempts >= settled.branches[0]!.attempts + 2);
    await expectAudited(fast, gid, 'resume', 'maintenance over', since);
    expectError(await act(fast, `/transactions/${gid}/resume`, { reason: REASON }), 409, 'ILLEGAL_STATE');

    fastBank.behave('confirm', 'ok');
    await waitForView(fast, gid, 'confirmed', (v) => v.transaction.status === 'confirmed');
    expectError(await act(fast, `/transactions/${gid}/pause`, { reason: REASON }), 409, 'ILLEGAL_STATE');
    expectError(await act(fast, `/transactions/${gid}/resume`, { reason: REASON }), 409, 'ILLEGAL_STATE');
    expectError(
      await act(fast, `/transactions/${await trying(fastDtx, `pause-trying-${hex()}`, fastBank.resourceUrl)}/pause`, { reason: REASON }),
      409,
      'ILLEGAL_STATE',
    );
  });

  it('paused while its last round runs: it finishes unpaused, and resume is refused (nothing to schedule)', async () => {
    const gid = await stuck(fastDtx, fastBank, 'pause-finish');
    const gate = fastBank.gate('confirm');
    await gate.reached;
    expect((await view(fast, gid)).transaction.leaseOwner).not.toBeNull();
    expect((await act(fast, `/transactions/${gid}/pause`, { reason: REASON })).status).toBe(200);
    fastBank.behave('confirm', 'ok');
    gate.open();
    const done = await waitForView(fast, gid, 'confirmed', (v) => v.transaction.status === 'confirmed');
    expect(done.transaction).toMatchObject({ paused: false, nextRetryAt: null, leaseOwner: null });
    expectError(await act(fast, `/transactions/${gid}/resume`, { reason: REASON }), 409, 'ILLEGAL_STATE');
    expect((await view(fast, gid)).transaction.nextRetryAt).toBeNull();
    expect(items(await read(fast, `/transactions?gidPrefix=${gid}&paused=true`))).toEqual([]);
  });

  it('force-abort while trying cancels every branch; after any decision it is refused with 409', async () => {
    const gid = await trying(slowDtx, `abort-${hex()}`);
    const since = Date.now();
    const reply = await act(slow, `/transactions/${gid}/force-abort`, { reason: REASON });
    expect(reply.status).toBe(200);
    expect(reply.body.transaction.status).toBe('cancelled');
    expect(reply.body.branches[0]!.status).toBe('cancelled');
    const { detail } = await expectAudited(slow, gid, 'force-abort', REASON, since);
    const decision = detail.events.find((e) => e.kind === 'status' && e.toStatus === 'cancelling');
    expect(decision).toMatchObject({ fromStatus: 'trying', actor: OPERATOR.name });
    expect(decision!.message).toContain(REASON);
    expect(detail.events.filter((e) => e.kind === 'branch-call').map((e) => [e.op, e.outcome])).toEqual([['cancel', 'success']]);

    const confirming = await stuck(slowDtx, bank, 'abort-confirming');
    const refused = await act(slow, `/transactions/${confirming}/force-abort`, { reason: REASON });
    expectError(refused, 409, 'ILLEGAL_STATE');
    expect(refused.body.status).toBe('confirming');
    expect((await view(slow, confirming)).transaction.status).toBe('confirming');
    bank.behave('confirm', 'ok');
    expectError(await act(slow, `/transactions/${await confirmed(slowDtx, 'abort-done')}/force-abort`, { reason: REASON }), 409, 'ILLEGAL_STATE');
    expectError(await act(slow, `/transactions/${gid}/force-abort`, { reason: REASON }), 409, 'ILLEGAL_STATE');
    // The refused attempts left no audit entry.
    expect((await view(slow, gid)).audit!.filter((a) => a.action === 'force-abort')).toHaveLength(1);
    expect((await view(slow, confirming)).audit).toEqual([]);
  });

  it('resolve marks one branch done by hand; resolving the last pending branch finishes the transaction', async () => {
    const gid = await stuck(slowDtx, bank, 'resolve', 2);
    const calls = { ...bank.received };
    const since = Date.now();
    const first = await act(slow, `/transactions/${gid}/branches/01/resolve`, { reason: REASON });
    expect(first.status).toBe(200);
    expect(first.body.transaction.status).toBe('confirming');
    expect(first.body.branches.map((b) => b.status)).toEqual(['confirmed', 'prepared']);
    expect(first.body.branches[0]!.lastError).toContain(`resolved by hand by ${OPERATOR.name}`);
    await expectAudited(slow, gid, 'resolve-branch', REASON, since, '01');

    expectError(await act(slow, `/transactions/${gid}/branches/01/resolve`, { reason: REASON }), 409, 'ILLEGAL_STATE');
    expectError(await act(slow, `/transactions/${gid}/branches/99/resolve`, { reason: REASON }), 404, 'NOT_FOUND');

    const last = await act(slow, `/transactions/${gid}/branches/02/resolve`, { reason: 'fixed by hand in bank B' });
    expect(last.status).toBe(200);
    expect(last.body.transaction).toMatchObject({ status: 'confirmed', needsAttention: false, nextRetryAt: null, paused: false });
    expect(last.body.transaction.finishedAt).not.toBeNull();
    expect(last.body.branches.map((b) => b.status)).toEqual(['confirmed', 'confirmed']);
    const { detail } = await expectAudited(slow, gid, 'resolve-branch', 'fixed by hand in bank B', since, '02');
    expect(detail.events.filter((e) => e.kind === 'status').map((e) => [e.fromStatus, e.toStatus, e.actor])).toEqual([
      ['trying', 'confirming', 'tests'],
      ['confirming', 'confirmed', OPERATOR.name],
    ]);
    expect(bank.received).toEqual(calls);
    expectError(await act(slow, `/transactions/${gid}/branches/02/resolve`, { reason: REASON }), 409, 'ILLEGAL_STATE');
    expectError(
      await act(slow, `/transactions/${await trying(slowDtx, `resolve-trying-${hex()}`)}/branches/01/resolve`, { reason: REASON }),
      409,
      'ILLEGAL_STATE',
    );
  });

  it('close (last resort) ends a transaction without calling any participant; a finished one is refused', async () => {
    const gid = await stuck(slowDtx, bank, 'close', 2);
    const calls = { ...bank.received };
    const since = Date.now();
    const reply = await act(slow, `/transactions/${gid}/close`, { reason: REASON, lastResort: true });
    expect(reply.status).toBe(200);
    expect(reply.body.transaction).toMatchObject({ status: 'confirmed', nextRetryAt: null, needsAttention: false, leaseOwner: null });
    // Branches stay as they were: the record shows what was never confirmed.
    expect(reply.body.branches.map((b) => b.status)).toEqual(['prepared', 'prepared']);
    const { event } = await expectAudited(slow, gid, 'close', REASON, since);
    expect(event.message).toContain('without calling participants');
    expect(event.message).toContain('01, 02');
    // What a queued retry job, or a reconciler pass, would do now: neither may call a participant.
    expect(await slow.coordinator.service.recover(gid)).toBeNull();
    await slow.coordinator.reconciler.pass();
    expect(bank.received).toEqual(calls);
    const after = await view(slow, gid);
    expect(after.events.filter((e) => e.kind === 'branch-call' && e.id > event.id)).toEqual([]);
    expectError(await act(slow, `/transactions/${gid}/close`, { reason: REASON, lastResort: true }), 409, 'ILLEGAL_STATE');

    const open = await trying(slowDtx, `close-trying-${hex()}`);
    const closed = await act(slow, `/transactions/${open}/close`, { reason: REASON, lastResort: true });
    expect(closed.body.transaction.status).toBe('cancelled');
    expect(await slow.coordinator.service.recover(open)).toBeNull();
    await slow.coordinator.reconciler.pass();
    expect(bank.received).toEqual(calls);
    expect((await view(slow, open)).events.filter((e) => e.kind === 'branch-call')).toEqual([]);
  });

  it('bulk retry: oldest first, only open unpaused phase-two ones, bounded by the limit and DTX_ADMIN_MAX_BULK (3)', async () => {
    const tag = `bulk${hex()}`;
    const gids: string[] = [];
    for (let i = 0; i < 5; i++) gids.push(await stuck(slowDtx, bank, `${tag}-${i}`));
    bank.behave('confirm', 'ok');
    const done = await confirmed(slowDtx, `${tag}-done`);
    bank.behave('confirm', 'error');
    expect((await act(slow, `/transactions/${gids[0]}/pause`, { reason: REASON })).status).toBe(200);
    const attempts = async (gid: string) => (await view(slow, gid)).branches[0]!.attempts;
    const since = Date.now();

    const two = await act(slow, '/transactions/retry', { filter: { gidPrefix: tag }, limit: 2, reason: REASON });
    expect(two.status).toBe(200);
    expect(two.body).toEqual({ retried: 2, skipped: 0, gids: [gids[1], gids[2]] });
    for (const gid of [gids[1]!, gids[2]!]) await waitForView(slow, gid, 'retried', (v) => v.branches[0]!.attempts === 2 && v.transaction.leaseOwner === null);

    const bounded = await act(slow, '/transactions/retry', {
      filter: { gidPrefix: tag, status: 'confirming', needsAttention: true },
      limit: 100,
      reason: REASON,
    });
    expect(bounded.body).toEqual({ retried: 3, skipped: 0, gids: [gids[1], gids[2], gids[3]] });
    await waitForView(slow, gids[3]!, 'retried', (v) => v.branches[0]!.attempts === 2);
    expect(await attempts(gids[0]!)).toBe(1); // paused
    expect(await attempts(gids[4]!)).toBe(1); // beyond the bound
    await expectAudited(slow, gids[3]!, 'retry', REASON, since);
    expect((await view(slow, done)).audit).toEqual([]);

    const none = await act(slow, '/transactions/retry', { filter: { gidPrefix: tag, status: 'trying' }, limit: 5, reason: REASON });
    expect(none.body).toEqual({ retried: 0, skipped: 0, gids: [] });

    const log = await read<{ items: AuditItem[] }>(slow, '/audit?limit=20');
    const bulk = log.body.items.filter((a) => a.action === 'retry-matching' && a.detail?.includes(tag));
    expect(bulk).toHaveLength(3);
    expect(bulk[1]).toMatchObject({ actor: OPERATOR.name, role: 'operator', gid: null, reason: REASON });
    expect(JSON.parse(bulk[1]!.detail!)).toMatchObject({ limit: 3, retried: 3, skipped: 0 });
  });

  it('the audit log: newest first, per gid, paged with beforeId', async () => {
    const gid = await stuck(slowDtx, bank, 'audit');
    for (const [path, reason] of [
      ['pause', 'first pause'],
      ['resume', 'then resume'],
      ['retry', 'then retry'],
    ] as const) {
      expect((await act(slow, `/transactions/${gid}/${path}`, { reason })).status).toBe(200);
    }
    const all = await read<{ items: AuditItem[] }>(slow, `/audit?gid=${gid}`);
    expect(all.body.items.map((a) => [a.action, a.reason, a.actor])).toEqual([
      ['retry', 'then retry', OPERATOR.name],
      ['resume', 'then resume', OPERATOR.name],
      ['pause', 'first pause', OPERATOR.name],
    ]);
    const page1 = await read<{ items: AuditItem[] }>(slow, `/audit?gid=${gid}&limit=2`);
    const page2 = await read<{ items: AuditItem[] }>(slow, `/audit?gid=${gid}&limit=2&beforeId=${page1.body.items[1]!.id}`);
    expect([...page1.body.items, ...page2.body.items].map((a) => a.id)).toEqual(all.body.items.map((a) => a.id));
    // The same three show in the transaction's history as operator events.
    expect((await view(slow, gid)).events.filter((e) => e.kind === 'operator').map((e) => e.message!.split(':')[0])).toEqual(['pause', 'resume', 'retry']);
  });
});
