/**
 * Transactional messages on the participant side, against real MariaDB and
 * PostgreSQL (every suite runs on each) and without a coordinator: message receivers (`<mount>/<name>/deliver`) and the
 * sender's check-back (`<mount>/<name>/check`) over both adapters (Fastify
 * plugin, node:http handler) with signed calls, and the sender's
 * `commitWith` local transaction against a stub coordinator that answers the
 * prepare, submit and abort calls.
 */
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Knex } from 'knex';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BranchRejectedError,
  callHeaders,
  cleanupBarrier,
  createParticipant,
  defineMessageReceiver,
  defineMessageSender,
  defineSqlMessageReceiver,
  DtxClient,
  MESSAGE_SENDER_BRANCH,
  MessageAbortedError,
  MessageAlreadyCommittedError,
  ParticipantConfigError,
} from '../../participant-sdk/index.ts';
import type { BranchOp, MessageReceiverResource, Participant } from '../../participant-sdk/index.ts';
import { waitFor } from '../../tools/wait.ts';
import type { TestDatabase } from '../support/databases.ts';
import { BARRIER_DATABASES, type BarrierDatabase } from '../support/barrier-databases.ts';
import { fastifyTransport, nodeTransport, type Reply, type Transport } from '../support/participant-transports.ts';

/** The coordinator's key: deliveries and check-backs are the coordinator's calls, verified with it only. */
const COORDINATOR_KEY = 'message-http-secret-0123456789';
const NOW = 1_700_000_000_000;
const PREFIX = '/dtx';
const PUBLIC_URL = `http://participant.test${PREFIX}`;

interface Note {
  text: string;
  reject?: boolean;
  /** Hold the handler (inside its transaction) until the test releases it. */
  hold?: boolean;
}

/** The database of the suite running (BARRIER_DATABASES). */
let database: BarrierDatabase;
let db: TestDatabase;
let knex: Knex;
/** Released by the test: a held handler waits on it. */
let release: () => void = () => undefined;
let held: Promise<void> = Promise.resolve();
/** Handlers (and sender work) that reached the hold: their barrier row is claimed, uncommitted. */
let holding = 0;

function holdHandlers(): void {
  holding = 0;
  held = new Promise<void>((resolve) => (release = resolve));
}

async function hold(): Promise<void> {
  holding++;
  await held;
}

async function setUp(label: string): Promise<void> {
  db = await database.create(`msg participant ${label}`);
  knex = database.connect(db, 12);
  await knex.schema.createTable('effects', (t) => {
    t.increments('id');
    t.string('gid', 128).notNullable();
    t.string('branch_id', 64).notNullable();
    t.string('text', 64).notNullable();
  });
  holdHandlers();
}

async function tearDown(): Promise<void> {
  release();
  await knex?.destroy();
  await db?.drop();
}

const RECEIVERS: Record<string, MessageReceiverResource<Note>> = {
  'knex handler': defineMessageReceiver<Note>({
    name: 'notes',
    async deliver({ gid, branchId, payload, trx }) {
      if (payload.hold) await hold();
      await trx('effects').insert({ gid, branch_id: branchId, text: payload.text });
      if (payload.reject) throw new BranchRejectedError('no room for notes', { code: 'NO_ROOM' });
    },
  }),
  'plain-SQL handler': defineSqlMessageReceiver<Note>({
    name: 'notes',
    async deliver({ gid, branchId, payload, sql }) {
      if (payload.hold) await hold();
      await sql('insert into effects (gid, branch_id, text) values (?, ?, ?)', [gid, branchId, payload.text]);
      if (payload.reject) throw new BranchRejectedError('no room for notes', { code: 'NO_ROOM' });
    },
  }),
};

const outbox = defineMessageSender({ name: 'outbox' });

async function makeParticipant(kind: string): Promise<Participant> {
  const participant = createParticipant({
    knex,
    resources: [RECEIVERS[kind]!, outbox],
    // Receivers and senders take no tries: no initiator keys.
    coordinatorKey: COORDINATOR_KEY,
    publicUrl: PUBLIC_URL,
    now: () => NOW,
    logger: pino({ level: 'silent' }),
  });
  await participant.migrate();
  return participant;
}

