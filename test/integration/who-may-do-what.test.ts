/**
 * Who may do what, tried as a hostile caller would on the real servers: a
 * coordinator with several API tokens (each scoped), a bank whose
 * participant holds the coordinator's key and one key per initiator, and
 * each forbidden use attempted — reaching a participant or a mode outside a
 * token's scope, re-sending another's begin with other payloads, deciding
 * or joining another caller's transaction, forging a phase-two call with an
 * initiator's key, and dropping a message whose sender committed. Every
 * attempt is refused with its documented code, and nothing moves.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import knexFactory, { type Knex } from 'knex';
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  callHeaders,
  CoordinatorRefusedError,
  createParticipant,
  isInitiatorOp,
  registrationProof,
  defineMessageReceiver,
  defineMessageSender,
  defineSaga,
  defineTcc,
  defineXa,
  dtxParticipantPlugin,
  DtxClient,
  MessageAbortedError,
  TryFailedError,
  TryRejectedError,
  type BranchOp,
} from '../../participant-sdk/index.ts';
import { claimSenderRow } from '../../participant-sdk/barrier/sender-row.ts';
import { startInProcessCoordinator, testEnv, type InProcessCoordinator } from '../support/coordinator-harness.ts';
import { createTestDatabase, uniqueRedisPrefix, type TestDatabase } from '../support/databases.ts';
import { startCaptureServer, type CaptureServer } from '../support/capture-server.ts';
import { waitFor } from '../../tools/wait.ts';

/** The coordinator's key for the bank: only the coordinator holds it (the test plays the coordinator with it where it must). */
const BANK_COORDINATOR_KEY = 'bank-coordinator-key-0123456789';
const SHOP_COORDINATOR_KEY = 'shop-coordinator-key-0123456789';
/** Each initiator's own key at the bank. */
const ORDERS_AT_BANK = 'orders-at-bank-key-0123456789';
const TWIN_AT_BANK = 'twin-at-bank-key-0123456789ab';
const TOKENS = { orders: 'orders-api-token-0123456789', twin: 'twin-api-token-0123456789ab', outsider: 'outsider-api-token-01234567' } as const;
type Caller = keyof typeof TOKENS;

interface Reply {
  status: number;
  body: Record<string, unknown>;
}

/** What a bank handler ran, with the caller it was told. */
interface Seen {
  gid: string;
  branchId: string;
  op: string;
  caller: string | null;
}

