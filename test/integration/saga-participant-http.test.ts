/**
 * A saga resource over HTTP, through both adapters (Fastify plugin with
 * app.inject, node:http handler on a real server) and both handler kinds,
 * next to a TCC resource on the same participant, against real MariaDB:
 * routing of `<mount>/<name>/{action,compensate}`, the 404 of an op of the
 * other mode, signatures, and the barrier's replies as the coordinator sees them.
 */
import knexFactory from 'knex';
import type { Knex } from 'knex';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import {
  BranchRejectedError,
  createParticipant,
  defineSaga,
  defineSqlSaga,
  defineTcc,
  HEADERS,
  ParticipantConfigError,
  callHeaders,
  registrationProof,
} from '../../participant-sdk/index.ts';
import type { BranchOp, Participant, SagaResource } from '../../participant-sdk/index.ts';
import { createTestDatabase } from '../support/databases.ts';
import type { TestDatabase } from '../support/databases.ts';
import { fastifyTransport, nodeTransport, type Reply, type Transport } from '../support/participant-transports.ts';

/** The coordinator's key: the only one a saga's action or compensate verifies with. */
const COORDINATOR_KEY = 'saga-http-secret-0123456789';
/** The initiator that may try the TCC resource beside the saga, and its own key. */
const INITIATOR = 'orders';
const INITIATOR_KEY = 'orders-initiator-key-0123456789';
const NOW = 1_700_000_000_000;
const PREFIX = '/dtx';
const PUBLIC_URL = `http://participant.test${PREFIX}`;

interface StepPayload {
  account: string;
  amount: number;
  reject?: boolean;
}

let db: TestDatabase;
let knex: Knex;

beforeEach(async (context) => {
  db = await createTestDatabase(inject('mysqlUrl'), `saga http ${context.task.name}`);
  knex = knexFactory({ client: 'mysql2', connection: db.url, pool: { min: 0, max: 5 } });
  await knex.schema.createTable('effects', (t) => {
    t.increments('id');
    t.string('gid', 128).notNullable();
    t.string('op', 16).notNullable();
    t.integer('amount').notNullable();
  });
});

afterEach(async () => {
  await knex?.destroy();
  await db?.drop();
});

const SAGAS: Record<string, SagaResource<StepPayload>> = {
  'knex handlers': defineSaga<StepPayload>({
    name: 'withdraw',
    async action({ gid, op, payload, trx }) {
      await trx('effects').insert({ gid, op, amount: payload.amount });
      if (payload.reject) throw new BranchRejectedError('insufficient funds', { code: 'INSUFFICIENT_FUNDS' });
    },
    async compensate({ gid, op, payload, trx }) {
      await trx('effects').insert({ gid, op, amount: payload.amount });
    },
  }),
  'plain-SQL handlers': defineSqlSaga<StepPayload>({
    name: 'withdraw',
    async action({ gid, op, payload, sql }) {
      await sql('insert into effects (gid, op, amount) values (?, ?, ?)', [gid, op, payload.amount]);
      if (payload.reject) throw new BranchRejectedError('insufficient funds', { code: 'INSUFFICIENT_FUNDS' });
    },
    async compensate({ gid, op, payload, sql }) {
      await sql('insert into effects (gid, op, amount) values (?, ?, ?)', [gid, op, payload.amount]);
    },
  }),
};

/** A TCC resource served beside the saga one: neither answers the other's ops. */
const reserve = defineTcc<StepPayload>({
  name: 'reserve',
  async try({ gid, op, payload, trx }) {
    await trx('effects').insert({ gid, op, amount: payload.amount });
  },
  confirm() {},
  cancel() {},
});

async function makeParticipant(kind: string): Promise<Participant> {
  const participant = createParticipant({
    knex,
    resources: [SAGAS[kind]!, reserve],
    coordinatorKey: COORDINATOR_KEY,
    initiatorKeys: { [INITIATOR]: INITIATOR_KEY },
    publicUrl: PUBLIC_URL,
    now: () => NOW,
    logger: pino({ level: 'silent' }),
  });
  await participant.migrate();
  return participant;
}

const viaFastify = (participant: Participant) => fastifyTransport(participant, { prefix: PREFIX });
const viaNodeHandler = (participant: Participant) => nodeTransport(participant, { prefix: PREFIX });