interface CallSpec {
  op: BranchOp;
  gid?: string;
  branchId?: string;
  resource?: string;
  payload?: unknown;
  key?: string;
}

function request(spec: CallSpec): { path: string; headers: Record<string, string>; body: string } {
  const body = JSON.stringify(spec.payload ?? (spec.op === 'check' ? {} : { text: 'hello' }));
  const path = `${PREFIX}/${spec.resource ?? (spec.op === 'check' ? 'outbox' : 'notes')}/${spec.op}`;
  const branchId = spec.branchId ?? (spec.op === 'check' ? MESSAGE_SENDER_BRANCH : 'notify');
  const url = new URL(path, PUBLIC_URL);
  return { path, body, headers: callHeaders(spec.key ?? COORDINATOR_KEY, { url, gid: spec.gid ?? 'msg-1', branchId, op: spec.op, body, timestamp: NOW }) };
}

async function send(t: Transport, spec: CallSpec): Promise<Reply> {
  const r = request(spec);
  return t.post(r.path, r.headers, r.body);
}

async function effects(gid?: string): Promise<number> {
  const [row] = await knex('effects')
    .modify((q) => (gid ? q.where({ gid }) : q))
    .count({ n: '*' });
  return Number(row?.['n']);
}

async function barrierRows(): Promise<Array<{ gid: string; branch_id: string; op: string; origin_op: string }>> {
  return knex('dtx_barrier').select('gid', 'branch_id', 'op', 'origin_op').orderBy('id');
}

/** Sessions of this test's database waiting on a lock another transaction holds (on MySQL: its statements starting with `prefix` still executing). */
async function statementsInFlight(prefix: string): Promise<number> {
  return database.lockWaits(knex, db, [prefix]);
}

const viaFastify = (participant: Participant) => fastifyTransport(participant, { prefix: PREFIX });
const viaNodeHandler = (participant: Participant) => nodeTransport(participant, { prefix: PREFIX });

/** A stand-in for the coordinator's message API: records the calls, answers as told. */
interface StubCoordinator {
  url: string;
  calls: Array<{ path: string; body: Record<string, unknown> }>;
  /** Status of the prepare's answer (a re-send of a message the coordinator already has). */
  preparedStatus: string;
  /** When true, submit answers 503 (the coordinator's log is down). */
  submitDown: boolean;
  close(): Promise<void>;
}