describe('who may do what', () => {
  const dbs: TestDatabase[] = [];
  let coordinator: InProcessCoordinator;
  let bankKnex: Knex;
  let bankApp: FastifyInstance;
  let bank: string;
  let shop: CaptureServer;
  const dtx = {} as Record<Caller, DtxClient>;
  const seen: Seen[] = [];

  const gidOf = (label: string) => `${label}-${randomBytes(5).toString('hex')}`;
  /** Statements of the bank's database claiming the sender row of `gid` right now (waiting for its lock). */
  const claimsInFlight = async (gid: string) => {
    const [rows] = (await bankKnex.raw("select count(*) as n from information_schema.processlist where info like 'insert ignore into%' and info like ?", [
      `%${gid}%`,
    ])) as unknown as [{ n: number }[]];
    return Number(rows[0]?.n ?? 0);
  };
  const ran = (gid: string, op?: string) => seen.filter((s) => s.gid === gid && (op === undefined || s.op === op));

  async function v1(caller: Caller, method: 'GET' | 'POST', path: string, body?: unknown): Promise<Reply> {
    const response = await fetch(`${coordinator.url}/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKENS[caller]}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }
  const statusOf = async (gid: string) => ((await v1('orders', 'GET', `/transactions/${gid}`)).body.transaction as { status: string } | undefined)?.status;
  const until = (gid: string, status: string) => waitFor(async () => (await statusOf(gid)) === status, { what: `${gid} ${status}`, timeoutMs: 15_000 });

  /** A call straight to the bank, signed with `key` as `caller`: what someone holding that key can send. */
  /**
   * A call straight to the bank, signed with `key` as `caller`: what someone holding that key can
   * send. A try or a prepare carries `registration` (default: the coordinator's proof for this
   * caller, as if it had registered the branch; null: none).
   */
  async function callBank(
    resource: string,
    op: BranchOp,
    spec: { gid: string; branchId?: string; key: string; caller?: string; payload?: unknown; registration?: string | null },
  ) {
    const url = `${bank}/dtx/${resource}/${op}`;
    const body = JSON.stringify(spec.payload ?? { amount: 1 });
    const branchId = spec.branchId ?? '01';
    const proof = isInitiatorOp(op) ? registrationProof(BANK_COORDINATOR_KEY, { gid: spec.gid, branchId, caller: spec.caller ?? '' }) : null;
    const registration = spec.registration === undefined ? proof : spec.registration;
    const headers = callHeaders(spec.key, {
      url,
      gid: spec.gid,
      branchId,
      op,
      body,
      timestamp: Date.now(),
      ...(spec.caller ? { caller: spec.caller } : {}),
      ...(registration === null ? {} : { registration }),
    });
    const response = await fetch(url, { method: 'POST', headers, body });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  const record = async (ctx: { gid: string; branchId: string; op: string; caller: string | null; trx?: Knex.Transaction }) => {
    seen.push({ gid: ctx.gid, branchId: ctx.branchId, op: ctx.op, caller: ctx.caller });
  };

  beforeAll(async () => {
    for (const label of ['who_coord', 'who_bank']) dbs.push(await createTestDatabase(inject('mysqlUrl'), label));
    bankKnex = knexFactory({ client: 'mysql2', connection: dbs[1]!.url, pool: { min: 0, max: 20 } });
    await bankKnex.schema.createTable('credits', (t) => {
      t.bigIncrements('id');
      t.string('gid', 128);
      t.string('note', 200);
    });
    await bankKnex.schema.createTable('orders', (t) => {
      t.bigIncrements('id');
      t.string('gid', 128);
    });
    const account = defineTcc<unknown>({ name: 'account', try: record, confirm: record, cancel: record });
    const guarded = defineTcc<unknown>({ name: 'guarded', callers: ['orders'], try: record, confirm: record, cancel: record });
    // A try that needs a branch of its own elsewhere: the bank's service joins the transaction as `twin`.
    const nested = defineTcc<unknown>({
      name: 'nested',
      try: async (ctx) => {
        await record(ctx);
        await dtx.twin.join(ctx.gid, ctx.branchId).try({ url: `${bank}/dtx/account`, payload: { amount: 1 } });
      },
      confirm: record,
      cancel: record,
    });
    const step = defineSaga<unknown>({ name: 'step', action: record, compensate: record });
    const guardedStep = defineSaga<unknown>({ name: 'guarded-step', callers: ['orders'], action: record, compensate: record });
    const credit = defineMessageReceiver<{ note: string }>({
      name: 'credit',
      deliver: async (ctx) => {
        await record(ctx);
        await ctx.trx('credits').insert({ gid: ctx.gid, note: ctx.payload.note });
      },
    });
    const xaAccount = defineXa<unknown>({
      name: 'xa-account',
      prepare: async (ctx) => {
        await record(ctx);
        await ctx.sql('insert into credits (gid, note) values (?, ?)', [ctx.gid, 'xa']);
      },
    });
    const participant = createParticipant({
      knex: bankKnex,
      resources: [account, guarded, nested, step, guardedStep, credit, defineMessageSender({ name: 'outbox' }), xaAccount],
      coordinatorKey: BANK_COORDINATOR_KEY,
      initiatorKeys: { orders: ORDERS_AT_BANK, twin: TWIN_AT_BANK },
      logger: pino({ level: 'silent' }),
    });
    await participant.migrate();
    bankApp = Fastify({ logger: false, forceCloseConnections: true });
    await bankApp.register(dtxParticipantPlugin, { participant, prefix: '/dtx' });
    bank = await bankApp.listen({ host: '127.0.0.1', port: 0 });
    shop = await startCaptureServer();

    coordinator = await startInProcessCoordinator(
      testEnv(dbs[0]!.url, inject('redisUrl'), uniqueRedisPrefix('who'), {
        DTX_SECRET: '',
        DTX_PARTICIPANTS: `${bank}/dtx/=${BANK_COORDINATOR_KEY},${shop.url}/dtx/=${SHOP_COORDINATOR_KEY}`,
        DTX_API_TOKENS: Object.entries(TOKENS)
          .map(([name, token]) => `${name}:${token}`)
          .join(','),
        // orders: everything at both; twin: the same reach at the bank (another service of the same shop);
        // outsider: sagas and messages at the shop only.
        DTX_API_SCOPES: `orders=*@${bank}/dtx/,${shop.url}/dtx/;twin=*@${bank}/dtx/;outsider=saga,msg@${shop.url}/dtx/`,
        DTX_ATTENTION_AFTER_RETRIES: '100',
      }),
    );
    dtx.orders = new DtxClient({ coordinatorUrl: coordinator.url, apiToken: TOKENS.orders, initiatorKey: ORDERS_AT_BANK, coordinatorRetries: 0 });
    dtx.twin = new DtxClient({ coordinatorUrl: coordinator.url, apiToken: TOKENS.twin, initiatorKey: TWIN_AT_BANK, coordinatorRetries: 0 });
    dtx.outsider = new DtxClient({ coordinatorUrl: coordinator.url, apiToken: TOKENS.outsider, initiatorKey: null, coordinatorRetries: 0 });
  });

  afterAll(async () => {
    for (const client of Object.values(dtx)) await client.close();
    await coordinator?.stop();
    await bankApp?.close();
    await shop?.stop();
    await bankKnex?.destroy();
    for (const db of dbs) await db.drop();
  });

  const sagaStep = (resource: string, note = 'x') => ({
    id: 'debit',
    action: { url: `${bank}/dtx/${resource}/action`, payload: { note } },
    compensate: { url: `${bank}/dtx/${resource}/compensate`, payload: { note } },
  });
  const message = (gid: string, note: string, receiverUrl = `${bank}/dtx/credit/deliver`) => ({
    gid,
    checkUrl: `${bank}/dtx/outbox/check`,
    branches: [{ id: 'credit', url: receiverUrl, payload: { note } }],
  });

  describe('a token reaches only its scope', () => {
    it('refuses a saga step at a participant outside the caller’s prefixes, and sends nothing', async () => {
      const gid = gidOf('scope-saga');
      const reply = await v1('outsider', 'POST', '/sagas', { gid, steps: [sagaStep('step')] });
      expect(reply).toMatchObject({ status: 403, body: { code: 'OUT_OF_SCOPE' } });
      expect(String(reply.body.message)).toContain('steps[0]');
      expect((await v1('orders', 'GET', `/transactions/${gid}`)).status).toBe(404);
      expect(ran(gid)).toEqual([]);
    });

    it('refuses a message delivering, or asking its check-back, outside the prefixes', async () => {
      const delivering = await v1('outsider', 'POST', '/messages', message(gidOf('scope-msg'), 'attack'));
      expect(delivering).toMatchObject({ status: 403, body: { code: 'OUT_OF_SCOPE' } });
      const checking = await v1('outsider', 'POST', '/messages', {
        ...message(gidOf('scope-check'), 'attack', `${shop.url}/dtx/credit/deliver`),
        checkUrl: `${bank}/dtx/outbox/check`,
      });
      expect(checking).toMatchObject({ status: 403, body: { code: 'OUT_OF_SCOPE', message: expect.stringContaining('checkUrl') } });
    });

    it('refuses a mode the token may not use', async () => {
      const reply = await v1('outsider', 'POST', '/transactions', { gid: gidOf('scope-mode'), mode: 'tcc' });
      expect(reply).toMatchObject({ status: 403, body: { code: 'OUT_OF_SCOPE', message: expect.stringContaining('tcc') } });
    });

    it('lets a caller within its scope run a saga, and tells the participant who it acts for', async () => {
      const gid = gidOf('scope-ok');
      expect(await v1('orders', 'POST', '/sagas', { gid, steps: [sagaStep('step')] })).toMatchObject({ status: 201, body: { status: 'succeeded' } });
      expect(ran(gid)).toEqual([{ gid, branchId: 'debit', op: 'action', caller: 'orders' }]);
    });
  });

  describe('a begin sent again must ask for the same thing', () => {
    it('refuses a re-sent message whose payload, receiver URL or check-back differs, and accepts the same one', async () => {
      const gid = gidOf('resend-msg');
      expect(await v1('orders', 'POST', '/messages', message(gid, 'first'))).toMatchObject({ status: 201 });
      expect(await v1('orders', 'POST', '/messages', message(gid, 'other'))).toMatchObject({ status: 409, body: { code: 'GID_CONFLICT' } });
      expect(await v1('orders', 'POST', '/messages', message(gid, 'first', `${bank}/dtx/credit/deliver?x=1`))).toMatchObject({
        status: 409,
        body: { code: 'GID_CONFLICT' },
      });
      expect(await v1('orders', 'POST', '/messages', { ...message(gid, 'first'), checkUrl: `${bank}/dtx/outbox/check?again` })).toMatchObject({
        status: 409,
        body: { code: 'GID_CONFLICT' },
      });
      expect(await v1('orders', 'POST', '/messages', message(gid, 'first'))).toMatchObject({ status: 200, body: { created: false, status: 'prepared' } });
    });

    it('refuses a re-sent saga whose payload differs: the first one runs as submitted', async () => {
      const gid = gidOf('resend-saga');
      expect(await v1('orders', 'POST', '/sagas', { gid, steps: [sagaStep('step', 'first')] })).toMatchObject({ status: 201 });
      expect(await v1('orders', 'POST', '/sagas', { gid, steps: [sagaStep('step', 'second')] })).toMatchObject({ status: 409, body: { code: 'GID_CONFLICT' } });
    });

    it('never lets a message prepared first by another caller carry a victim’s commit', async () => {
      const gid = gidOf('preregistered');
      // The attacker guesses the gid and prepares it first, with the victim's receiver id and its own payload.
      expect(await v1('twin', 'POST', '/messages', message(gid, 'attacker payload'))).toMatchObject({ status: 201 });
      const victim = dtx.orders
        .message({ gid, checkUrl: `${bank}/dtx/outbox/check` })
        .deliver('credit', { url: `${bank}/dtx/credit`, payload: { note: 'victim payload' } });
      const attempt = victim.commitWith(bankKnex, async (trx) => trx('orders').insert({ gid }));
      await expect(attempt).rejects.toMatchObject({ code: 'NOT_OWNER', httpStatus: 403 });
      // The victim's work never ran, and nothing of the attacker's is delivered.
      expect(await bankKnex('orders').where({ gid }).count({ n: '*' })).toEqual([{ n: 0 }]);
      expect(await bankKnex('credits').where({ gid }).count({ n: '*' })).toEqual([{ n: 0 }]);
    });
  });

  describe('only the caller that began a transaction decides it', () => {
    async function openTransaction(options: { joinableBy?: string[] } = {}) {
      const gid = gidOf('own');
      const begun = await v1('orders', 'POST', '/transactions', {
        gid,
        ...options,
        branches: [{ branchId: '01', confirmUrl: `${bank}/dtx/account/confirm`, cancelUrl: `${bank}/dtx/account/cancel`, payload: { amount: 1 } }],
      });
      expect(begun).toMatchObject({ status: 201, body: { caller: 'orders' } });
      expect(await callBank('account', 'try', { gid, key: ORDERS_AT_BANK, caller: 'orders' })).toMatchObject({ status: 200 });
      return gid;
    }

    it('refuses another token’s submit and abort while the owner is still registering, and the owner finishes', async () => {
      const gid = await openTransaction();
      expect(await v1('twin', 'POST', `/transactions/${gid}/submit`)).toMatchObject({ status: 403, body: { code: 'NOT_OWNER' } });
      expect(await v1('twin', 'POST', `/transactions/${gid}/abort`)).toMatchObject({ status: 403, body: { code: 'NOT_OWNER' } });
      expect(await statusOf(gid)).toBe('trying');
      // The owner's second branch still joins, and its submit confirms both.
      const second = { branchId: '02', confirmUrl: `${bank}/dtx/account/confirm`, cancelUrl: `${bank}/dtx/account/cancel`, payload: { amount: 1 } };
      expect(await v1('orders', 'POST', `/transactions/${gid}/branches`, { branches: [second] })).toMatchObject({ status: 200, body: { registered: ['02'] } });
      expect(await callBank('account', 'try', { gid, branchId: '02', key: ORDERS_AT_BANK, caller: 'orders' })).toMatchObject({ status: 200 });
      expect(await v1('orders', 'POST', `/transactions/${gid}/submit`)).toMatchObject({ status: 200, body: { status: 'confirmed' } });
      expect(ran(gid, 'confirm').map((s) => s.caller)).toEqual(['orders', 'orders']);
    });

    it('refuses another token’s registration and re-sent begin, unless the begin named it to join', async () => {
      const gid = await openTransaction();
      const branch = { branchId: '09', confirmUrl: `${bank}/dtx/account/confirm`, cancelUrl: `${bank}/dtx/account/cancel` };
      expect(await v1('twin', 'POST', `/transactions/${gid}/branches`, { branches: [branch] })).toMatchObject({ status: 403, body: { code: 'NOT_OWNER' } });
      expect(await v1('twin', 'POST', '/transactions', { gid })).toMatchObject({ status: 403, body: { code: 'NOT_OWNER' } });

      const joinable = await openTransaction({ joinableBy: ['twin'] });
      expect(await v1('twin', 'POST', `/transactions/${joinable}/branches`, { branches: [branch] })).toMatchObject({
        status: 200,
        body: { registered: ['09'], caller: 'twin' },
      });
      expect(await callBank('account', 'try', { gid: joinable, branchId: '09', key: TWIN_AT_BANK, caller: 'twin', payload: null })).toMatchObject({
        status: 200,
      });
      // Joining is not deciding.
      expect(await v1('twin', 'POST', `/transactions/${joinable}/submit`)).toMatchObject({ status: 403, body: { code: 'NOT_OWNER' } });
      expect(await v1('orders', 'POST', `/transactions/${joinable}/abort`)).toMatchObject({ status: 200, body: { status: 'cancelled' } });
      // The cancel of the branch twin registered is sent for twin.
      expect(ran(joinable, 'cancel')).toContainEqual({ gid: joinable, branchId: '09', op: 'cancel', caller: 'twin' });
    });

    it('refuses another token’s abort of a prepared message', async () => {
      const gid = gidOf('own-msg');
      expect(await v1('orders', 'POST', '/messages', message(gid, 'mine'))).toMatchObject({ status: 201 });
      expect(await v1('twin', 'POST', `/transactions/${gid}/abort`)).toMatchObject({ status: 403, body: { code: 'NOT_OWNER' } });
      expect(await statusOf(gid)).toBe('prepared');
    });
  });

  describe('an initiator’s key signs its own tries and prepares, nothing else', () => {
    it.each([
      ['account', 'confirm'],
      ['account', 'cancel'],
      ['step', 'action'],
      ['step', 'compensate'],
      ['credit', 'deliver'],
      ['outbox', 'check'],
      ['xa-account', 'commit'],
      ['xa-account', 'rollback'],
    ] as const)('refuses %s/%s signed with an initiator’s key (401), running nothing', async (resource, op) => {
      const gid = gidOf('forged');
      const reply = await callBank(resource, op, { gid, branchId: op === 'check' ? 'sender' : '01', key: ORDERS_AT_BANK, caller: 'orders' });
      expect(reply).toMatchObject({ status: 401, body: { code: 'SIGNATURE_MISMATCH' } });
      expect(ran(gid)).toEqual([]);
    });

    it('refuses a confirm forged with the initiator’s key of a branch it tried, and applies only the coordinator’s', async () => {
      const gid = gidOf('forged-confirm');
      expect(await callBank('account', 'try', { gid, key: ORDERS_AT_BANK, caller: 'orders' })).toMatchObject({ status: 200 });
      expect(await callBank('account', 'confirm', { gid, key: ORDERS_AT_BANK, caller: 'orders' })).toMatchObject({ status: 401 });
      expect(ran(gid, 'confirm')).toEqual([]);
      expect(await callBank('account', 'confirm', { gid, key: BANK_COORDINATOR_KEY, caller: 'orders' })).toMatchObject({ status: 200 });
      expect(ran(gid, 'confirm')).toHaveLength(1);
    });

    it('refuses an XA commit of another service’s prepared branch forged with an initiator’s key; it stays prepared', async () => {
      const gid = gidOf('forged-xa');
      expect(await callBank('xa-account', 'prepare', { gid, key: TWIN_AT_BANK, caller: 'twin' })).toMatchObject({ status: 200 });
      expect(await callBank('xa-account', 'commit', { gid, key: ORDERS_AT_BANK, caller: 'orders' })).toMatchObject({ status: 401 });
      expect(await callBank('xa-account', 'commit', { gid, key: TWIN_AT_BANK, caller: 'twin' })).toMatchObject({ status: 401 });
      expect(await bankKnex('credits').where({ gid }).count({ n: '*' })).toEqual([{ n: 0 }]);
      // Only the coordinator's key finishes it (rolled back here, so nothing stays prepared).
      expect(await callBank('xa-account', 'rollback', { gid, key: BANK_COORDINATOR_KEY })).toMatchObject({ status: 200 });
    });

    it('takes a try only with the key of the initiator it names: not the coordinator’s, not another initiator’s, not an unknown one', async () => {
      const gid = gidOf('forged-try');
      expect(await callBank('account', 'try', { gid, key: BANK_COORDINATOR_KEY, caller: 'orders' })).toMatchObject({
        status: 401,
        body: { code: 'SIGNATURE_MISMATCH' },
      });
      expect(await callBank('account', 'try', { gid, key: BANK_COORDINATOR_KEY })).toMatchObject({ status: 401, body: { code: 'SIGNATURE_UNKNOWN_CALLER' } });
      expect(await callBank('account', 'try', { gid, key: TWIN_AT_BANK, caller: 'orders' })).toMatchObject({
        status: 401,
        body: { code: 'SIGNATURE_MISMATCH' },
      });
      expect(await callBank('account', 'try', { gid, key: TWIN_AT_BANK, caller: 'outsider' })).toMatchObject({
        status: 401,
        body: { code: 'SIGNATURE_UNKNOWN_CALLER' },
      });
      expect(ran(gid)).toEqual([]);
      expect(await callBank('account', 'try', { gid, key: TWIN_AT_BANK, caller: 'twin' })).toMatchObject({ status: 200 });
      expect(ran(gid)).toEqual([{ gid, branchId: '01', op: 'try', caller: 'twin' }]);
    });

    it('runs a TCC transaction end to end with each side holding only its own key, the handlers told the caller', async () => {
      const outcome = await dtx.orders.tcc(async (tx) => {
        await tx.try({ url: `${bank}/dtx/account`, payload: { amount: 2 } });
      });
      expect(outcome.status).toBe('confirmed');
      expect(ran(outcome.gid).map((s) => `${s.op}:${s.caller}`)).toEqual(['try:orders', 'confirm:orders']);
    });
  });

  describe('a participant runs a try only for a branch the coordinator registered for its caller', () => {
    it('refuses a try without the coordinator’s registration proof, or with one made for another branch or caller', async () => {
      const gid = gidOf('unregistered');
      expect(await callBank('account', 'try', { gid, key: ORDERS_AT_BANK, caller: 'orders', registration: null })).toMatchObject({
        status: 409,
        body: { code: 'NOT_REGISTERED' },
      });
      const forOther = registrationProof(BANK_COORDINATOR_KEY, { gid, branchId: '02', caller: 'orders' });
      expect(await callBank('account', 'try', { gid, key: ORDERS_AT_BANK, caller: 'orders', registration: forOther })).toMatchObject({ status: 409 });
      const madeUp = registrationProof(ORDERS_AT_BANK, { gid, branchId: '01', caller: 'orders' });
      expect(await callBank('account', 'try', { gid, key: ORDERS_AT_BANK, caller: 'orders', registration: madeUp })).toMatchObject({ status: 409 });
      expect(ran(gid)).toEqual([]);
    });

    it('never lets another initiator run its own payload under the owner’s branch (with the owner’s proof or without)', async () => {
      const gid = gidOf('hijack');
      const branch = { branchId: '01', confirmUrl: `${bank}/dtx/account/confirm`, cancelUrl: `${bank}/dtx/account/cancel`, payload: { amount: 5 } };
      const begun = await v1('orders', 'POST', '/transactions', { gid, joinableBy: ['twin'], branches: [branch] });
      const proof = (begun.body.proofs as Record<string, string>)['01']!;
      expect(proof).toMatch(/^v1=[0-9a-f]{64}$/);
      // The other initiator, even one allowed to join, gets no proof for a branch it did not register…
      const resent = await v1('twin', 'POST', `/transactions/${gid}/branches`, { branches: [branch] });
      expect(resent).toMatchObject({ status: 200, body: { registered: [], proofs: {} } });
      // …and the owner's proof names the owner.
      for (const registration of [proof, null]) {
        expect(await callBank('account', 'try', { gid, key: TWIN_AT_BANK, caller: 'twin', payload: { amount: 999 }, registration })).toMatchObject({
          status: 409,
          body: { code: 'NOT_REGISTERED' },
        });
      }
      expect(await callBank('xa-account', 'prepare', { gid, key: TWIN_AT_BANK, caller: 'twin', registration: proof })).toMatchObject({ status: 409 });
      expect(ran(gid)).toEqual([]);
      expect(await callBank('account', 'try', { gid, key: ORDERS_AT_BANK, caller: 'orders', payload: { amount: 5 }, registration: proof })).toMatchObject({
        status: 200,
      });
      expect(await v1('orders', 'POST', `/transactions/${gid}/submit`)).toMatchObject({ status: 200, body: { status: 'confirmed' } });
      expect(ran(gid).map((s) => `${s.op}:${s.caller}`)).toEqual(['try:orders', 'confirm:orders']);
    });
  });

  describe('a participant joins a transaction only when its initiator names it', () => {
    it('confirms the joined branch, sent for the joining service, when the begin named it', async () => {
      const outcome = await dtx.orders.tcc(async (tx) => tx.try({ url: `${bank}/dtx/nested`, payload: { amount: 1 } }), { joinableBy: ['twin'] });
      expect(outcome.status).toBe('confirmed');
      expect(ran(outcome.gid).map((s) => `${s.op} ${s.branchId} ${s.caller}`)).toEqual(
        expect.arrayContaining(['try 01 orders', 'try 01-01 twin', 'confirm 01 orders', 'confirm 01-01 twin']),
      );
    });

    it('refuses the join of a service the begin did not name: the outer try fails and everything is cancelled', async () => {
      let gid = '';
      const attempt = dtx.orders.tcc(async (tx) => {
        gid = tx.gid;
        await tx.try({ url: `${bank}/dtx/nested`, payload: { amount: 1 } });
      });
      await expect(attempt).rejects.toBeInstanceOf(TryFailedError);
      await until(gid, 'cancelled');
      expect(ran(gid).map((s) => `${s.op} ${s.branchId}`)).toEqual(['try 01']);
    });
  });

  describe('a participant refuses by caller', () => {
    it('refuses a try of a caller its resource does not list (409): the initiator aborts, the cancel is a null compensation', async () => {
      let gid = '';
      const attempt = dtx.twin.tcc(async (tx) => {
        gid = tx.gid;
        await tx.try({ url: `${bank}/dtx/guarded`, payload: { amount: 1 } });
      });
      await expect(attempt).rejects.toBeInstanceOf(TryRejectedError);
      await expect(attempt).rejects.toMatchObject({ code: 'CALLER_NOT_ALLOWED' });
      await until(gid, 'cancelled');
      expect(ran(gid)).toEqual([]);
      const listed = await dtx.orders.tcc(async (tx) => tx.try({ url: `${bank}/dtx/guarded`, payload: { amount: 1 } }));
      expect(listed.status).toBe('confirmed');
    });

    it('turns back a saga whose step the participant refuses for its caller', async () => {
      const gid = gidOf('guarded-saga');
      expect(await v1('twin', 'POST', '/sagas', { gid, steps: [sagaStep('guarded-step')] })).toMatchObject({ status: 201, body: { status: 'compensated' } });
      expect(ran(gid)).toEqual([]);
    });
  });

  describe('a message is dropped only by its sender’s record', () => {
    const prepare = (gid: string) =>
      dtx.orders.coordinator.prepareMessage({
        gid,
        checkUrl: `${bank}/dtx/outbox/check`,
        branches: [{ id: 'credit', url: `${bank}/dtx/credit/deliver`, payload: { note: 'credit' } }],
      });

    it('delivers, instead of dropping, a message whose sender committed before the abort came', async () => {
      const gid = gidOf('committed-then-abort');
      await prepare(gid);
      // The sender's local transaction committed (its row and its work), and its submit is lost.
      await bankKnex.transaction(async (trx) => {
        await claimSenderRow(trx, 'dtx_barrier', gid, 'commit', Date.now());
        await trx('orders').insert({ gid });
      });
      const aborted = dtx.orders.coordinator.abort(gid, { reason: 'a twin request failed' });
      await expect(aborted).rejects.toBeInstanceOf(CoordinatorRefusedError);
      await expect(aborted).rejects.toMatchObject({ code: 'ILLEGAL_STATE' });
      await until(gid, 'delivered');
      expect(await bankKnex('credits').where({ gid }).count({ n: '*' })).toEqual([{ n: 1 }]);
    });

    it('lets two requests with one gid deliver exactly what committed: the failed one’s abort never drops the other’s commit', async () => {
      const gid = gidOf('twins');
      const build = () =>
        dtx.orders.message({ gid, checkUrl: `${bank}/dtx/outbox/check` }).deliver('credit', { url: `${bank}/dtx/credit`, payload: { note: 'credit' } });
      let fail!: () => void;
      const failing = new Promise<void>((resolve) => (fail = resolve));
      let inside!: () => void;
      const reachedWork = new Promise<void>((resolve) => (inside = resolve));
      let commitSecond!: () => void;
      const secondMayCommit = new Promise<void>((resolve) => (commitSecond = resolve));
      let secondInside!: () => void;
      const reachedSecondWork = new Promise<void>((resolve) => (secondInside = resolve));
      // The first request holds the message's sender row while its work runs, then fails.
      let firstSettled = false;
      const first = build()
        .commitWith(bankKnex, async () => {
          inside();
          await failing;
          throw new Error('the first request failed');
        })
        .finally(() => (firstSettled = true));
      await reachedWork;
      // The second one (the same request sent again) queues on that row, and gets it once the first rolled back.
      const second = build().commitWith(bankKnex, async (trx) => {
        secondInside();
        await secondMayCommit;
        await trx('orders').insert({ gid });
        return 'second';
      });
      await waitFor(async () => (await claimsInFlight(gid)) > 0, { what: 'the second request to wait on the sender row', timeoutMs: 10_000 });
      fail();
      await reachedSecondWork;
      // The second commits only once the first is dropping the message: its drop is waiting on the
      // sender row the second holds, or (were it to drop without asking) it has already finished.
      await waitFor(async () => firstSettled || (await claimsInFlight(gid)) > 0, { what: 'the first request to drop its message', timeoutMs: 10_000 });
      commitSecond();
      await expect(first).rejects.toThrow('the first request failed');
      const outcome = await second;
      expect(outcome).toMatchObject({ result: 'second', status: 'submitted' });
      await until(gid, 'delivered');
      expect(await bankKnex('credits').where({ gid }).count({ n: '*' })).toEqual([{ n: 1 }]);
      expect(await bankKnex('orders').where({ gid }).count({ n: '*' })).toEqual([{ n: 1 }]);
    });

    it('drops a message whose sender never committed, and a late commit of it is refused', async () => {
      const gid = gidOf('never-committed');
      await prepare(gid);
      expect(await dtx.orders.coordinator.abort(gid)).toMatchObject({ status: 'aborted' });
      const late = dtx.orders
        .message({ gid, checkUrl: `${bank}/dtx/outbox/check` })
        .deliver('credit', { url: `${bank}/dtx/credit`, payload: { note: 'credit' } })
        .commitWith(bankKnex, async (trx) => trx('orders').insert({ gid }));
      await expect(late).rejects.toBeInstanceOf(MessageAbortedError);
      expect(await bankKnex('orders').where({ gid }).count({ n: '*' })).toEqual([{ n: 0 }]);
      expect(await bankKnex('credits').where({ gid }).count({ n: '*' })).toEqual([{ n: 0 }]);
    });
  });
});