interface CallSpec {
  op: BranchOp;
  resource?: string;
  /** The op in the path, when it differs from the signed dtx-op. */
  pathOp?: string;
  payload?: StepPayload;
  /** Default: the key the op is verified with (the initiator's for a try, else the coordinator's). */
  key?: string;
}

function request(spec: CallSpec): { path: string; headers: Record<string, string>; body: string } {
  const body = JSON.stringify(spec.payload ?? { account: 'alice', amount: 30 });
  const path = `${PREFIX}/${spec.resource ?? 'withdraw'}/${spec.pathOp ?? spec.op}`;
  const url = new URL(path, PUBLIC_URL);
  const key = spec.key ?? (spec.op === 'try' ? INITIATOR_KEY : COORDINATOR_KEY);
  const branch = { gid: 'saga-http-1', branchId: '01', caller: INITIATOR };
  // A try carries the coordinator's registration proof, as the initiator's does: without it the
  // TCC resource beside the saga would refuse it (409 NOT_REGISTERED) before its handler runs.
  const registration = spec.op === 'try' ? registrationProof(COORDINATOR_KEY, branch) : undefined;
  // The caller: the initiator, trying, or the one that registered the saga, as the coordinator asserts it.
  return { path, body, headers: callHeaders(key, { url, ...branch, op: spec.op, body, timestamp: NOW, registration }) };
}

async function effects(op?: BranchOp): Promise<number> {
  const [row] = await knex('effects')
    .modify((q) => (op ? q.where({ op }) : q))
    .count({ n: '*' });
  return Number(row?.['n']);
}

async function barrierRows(): Promise<number> {
  const [row] = await knex('dtx_barrier').count({ n: '*' });
  return Number(row?.['n']);
}