async function startStubCoordinator(): Promise<StubCoordinator> {
  const app: FastifyInstance = Fastify();
  const stub: StubCoordinator = { url: '', calls: [], preparedStatus: 'prepared', submitDown: false, close: () => app.close() };
  app.post<{ Body: Record<string, unknown> }>('/v1/messages', async (req, reply) => {
    stub.calls.push({ path: req.url, body: req.body });
    const created = stub.preparedStatus === 'prepared' && !stub.calls.slice(0, -1).some((c) => c.path === req.url && c.body['gid'] === req.body['gid']);
    return reply.code(created ? 201 : 200).send({ gid: req.body['gid'], status: stub.preparedStatus, deadlineAt: new Date(NOW).toISOString(), created });
  });
  app.post<{ Params: { gid: string; action: string }; Body: Record<string, unknown> }>('/v1/transactions/:gid/:action', async (req, reply) => {
    stub.calls.push({ path: req.url, body: req.body ?? {} });
    if (req.params.action === 'submit' && stub.submitDown) return reply.code(503).send({ code: 'LOG_UNAVAILABLE', message: 'log down' });
    return { gid: req.params.gid, status: req.params.action === 'submit' ? 'submitted' : 'aborting' };
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  stub.url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  return stub;
}

describe.each(BARRIER_DATABASES)('on $name', (suiteDatabase) => {
  beforeEach(async (context) => {
    database = suiteDatabase;
    await setUp(context.task.name);
  });

  afterEach(tearDown);

  describe.each([
    ['fastify plugin', 'knex handler', viaFastify],
    ['node handler', 'knex handler', viaNodeHandler],
    ['fastify plugin', 'plain-SQL handler', viaFastify],
    ['node handler', 'plain-SQL handler', viaNodeHandler],
  ] as const)('message receiver over HTTP: %s, %s', (_name, kind, makeTransport) => {
    let transport: Transport | undefined;

    afterEach(async () => {
      await transport?.close();
      transport = undefined;
    });

    async function connect(): Promise<Transport> {
      transport = await makeTransport(await makeParticipant(kind));
      return transport;
    }

    it('applies a delivery once at <mount>/<name>/deliver, claiming its deliver row; a re-delivery is a duplicate', async () => {
      const t = await connect();
      expect(await send(t, { op: 'deliver' })).toEqual({ status: 200, contentType: 'application/json; charset=utf-8', body: { ok: true, result: null } });
      expect(await barrierRows()).toEqual([{ gid: 'msg-1', branch_id: 'notify', op: 'deliver', origin_op: 'deliver' }]);
      expect(await send(t, { op: 'deliver' })).toMatchObject({ status: 200, body: { ok: true, duplicate: true } });
      expect(await effects()).toBe(1);
      // Another receiver branch of the same message is its own delivery.
      expect(await send(t, { op: 'deliver', branchId: 'audit' })).toMatchObject({ status: 200, body: { ok: true, result: null } });
      expect(await effects()).toBe(2);
    });

    it('applies concurrent duplicate deliveries once: the others wait on the first one and answer duplicate', async () => {
      const t = await connect();
      const first = send(t, { op: 'deliver', payload: { text: 'once', hold: true } });
      // The first delivery holds its row, uncommitted, until released.
      await waitFor(() => holding === 1 || undefined, { what: 'the first delivery holding its row' });
      const twins = Array.from({ length: 4 }, () => send(t, { op: 'deliver', payload: { text: 'once', hold: true } }));
      await waitFor(async () => (await statementsInFlight('insert ignore into')) === 4 || undefined, { what: 'the twins waiting on the first delivery' });
      release();
      const replies = await Promise.all([first, ...twins]);
      expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
      expect(replies.filter((r) => r.body['duplicate'] === true)).toHaveLength(4);
      expect(await effects()).toBe(1);
    });

    it('answers a refused delivery 409 with its code and keeps nothing of it; the next delivery applies it', async () => {
      const t = await connect();
      const refused = await send(t, { op: 'deliver', payload: { text: 'x', reject: true } });
      expect(refused).toMatchObject({ status: 409, body: { code: 'NO_ROOM', message: 'no room for notes' } });
      expect(await barrierRows()).toEqual([]);
      expect(await effects()).toBe(0);
      expect(await send(t, { op: 'deliver' })).toMatchObject({ status: 200, body: { ok: true, result: null } });
      expect(await effects()).toBe(1);
    });

    it('answers ops of other modes 404 UNKNOWN_OP on a receiver and on a sender', async () => {
      const t = await connect();
      for (const op of ['try', 'action', 'check'] as const) {
        expect(await send(t, { op, resource: 'notes' }), op).toMatchObject({
          status: 404,
          body: { code: 'UNKNOWN_OP', message: `resource notes has no op "${op}"` },
        });
      }
      for (const op of ['deliver', 'confirm'] as const) {
        expect(await send(t, { op, resource: 'outbox' }), op).toMatchObject({
          status: 404,
          body: { code: 'UNKNOWN_OP', message: `resource outbox has no op "${op}"` },
        });
      }
      expect(await barrierRows()).toEqual([]);
    });

    it('refuses a forged delivery and a forged check-back 401, writing nothing', async () => {
      const t = await connect();
      expect(await send(t, { op: 'deliver', key: 'not-the-secret-at-all' })).toMatchObject({ status: 401, body: { code: 'SIGNATURE_MISMATCH' } });
      expect(await send(t, { op: 'check', key: 'not-the-secret-at-all' })).toMatchObject({ status: 401, body: { code: 'SIGNATURE_MISMATCH' } });
      expect(await barrierRows()).toEqual([]);
    });
  });

  describe.each([
    ['fastify plugin', viaFastify],
    ['node handler', viaNodeHandler],
  ] as const)('message sender check-back over HTTP: %s', (_name, makeTransport) => {
    let transport: Transport | undefined;
    let coordinator: StubCoordinator;
    let dtx: DtxClient;

    beforeEach(async () => {
      coordinator = await startStubCoordinator();
      dtx = new DtxClient({ coordinatorUrl: coordinator.url, apiToken: null, initiatorKey: null, coordinatorRetries: 0, now: () => NOW });
      transport = await makeTransport(await makeParticipant('knex handler'));
    });

    afterEach(async () => {
      await transport?.close();
      transport = undefined;
      await dtx.close();
      await coordinator.close();
    });

    const message = (gid: string) =>
      dtx.message({ gid, checkUrl: `${PUBLIC_URL}/outbox/check` }).deliver('notify', { url: `${PUBLIC_URL}/notes`, payload: { text: 'hello' } });
    const ownWork =
      (gid: string, text = 'order') =>
      async (trx: Knex.Transaction) => {
        await trx('effects').insert({ gid, branch_id: 'order', text });
        return text;
      };
    const paths = () => coordinator.calls.map((c) => c.path);

    it('answers 200 once the sender committed, and the same on every later check', async () => {
      const outcome = await message('msg-ok').commitWith(knex, ownWork('msg-ok'));
      expect(outcome).toEqual({ gid: 'msg-ok', status: 'submitted', result: 'order' });
      expect(await barrierRows()).toEqual([{ gid: 'msg-ok', branch_id: MESSAGE_SENDER_BRANCH, op: 'check', origin_op: 'commit' }]);
      for (let i = 0; i < 2; i++)
        expect(await send(transport!, { op: 'check', gid: 'msg-ok' })).toMatchObject({ status: 200, body: { ok: true, committed: true } });
      expect(await barrierRows()).toHaveLength(1);
    });

    it('answers 409 NOT_COMMITTED when the sender never committed, again on a repeat, and then refuses a late commit, rolling it back', async () => {
      const never = await send(transport!, { op: 'check', gid: 'msg-late' });
      expect(never).toMatchObject({ status: 409, body: { code: 'NOT_COMMITTED' } });
      expect(await send(transport!, { op: 'check', gid: 'msg-late' })).toMatchObject({ status: 409, body: { code: 'NOT_COMMITTED' } });
      expect(await barrierRows()).toEqual([{ gid: 'msg-late', branch_id: MESSAGE_SENDER_BRANCH, op: 'check', origin_op: 'check' }]);

      let ran = false;
      const late = message('msg-late').commitWith(knex, async (trx) => {
        ran = true;
        return ownWork('msg-late')(trx);
      });
      await expect(late).rejects.toBeInstanceOf(MessageAbortedError);
      await expect(late).rejects.toMatchObject({ gid: 'msg-late', code: 'MESSAGE_ABORTED' });
      expect(ran).toBe(false);
      expect(await effects()).toBe(0);
      // Prepared (a re-send, as the coordinator sees it), never submitted.
      expect(paths()).toEqual(['/v1/messages']);
    });

    it('makes a check arriving while the sender transaction is in flight wait for it, and answer 200 after its commit', async () => {
      const committing = message('msg-wait').commitWith(knex, async (trx) => {
        await hold();
        return ownWork('msg-wait')(trx);
      });
      await waitFor(() => holding === 1 || undefined, { what: 'the sender holding its row' });
      const check = send(transport!, { op: 'check', gid: 'msg-wait' });
      await waitFor(async () => (await statementsInFlight('insert ignore into')) === 1 || undefined, { what: 'the check waiting on the sender row' });
      release();
      expect(await check).toMatchObject({ status: 200, body: { ok: true, committed: true } });
      expect(await committing).toMatchObject({ gid: 'msg-wait', status: 'submitted', result: 'order' });
      expect(await effects('msg-wait')).toBe(1);
    });

    it('makes a check arriving while the sender transaction is in flight answer 409 after its rollback; the message is aborted', async () => {
      const failing = message('msg-fail').commitWith(knex, async (trx) => {
        await ownWork('msg-fail')(trx);
        await hold();
        throw new Error('out of stock');
      });
      await waitFor(() => holding === 1 || undefined, { what: 'the sender holding its row' });
      const check = send(transport!, { op: 'check', gid: 'msg-fail' });
      await waitFor(async () => (await statementsInFlight('insert ignore into')) === 1 || undefined, { what: 'the check waiting on the sender row' });
      release();
      await expect(failing).rejects.toThrow('out of stock');
      expect(await check).toMatchObject({ status: 409, body: { code: 'NOT_COMMITTED' } });
      expect(await effects()).toBe(0);
      expect(await barrierRows()).toEqual([{ gid: 'msg-fail', branch_id: MESSAGE_SENDER_BRANCH, op: 'check', origin_op: 'check' }]);
      expect(paths()).toEqual(['/v1/messages', '/v1/transactions/msg-fail/abort']);
      expect(coordinator.calls[1]!.body).toMatchObject({ reason: 'out of stock', waitMs: 0 });
    });

    it("counts a receiver's deliver row and a sender's row as finished branches, deleted after the retention", async () => {
      await send(transport!, { op: 'deliver', gid: 'msg-old' });
      await message('msg-old').commitWith(knex, ownWork('msg-old'));
      await send(transport!, { op: 'check', gid: 'msg-never' });
      expect(await barrierRows()).toHaveLength(3);
      expect(await cleanupBarrier(knex, { olderThanMs: 1_000, now: () => NOW + 999 })).toBe(0);
      expect(await cleanupBarrier(knex, { olderThanMs: 1_000, now: () => NOW + 1_001 })).toBe(3);
    });

    it('refuses a check-back for any branch but the sender 400, writing nothing', async () => {
      expect(await send(transport!, { op: 'check', gid: 'msg-x', branchId: 'notify' })).toMatchObject({ status: 400, body: { code: 'BAD_BARRIER_INPUT' } });
      expect(await barrierRows()).toEqual([]);
    });
  });

  describe('commitWith against a stub coordinator', () => {
    let coordinator: StubCoordinator;
    let dtx: DtxClient;

    beforeEach(async () => {
      coordinator = await startStubCoordinator();
      dtx = new DtxClient({ coordinatorUrl: coordinator.url, apiToken: null, initiatorKey: null, coordinatorRetries: 0, now: () => NOW });
      await (await makeParticipant('knex handler')).migrate();
    });

    afterEach(async () => {
      await dtx.close();
      await coordinator.close();
    });

    const insertOrder = (gid: string) => async (trx: Knex.Transaction) => {
      await trx('effects').insert({ gid, branch_id: 'order', text: 'order' });
      return 7;
    };

    it('prepares with the receivers, commits the work with the sender row, then submits without waiting', async () => {
      const deliverAt = new Date(NOW + 60_000);
      const outcome = await dtx
        .message({ gid: 'msg-a', checkUrl: 'http://orders.test/dtx/outbox/check', timeoutMs: 5_000, deliverAt, reason: 'order 7' })
        .deliver('points', { url: 'http://loyalty.test/dtx/award-points/', payload: { points: 3 } })
        .deliver('mail', { deliverUrl: 'http://mailer.test/hooks/receipt' })
        .commitWith(knex, insertOrder('msg-a'));
      expect(outcome).toEqual({ gid: 'msg-a', status: 'submitted', result: 7 });
      expect(coordinator.calls).toEqual([
        {
          path: '/v1/messages',
          body: {
            gid: 'msg-a',
            checkUrl: 'http://orders.test/dtx/outbox/check',
            timeoutMs: 5_000,
            deliverAt: deliverAt.toISOString(),
            reason: 'order 7',
            branches: [
              { id: 'points', url: 'http://loyalty.test/dtx/award-points/deliver', payload: { points: 3 } },
              { id: 'mail', url: 'http://mailer.test/hooks/receipt', payload: null },
            ],
          },
        },
        { path: '/v1/transactions/msg-a/submit', body: { mode: 'msg', reason: 'order 7', waitMs: 0 } },
      ]);
      expect(await effects('msg-a')).toBe(1);
      expect(await barrierRows()).toEqual([{ gid: 'msg-a', branch_id: MESSAGE_SENDER_BRANCH, op: 'check', origin_op: 'commit' }]);
    });

    it('rolls back and aborts when the work throws, and rethrows its error', async () => {
      const failure = new Error('card declined');
      const sending = dtx
        .message({ gid: 'msg-b', checkUrl: 'http://orders.test/dtx/outbox/check' })
        .deliver('points', { url: 'http://loyalty.test/dtx/award-points' })
        .commitWith(knex, async (trx) => {
          await insertOrder('msg-b')(trx);
          throw failure;
        });
      await expect(sending).rejects.toBe(failure);
      expect(await effects()).toBe(0);
      // The sender row is claimed as "never committed" before the abort: a twin of this gid sent again cannot commit later.
      expect(await barrierRows()).toEqual([{ gid: 'msg-b', branch_id: MESSAGE_SENDER_BRANCH, op: 'check', origin_op: 'check' }]);
      expect(coordinator.calls.map((c) => c.path)).toEqual(['/v1/messages', '/v1/transactions/msg-b/abort']);
      const late = dtx
        .message({ gid: 'msg-b', checkUrl: 'http://orders.test/dtx/outbox/check' })
        .deliver('points', { url: 'http://loyalty.test/dtx/award-points' });
      await expect(late.commitWith(knex, insertOrder('msg-b'))).rejects.toBeInstanceOf(MessageAbortedError);
      expect(await effects()).toBe(0);
    });

    it('keeps the commit when the submit cannot get through: the outcome says prepared, for the check-back to deliver', async () => {
      coordinator.submitDown = true;
      const outcome = await dtx
        .message({ gid: 'msg-c', checkUrl: 'http://orders.test/dtx/outbox/check' })
        .deliver('points', { url: 'http://loyalty.test/dtx/award-points' })
        .commitWith(knex, insertOrder('msg-c'), { waitMs: 2_000 });
      expect(outcome).toEqual({ gid: 'msg-c', status: 'prepared', result: 7 });
      expect(coordinator.calls[1]).toEqual({ path: '/v1/transactions/msg-c/submit', body: { mode: 'msg', waitMs: 2_000 } });
      expect(await effects('msg-c')).toBe(1);
    });

    it('never runs the work twice for one gid, and never for a message the coordinator already dropped', async () => {
      const message = () =>
        dtx.message({ gid: 'msg-d', checkUrl: 'http://orders.test/dtx/outbox/check' }).deliver('points', { url: 'http://loyalty.test/dtx/p' });
      await message().commitWith(knex, insertOrder('msg-d'));
      const again = message().commitWith(knex, insertOrder('msg-d'));
      await expect(again).rejects.toBeInstanceOf(MessageAlreadyCommittedError);
      expect(await effects('msg-d')).toBe(1);
      // Submitted again on the way: a committed message is delivered even if the first submit was lost.
      expect(coordinator.calls.map((c) => c.path)).toEqual(['/v1/messages', '/v1/transactions/msg-d/submit', '/v1/messages', '/v1/transactions/msg-d/submit']);

      coordinator.preparedStatus = 'aborted';
      let ran = false;
      const dropped = dtx
        .message({ gid: 'msg-e', checkUrl: 'http://orders.test/dtx/outbox/check' })
        .deliver('points', { url: 'http://loyalty.test/dtx/p' })
        .commitWith(knex, async () => {
          ran = true;
        });
      await expect(dropped).rejects.toBeInstanceOf(MessageAbortedError);
      expect(ran).toBe(false);
      expect(await barrierRows()).toHaveLength(1);
    });

    it('refuses a message without receivers, a reserved or repeated receiver id, and a sender definition with a bad name', () => {
      const message = dtx.message({ gid: 'msg-f', checkUrl: 'http://orders.test/dtx/outbox/check' });
      expect(() => message.deliver(MESSAGE_SENDER_BRANCH, { url: 'http://loyalty.test/dtx/p' })).toThrow(/sender's own/);
      message.deliver('points', { url: 'http://loyalty.test/dtx/p' });
      expect(() => message.deliver('points', { url: 'http://loyalty.test/dtx/p' })).toThrow(/added twice/);
      expect(() => message.deliver('bad id', { url: 'http://loyalty.test/dtx/p' })).toThrow(/1-64 characters/);
      expect(() => defineMessageSender({ name: 'Outbox' })).toThrow(ParticipantConfigError);
      expect(() => defineMessageReceiver({ name: 'notes' } as never)).toThrow(ParticipantConfigError);
    });

    it('refuses to send a message without receivers before calling the coordinator', async () => {
      await expect(dtx.message({ gid: 'msg-g', checkUrl: 'http://orders.test/dtx/outbox/check' }).commitWith(knex, insertOrder('msg-g'))).rejects.toMatchObject(
        {
          code: 'INVALID_RECEIVER',
        },
      );
      expect(coordinator.calls).toEqual([]);
    });
  });
});