describe.each([
  ['fastify plugin', 'knex handlers', viaFastify],
  ['node handler', 'knex handlers', viaNodeHandler],
  ['fastify plugin', 'plain-SQL handlers', viaFastify],
  ['node handler', 'plain-SQL handlers', viaNodeHandler],
] as const)('saga resource over HTTP: %s, %s', (_name, kind, makeTransport) => {
  let transport: Transport | undefined;

  afterEach(async () => {
    await transport?.close();
    transport = undefined;
  });

  async function connect(): Promise<Transport> {
    transport = await makeTransport(await makeParticipant(kind));
    return transport;
  }

  async function send(t: Transport, spec: CallSpec): Promise<Reply> {
    const r = request(spec);
    return t.post(r.path, r.headers, r.body);
  }

  it('serves action and compensate at <mount>/<name>/<op>: each runs once, repeats are duplicates', async () => {
    const t = await connect();
    expect(await send(t, { op: 'action' })).toEqual({ status: 200, contentType: 'application/json; charset=utf-8', body: { ok: true, result: null } });
    expect((await send(t, { op: 'action' })).body).toEqual({ ok: true, duplicate: true });
    expect((await send(t, { op: 'compensate' })).body).toEqual({ ok: true, result: null });
    expect((await send(t, { op: 'compensate' })).body).toEqual({ ok: true, duplicate: true });
    expect(await effects('action')).toBe(1);
    expect(await effects('compensate')).toBe(1);
  });

  it('answers a compensation without its action as a null compensation, and the late action 409 SUSPENDED', async () => {
    const t = await connect();
    expect(await send(t, { op: 'compensate' })).toMatchObject({ status: 200, body: { ok: true, nullCompensation: true } });
    const late = await send(t, { op: 'action' });
    expect(late.status).toBe(409);
    expect(late.body['code']).toBe('SUSPENDED');
    expect(await effects()).toBe(0);
  });

  it('answers a refused action 409 with its code, rolling it back; the compensation is then a null compensation', async () => {
    const t = await connect();
    const refused = await send(t, { op: 'action', payload: { account: 'alice', amount: 30, reject: true } });
    expect(refused).toMatchObject({ status: 409, body: { code: 'INSUFFICIENT_FUNDS', message: 'insufficient funds' } });
    expect(await barrierRows()).toBe(0);
    expect((await send(t, { op: 'compensate' })).body).toEqual({ ok: true, nullCompensation: true });
    expect(await effects()).toBe(0);
  });

  it('answers a TCC op on the saga resource, and a saga op on the TCC resource, 404 UNKNOWN_OP in the SDK error shape', async () => {
    const t = await connect();
    for (const op of ['try', 'confirm', 'cancel'] as const) {
      const reply = await send(t, { op });
      expect(reply.status, op).toBe(404);
      expect(reply.contentType).toBe('application/json; charset=utf-8');
      expect(reply.body).toEqual({ code: 'UNKNOWN_OP', message: `resource withdraw has no op "${op}"` });
    }
    for (const op of ['action', 'compensate'] as const) {
      const reply = await send(t, { op, resource: 'reserve' });
      expect(reply.status, op).toBe(404);
      expect(reply.body).toEqual({ code: 'UNKNOWN_OP', message: `resource reserve has no op "${op}"` });
    }
    // The TCC resource beside it still answers its own ops.
    expect((await send(t, { op: 'try', resource: 'reserve' })).status).toBe(200);
    expect(await effects()).toBe(1);
    expect(await barrierRows()).toBe(1);
  });

  it('refuses a signed compensate replayed against the action endpoint, a forged call, and an action signed with an initiator key', async () => {
    const t = await connect();
    const compensate = request({ op: 'compensate' });
    const replay = await t.post(`${PREFIX}/withdraw/action`, compensate.headers, compensate.body);
    expect(replay).toMatchObject({ status: 400, body: { code: 'OP_MISMATCH' } });
    const relabelled = await t.post(`${PREFIX}/withdraw/action`, { ...compensate.headers, [HEADERS.op]: 'action' }, compensate.body);
    expect(relabelled).toMatchObject({ status: 401, body: { code: 'SIGNATURE_MISMATCH' } });
    expect(await send(t, { op: 'action', key: 'not-the-secret-at-all' })).toMatchObject({ status: 401, body: { code: 'SIGNATURE_MISMATCH' } });
    // A saga's steps are the coordinator's to run: the initiator's own key does not make them.
    expect(await send(t, { op: 'action', key: INITIATOR_KEY })).toMatchObject({ status: 401, body: { code: 'SIGNATURE_MISMATCH' } });
    expect(await send(t, { op: 'compensate', key: INITIATOR_KEY })).toMatchObject({ status: 401, body: { code: 'SIGNATURE_MISMATCH' } });
    expect(await barrierRows()).toBe(0);
  });
});

describe('defining saga resources', () => {
  it('refuses a missing handler or a bad name at definition, and two resources of one name at start', () => {
    expect(() => defineSaga({ name: 'withdraw', action() {} } as never)).toThrow(ParticipantConfigError);
    expect(() => defineSqlSaga({ name: 'Bad Name', action() {}, compensate() {} })).toThrow(ParticipantConfigError);
    const saga = defineSaga({ name: 'reserve', action() {}, compensate() {} });
    const keys = { coordinatorKey: COORDINATOR_KEY, initiatorKeys: { [INITIATOR]: INITIATOR_KEY } };
    expect(() => createParticipant({ knex, resources: [saga, reserve], ...keys, logger: pino({ level: 'silent' }) })).toThrow(
      /two resources are named reserve/,
    );
  });

  it('takes saga resources of either kind on MySQL (mysql2) or PostgreSQL (pg), and refuses them at start on any other client', () => {
    // Only the client's name is read at start: a knex on a client whose driver is not installed will do.
    const on = (client: string) => ({ client: { config: { client } } }) as unknown as Knex;
    // Saga resources alone take no tries: the coordinator's key is enough.
    const quiet = { coordinatorKey: COORDINATOR_KEY, logger: pino({ level: 'silent' }) };
    for (const resource of [SAGAS['plain-SQL handlers']!, SAGAS['knex handlers']!]) {
      expect(() => createParticipant({ knex: on('pg'), resources: [resource], ...quiet })).not.toThrow();
      expect(() => createParticipant({ knex: on('mysql2'), resources: [resource], ...quiet })).not.toThrow();
      expect(() => createParticipant({ knex: on('sqlite3'), resources: [resource], ...quiet })).toThrow(ParticipantConfigError);
    }
  });
});
