/**
 * The participant over HTTP, through both adapters (Fastify plugin with
 * app.inject, node:http handler on a real server), against real MariaDB.
 * Every refusal is checked in the database too: a refused call must leave
 * neither a business effect nor a barrier row.
 */
import { Writable } from 'node:stream';
import Fastify from 'fastify';
import knexFactory from 'knex';
import type { Knex } from 'knex';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import {
  BranchOngoingError,
  BranchRejectedError,
  createParticipant,
  defineSqlTcc,
  defineTcc,
  defineXa,
  dtxParticipantPlugin,
  HEADERS,
  ParticipantConfigError,
  registrationProof,
  sign,
} from '../../participant-sdk/index.ts';
import type { BranchOp, Participant } from '../../participant-sdk/index.ts';
import { createTestDatabase } from '../support/databases.ts';
import type { TestDatabase } from '../support/databases.ts';
import { fastifyTransport, nodeTransport, type Reply, type Transport } from '../support/participant-transports.ts';

/** What the cases compare: the status and the JSON body (the content type is checked where it matters). */
type StatusAndBody = Pick<Reply, 'status' | 'body'>;
const statusAndBody = ({ status, body }: Reply): StatusAndBody => ({ status, body });

/** The key the coordinator signs with: it verifies the coordinator's ops (confirm, cancel) only. */
const COORDINATOR_KEY = 'test-secret-0123456789';
/** The initiator that may try here, and its own key: it verifies tries only. */
const INITIATOR = 'orders';
const INITIATOR_KEY = 'orders-initiator-key-0123456789';
/** Another initiator with a key here, to tell initiators apart. */
const OTHER_INITIATOR = 'billing';
const OTHER_INITIATOR_KEY = 'billing-initiator-key-0123456789';
/** A participant's keys: signed calls only, or (null) insecure development mode. */
type Keys = 'signed' | null;
const NOW = 1_700_000_000_000;
const PREFIX = '/dtx';
/** The participant's pinned public URL: signatures are checked against its host and path, whatever the transport's Host. */
const PUBLIC_URL = `http://participant.test${PREFIX}`;

interface TransferPayload {
  account: string;
  amount: number;
  /** Makes the handler misbehave, to test error replies. */
  fail?: 'reject' | 'ongoing' | 'crash';
}

let db: TestDatabase;
let knex: Knex;
let logLines: Array<Record<string, unknown>>;

beforeEach(async (context) => {
  db = await createTestDatabase(inject('mysqlUrl'), `participant ${context.task.name}`);
  knex = knexFactory({ client: 'mysql2', connection: db.url, pool: { min: 0, max: 5 } });
  await knex.schema.createTable('effects', (t) => {
    t.increments('id');
    t.string('gid', 128).notNullable();
    t.string('op', 16).notNullable();
    t.integer('amount').notNullable();
  });
  logLines = [];
});

afterEach(async () => {
  await knex?.destroy();
  await db?.drop();
});

const transferOut = defineTcc<TransferPayload, { reserved: number }>({
  name: 'transfer-out',
  async try({ gid, op, payload, trx }) {
    await trx('effects').insert({ gid, op, amount: payload.amount });
    if (payload.fail === 'reject') throw new BranchRejectedError('insufficient funds', { code: 'INSUFFICIENT_FUNDS' });
    if (payload.fail === 'ongoing') throw new BranchOngoingError('bank is still deciding');
    if (payload.fail === 'crash') throw new TypeError('secret internal detail at /srv/app.ts:42');
    return { reserved: payload.amount };
  },
  // ctx.sql is on the same local transaction as ctx.trx: a handler may use either.
  async confirm({ gid, op, payload, sql }) {
    await sql('insert into effects (gid, op, amount) values (?, ?, ?)', [gid, op, payload.amount]);
  },
  async cancel({ gid, op, payload, trx }) {
    await trx('effects').insert({ gid, op, amount: payload.amount });
  },
});

/** The same resource with plain-SQL handlers (ctx.sql on the local transaction's connection). */
const transferOutSql = defineSqlTcc<TransferPayload, { reserved: number }>({
  name: 'transfer-out',
  async try({ gid, op, payload, sql }) {
    await sql('insert into effects (gid, op, amount) values (?, ?, ?)', [gid, op, payload.amount]);
    if (payload.fail === 'reject') throw new BranchRejectedError('insufficient funds', { code: 'INSUFFICIENT_FUNDS' });
    if (payload.fail === 'ongoing') throw new BranchOngoingError('bank is still deciding');
    if (payload.fail === 'crash') throw new TypeError('secret internal detail at /srv/app.ts:42');
    return { reserved: payload.amount };
  },
  async confirm({ gid, op, payload, sql }) {
    await sql('insert into effects (gid, op, amount) values (?, ?, ?)', [gid, op, payload.amount]);
  },
  async cancel({ gid, op, payload, sql }) {
    await sql('insert into effects (gid, op, amount) values (?, ?, ?)', [gid, op, payload.amount]);
  },
});

const RESOURCES = { 'knex handlers': transferOut, 'plain-SQL handlers': transferOutSql } as const;
type ResourceKind = keyof typeof RESOURCES;
let resourceKind: ResourceKind = 'knex handlers';

async function makeParticipant(keys: Keys, extra: { publicUrl?: string } = { publicUrl: PUBLIC_URL }): Promise<Participant> {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) logLines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const participant = createParticipant({
    knex,
    resources: [RESOURCES[resourceKind]],
    ...(keys === null
      ? { insecureDevMode: true }
      : { coordinatorKey: COORDINATOR_KEY, initiatorKeys: { [INITIATOR]: INITIATOR_KEY, [OTHER_INITIATOR]: OTHER_INITIATOR_KEY } }),
    ...extra,
    now: () => NOW,
    logger: pino({ level: 'debug' }, sink),
  });
  await participant.migrate();
  return participant;
}

const viaFastify = (participant: Participant) =>
  fastifyTransport(participant, {
    prefix: PREFIX,
    // The host's own JSON routes keep their parser.
    extend: (app) => app.post('/echo', async (request) => ({ parsed: request.body })),
  });
const viaNodeHandler = (participant: Participant) => nodeTransport(participant, { prefix: PREFIX, maxBodyBytes: 4096 });

interface CallSpec {
  op: BranchOp;
  gid?: string;
  branchId?: string;
  payload?: TransferPayload;
  /** Body sent instead of the JSON of `payload` (the signature still covers the sent body unless `signedBody` is set). */
  body?: string;
  /** Body the signature is computed over, to tamper with the body after signing. */
  signedBody?: string;
  /**
   * The key the call is signed with (null: unsigned). Default: the key the participant verifies the
   * op with — the initiator's for a try, the coordinator's for the others.
   */
  key?: string | null;
  /** The `dtx-caller` header ('' sends none). Default: the initiator, as it tries and as the coordinator asserts it. */
  caller?: string;
  /**
   * A try's `dtx-registration` header (null sends none). Default: the coordinator's registration
   * proof for the call's gid, branch and caller, as the coordinator's reply to the registration
   * hands it to the initiator; none for the coordinator's ops.
   */
  registration?: string | null;
  timestamp?: number;
  /** The host the call is signed for (default: the pinned public URL's). */
  signedHost?: string;
  omit?: string[];
  resource?: string;
  pathOp?: string;
}

function request(spec: CallSpec): { path: string; headers: Record<string, string>; body: string } {
  const gid = spec.gid ?? 'gid-http-1';
  const branchId = spec.branchId ?? '01';
  const body = spec.body ?? JSON.stringify(spec.payload ?? { account: 'alice', amount: 30 });
  const timestamp = spec.timestamp ?? NOW;
  const key = spec.key === undefined ? (spec.op === 'try' ? INITIATOR_KEY : COORDINATOR_KEY) : spec.key;
  const caller = spec.caller ?? INITIATOR;
  const path = `${PREFIX}/${spec.resource ?? 'transfer-out'}/${spec.pathOp ?? spec.op}`;
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    [HEADERS.gid]: gid,
    [HEADERS.branchId]: branchId,
    [HEADERS.op]: spec.op,
    [HEADERS.timestamp]: String(timestamp),
  };
  if (caller !== '') headers[HEADERS.caller] = caller;
  const registration = spec.registration === undefined && spec.op === 'try' ? registrationProof(COORDINATOR_KEY, { gid, branchId, caller }) : spec.registration;
  if (typeof registration === 'string') headers[HEADERS.registration] = registration;
  if (key !== null) {
    const host = spec.signedHost ?? new URL(PUBLIC_URL).host;
    headers[HEADERS.signature] = sign(key, {
      method: 'POST',
      host,
      path,
      coordinator: '',
      caller,
      gid,
      branchId,
      op: spec.op,
      timestamp,
      body: spec.signedBody ?? body,
    });
  }
  for (const name of spec.omit ?? []) delete headers[name];
  return { path, headers, body };
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
] as const)('participant over HTTP: %s, %s', (_name, kind, makeTransport) => {
  let transport: Transport | undefined;

  beforeEach(() => {
    resourceKind = kind;
  });

  afterEach(async () => {
    await transport?.close();
    transport = undefined;
  });

  async function connect(keys: Keys = 'signed'): Promise<Transport> {
    transport = await makeTransport(await makeParticipant(keys));
    return transport;
  }

  async function send(t: Transport, spec: CallSpec): Promise<StatusAndBody> {
    const r = request(spec);
    return statusAndBody(await t.post(r.path, r.headers, r.body));
  }

  it('runs a signed try and returns its result', async () => {
    const t = await connect();
    const reply = await send(t, { op: 'try' });
    expect(reply).toEqual({ status: 200, body: { ok: true, result: { reserved: 30 } } });
    expect(await effects('try')).toBe(1);
  });

  it.each([
    ['unsigned', { op: 'try', key: null }, 'SIGNATURE_MISSING'],
    ['stale', { op: 'try', timestamp: NOW - 5 * 60_000 - 1 }, 'SIGNATURE_STALE'],
    ['from the future', { op: 'try', timestamp: NOW + 5 * 60_000 + 1 }, 'SIGNATURE_STALE'],
    ['forged', { op: 'try', key: 'not-the-secret' }, 'SIGNATURE_MISMATCH'],
    [
      'with a tampered body',
      { op: 'try', signedBody: JSON.stringify({ account: 'alice', amount: 30 }), payload: { account: 'alice', amount: 3000 } },
      'SIGNATURE_MISMATCH',
    ],
    ['without a timestamp', { op: 'try', omit: [HEADERS.timestamp] }, 'SIGNATURE_MALFORMED'],
  ] satisfies Array<[string, CallSpec, string]>)('refuses a call %s with 401', async (_case, spec, code) => {
    const t = await connect();
    const reply = await send(t, spec);
    expect(reply.status).toBe(401);
    expect(reply.body['code']).toBe(code);
    expect(await effects()).toBe(0);
    expect(await barrierRows()).toBe(0);
  });

  // Keys by role: an initiator's key signs its own tries only, the coordinator's key its ops only.
  it.each<[string, CallSpec & { relabel?: string }, string]>([
    // What a try was before: signed with the one shared key, no caller. Now nobody's key verifies it.
    ['signed with the coordinator key, naming no caller', { op: 'try', key: COORDINATOR_KEY, caller: '' }, 'SIGNATURE_UNKNOWN_CALLER'],
    ['signed with the coordinator key for the initiator', { op: 'try', key: COORDINATOR_KEY }, 'SIGNATURE_MISMATCH'],
    ['from a caller with no key here', { op: 'try', key: INITIATOR_KEY, caller: 'stranger' }, 'SIGNATURE_UNKNOWN_CALLER'],
    ['signed by one initiator in the name of another', { op: 'try', key: INITIATOR_KEY, caller: OTHER_INITIATOR }, 'SIGNATURE_MISMATCH'],
    [
      'signed with the coordinator key whose caller is relabelled',
      { op: 'confirm', key: COORDINATOR_KEY, caller: INITIATOR, relabel: OTHER_INITIATOR },
      'SIGNATURE_MISMATCH',
    ],
  ])('refuses a call %s with 401', async (_case, { relabel, ...spec }, code) => {
    const t = await connect();
    if (spec.op === 'confirm') expect((await send(t, { op: 'try' })).status).toBe(200);
    const r = request(spec);
    const reply = statusAndBody(await t.post(r.path, relabel === undefined ? r.headers : { ...r.headers, [HEADERS.caller]: relabel }, r.body));
    expect(reply.status).toBe(401);
    expect(reply.body['code']).toBe(code);
    expect(await effects(spec.op)).toBe(0);
  });

  it("refuses a coordinator op signed with an initiator's key: an initiator cannot confirm or cancel by itself", async () => {
    const t = await connect();
    expect((await send(t, { op: 'try' })).status).toBe(200);
    for (const op of ['confirm', 'cancel'] as const) {
      for (const key of [INITIATOR_KEY, OTHER_INITIATOR_KEY]) {
        const reply = await send(t, { op, key });
        expect([reply.status, reply.body['code']], `${op} signed with an initiator key`).toEqual([401, 'SIGNATURE_MISMATCH']);
      }
    }
    expect(await effects('confirm')).toBe(0);
    expect(await effects('cancel')).toBe(0);
    // The coordinator's key does it.
    expect((await send(t, { op: 'confirm' })).status).toBe(200);
  });

  it('takes a try from each initiator with a key here, each signed with its own key', async () => {
    const t = await connect();
    expect((await send(t, { op: 'try', branchId: '01' })).status).toBe(200);
    expect((await send(t, { op: 'try', branchId: '02', key: OTHER_INITIATOR_KEY, caller: OTHER_INITIATOR })).status).toBe(200);
    expect(await effects('try')).toBe(2);
  });

  // The registration proof: the coordinator's word (keyed with its key here) that this branch is registered for this caller.
  it.each<[string, CallSpec]>([
    ['without a registration proof', { op: 'try', registration: null }],
    [
      'with the proof of another branch',
      { op: 'try', registration: registrationProof(COORDINATOR_KEY, { gid: 'gid-http-1', branchId: '02', caller: INITIATOR }) },
    ],
    [
      'with the proof of another transaction',
      { op: 'try', registration: registrationProof(COORDINATOR_KEY, { gid: 'gid-http-2', branchId: '01', caller: INITIATOR }) },
    ],
    [
      'with the proof of another caller’s branch',
      { op: 'try', registration: registrationProof(COORDINATOR_KEY, { gid: 'gid-http-1', branchId: '01', caller: OTHER_INITIATOR }) },
    ],
    [
      'with a proof the initiator made with its own key',
      { op: 'try', registration: registrationProof(INITIATOR_KEY, { gid: 'gid-http-1', branchId: '01', caller: INITIATOR }) },
    ],
    ['with a malformed proof', { op: 'try', registration: 'v1=not-hex' }],
  ])('refuses a signed try %s with 409 NOT_REGISTERED, running and writing nothing', async (_case, spec) => {
    const t = await connect();
    const reply = await send(t, spec);
    expect([reply.status, reply.body['code']]).toEqual([409, 'NOT_REGISTERED']);
    expect(await effects()).toBe(0);
    expect(await barrierRows()).toBe(0);
    // Nothing was left behind: the same try with its proof runs afresh (not a duplicate, not suspended).
    expect(await send(t, { op: 'try' })).toEqual({ status: 200, body: { ok: true, result: { reserved: 30 } } });
  });

  it('checks the signature before the registration proof: a forged try without a proof is a 401', async () => {
    const t = await connect();
    const reply = await send(t, { op: 'try', key: OTHER_INITIATOR_KEY, registration: null });
    expect([reply.status, reply.body['code']]).toEqual([401, 'SIGNATURE_MISMATCH']);
    expect(await barrierRows()).toBe(0);
  });

  it('refuses a signed cancel replayed against the try endpoint', async () => {
    const t = await connect();
    const signedCancel = request({ op: 'cancel' });
    const replay = await t.post(`${PREFIX}/transfer-out/try`, signedCancel.headers, signedCancel.body);
    expect(replay.status).toBe(400);
    expect(replay.body['code']).toBe('OP_MISMATCH');
    const relabelled = await t.post(`${PREFIX}/transfer-out/try`, { ...signedCancel.headers, [HEADERS.op]: 'try' }, signedCancel.body);
    expect(relabelled.status).toBe(401);
    expect(await barrierRows()).toBe(0);
  });

  it('refuses a call signed for another participant (another host) with 401', async () => {
    const t = await connect();
    const reply = await send(t, { op: 'try', signedHost: 'other-participant.test' });
    expect(reply.status).toBe(401);
    expect(reply.body['code']).toBe('SIGNATURE_MISMATCH');
    expect(await barrierRows()).toBe(0);
  });

  it('accepts unsigned calls only in insecure development mode', async () => {
    const t = await connect(null);
    // Without a coordinator key there is nothing to check a registration proof with either.
    const reply = await send(t, { op: 'try', key: null, registration: null });
    expect(reply.status).toBe(200);
    expect(await effects('try')).toBe(1);
  });

  it('answers a BranchRejectedError with 409 and its code, rolling back the try', async () => {
    const t = await connect();
    const reply = await send(t, { op: 'try', payload: { account: 'alice', amount: 30, fail: 'reject' } });
    expect(reply).toEqual({ status: 409, body: { code: 'INSUFFICIENT_FUNDS', message: 'insufficient funds' } });
    expect(await effects()).toBe(0);
    expect(await barrierRows()).toBe(0);
  });

  it('answers a BranchOngoingError with 425 and runs the handler again next time', async () => {
    const t = await connect();
    const ongoing = await send(t, { op: 'try', payload: { account: 'alice', amount: 30, fail: 'ongoing' } });
    expect(ongoing.status).toBe(425);
    expect(ongoing.body['code']).toBe('ONGOING');
    expect(await effects()).toBe(0);
    expect((await send(t, { op: 'try' })).status).toBe(200);
    expect(await effects('try')).toBe(1);
  });

  it('answers any other handler error with 500, never 200, without leaking details', async () => {
    const t = await connect();
    const reply = await send(t, { op: 'try', gid: 'gid-crash', payload: { account: 'alice', amount: 30, fail: 'crash' } });
    expect(reply.status).toBe(500);
    expect(reply.body['code']).toBe('HANDLER_ERROR');
    expect(reply.body['ok']).toBeUndefined();
    expect(JSON.stringify(reply.body)).not.toMatch(/secret internal detail|app\.ts|\n\s+at /);
    expect(await effects()).toBe(0);
    expect(await barrierRows()).toBe(0);
    // The error is logged with the call's context.
    const logged = logLines.find((l) => l['msg'] === 'branch handler failed');
    expect(logged).toMatchObject({ gid: 'gid-crash', branchId: '01', op: 'try', err: { message: 'secret internal detail at /srv/app.ts:42' } });
  });

  it('answers an unknown resource or op with 404', async () => {
    const t = await connect();
    expect((await send(t, { op: 'try', resource: 'no-such-thing' })).status).toBe(404);
    expect((await send(t, { op: 'action' })).status).toBe(404);
    expect(await barrierRows()).toBe(0);
  });

  it('answers a body that is not JSON with 400', async () => {
    const t = await connect();
    const reply = await send(t, { op: 'try', body: '{"account": "alice", amount' });
    expect(reply.status).toBe(400);
    expect(reply.body['code']).toBe('BAD_JSON');
    expect(await barrierRows()).toBe(0);
  });

  it('answers missing or invalid transaction headers with 400', async () => {
    const t = await connect();
    const missing = await send(t, { op: 'try', omit: [HEADERS.gid] });
    expect(missing.status).toBe(400);
    expect(missing.body['code']).toBe('MISSING_HEADER');
    const tooLong = await send(t, { op: 'try', gid: 'g'.repeat(200) });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body['code']).toBe('BAD_BARRIER_INPUT');
    expect(await barrierRows()).toBe(0);
  });

  it('answers a try arriving after its cancel with 409 SUSPENDED, without running it', async () => {
    const t = await connect();
    const cancel = await send(t, { op: 'cancel' });
    expect(cancel).toEqual({ status: 200, body: { ok: true, nullCompensation: true } });
    const lateTry = await send(t, { op: 'try' });
    expect(lateTry.status).toBe(409);
    expect(lateTry.body['code']).toBe('SUSPENDED');
    expect(await effects()).toBe(0);
  });

  it('answers a confirm whose try never ran here with 409 TRY_NOT_FOUND, running and writing nothing', async () => {
    const t = await connect();
    const reply = await send(t, { op: 'confirm' });
    expect(reply.status).toBe(409);
    expect(reply.body['code']).toBe('TRY_NOT_FOUND');
    expect(await effects()).toBe(0);
    expect(await barrierRows()).toBe(0);
  });

  it('answers a confirm after a cancel with 409 ALREADY_CANCELLED, and a cancel after a confirm with 409 ALREADY_CONFIRMED', async () => {
    const t = await connect();
    await send(t, { op: 'try', branchId: '01' });
    expect((await send(t, { op: 'cancel', branchId: '01' })).status).toBe(200);
    const lateConfirm = await send(t, { op: 'confirm', branchId: '01' });
    expect([lateConfirm.status, lateConfirm.body['code']]).toEqual([409, 'ALREADY_CANCELLED']);

    await send(t, { op: 'try', branchId: '02' });
    expect((await send(t, { op: 'confirm', branchId: '02' })).status).toBe(200);
    const lateCancel = await send(t, { op: 'cancel', branchId: '02' });
    expect([lateCancel.status, lateCancel.body['code']]).toEqual([409, 'ALREADY_CONFIRMED']);

    expect(await effects('confirm')).toBe(1);
    expect(await effects('cancel')).toBe(1);
    expect(await barrierRows()).toBe(4);
  });

  it('answers a duplicate confirm with 200 and applies it once', async () => {
    const t = await connect();
    await send(t, { op: 'try' });
    expect(await send(t, { op: 'confirm' })).toEqual({ status: 200, body: { ok: true, result: null } });
    expect(await send(t, { op: 'confirm' })).toEqual({ status: 200, body: { ok: true, duplicate: true } });
    expect(await effects('confirm')).toBe(1);
  });
});

describe('keys and targets', () => {
  const initiatorKeys = { [INITIATOR]: INITIATOR_KEY };
  /** The option a createParticipant call is refused for, or null when it starts. */
  const refusedOption = (options: Omit<Parameters<typeof createParticipant>[0], 'knex' | 'logger'>): string | null => {
    try {
      createParticipant({ knex, logger: pino({ level: 'silent' }), ...options });
      return null;
    } catch (error) {
      expect(error).toBeInstanceOf(ParticipantConfigError);
      return (error as ParticipantConfigError).option;
    }
  };

  it('refuse to start without the coordinator key unless insecureDevMode is set', () => {
    expect(refusedOption({ resources: [transferOut], initiatorKeys })).toBe('coordinatorKey');
    expect(refusedOption({ resources: [transferOut], coordinatorKey: null, initiatorKeys })).toBe('coordinatorKey');
    expect(refusedOption({ resources: [transferOut], coordinatorKey: '', initiatorKeys })).toBe('coordinatorKey');
    expect(refusedOption({ resources: [transferOut], coordinatorKey: null, insecureDevMode: true })).toBeNull();
    expect(refusedOption({ resources: [transferOut], coordinatorKey: COORDINATOR_KEY, initiatorKeys, publicUrl: 'ftp://x/dtx' })).toBe('publicUrl');
    expect(refusedOption({ resources: [transferOut], coordinatorKey: COORDINATOR_KEY, initiatorKeys })).toBeNull();
  });

  it('refuse to start a TCC resource without initiator keys, or with one that is empty, badly named or the coordinator key', () => {
    const withKeys = (keys?: Record<string, string>) => refusedOption({ resources: [transferOut], coordinatorKey: COORDINATOR_KEY, initiatorKeys: keys });
    expect(withKeys()).toBe('initiatorKeys');
    expect(withKeys({})).toBe('initiatorKeys');
    expect(withKeys({ [INITIATOR]: '' })).toBe('initiatorKeys');
    expect(withKeys({ 'orders service': INITIATOR_KEY })).toBe('initiatorKeys');
    // One key in both roles would let the initiator forge the coordinator's confirm.
    expect(withKeys({ [INITIATOR]: COORDINATOR_KEY })).toBe('initiatorKeys');
  });

  it('without a public URL, check the signature against the Host header and the path received', async () => {
    resourceKind = 'knex handlers';
    const participant = await makeParticipant('signed', {});
    const app = Fastify();
    await app.register(dtxParticipantPlugin, { participant, prefix: PREFIX });
    try {
      const r = request({ op: 'try', signedHost: 'bank-a.internal:4001' });
      const post = (host: string, path = r.path) => app.inject({ method: 'POST', url: path, headers: { ...r.headers, host }, payload: r.body });
      // Sent to another host (a captured call replayed to another participant sharing the key): refused.
      expect((await post('bank-b.internal:4001')).statusCode).toBe(401);
      expect((await post('bank-a.internal:4002')).statusCode).toBe(401);
      expect(await barrierRows()).toBe(0);
      // To the host and path it was signed for: accepted.
      expect((await post('bank-a.internal:4001')).statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });
});

describe("the participant's database", () => {
  // Only the client's name is read at start: a knex on a client whose driver is not installed will do.
  const on = (client: string) => ({ client: { config: { client } } }) as unknown as Knex;
  const keys = { coordinatorKey: COORDINATOR_KEY, initiatorKeys: { [INITIATOR]: INITIATOR_KEY }, logger: pino({ level: 'silent' }) };

  it('is MySQL (mysql2) or PostgreSQL (pg) for knex and plain-SQL resources; any other client is refused at start', () => {
    for (const client of ['mysql2', 'pg', 'postgres', 'postgresql']) {
      expect(() => createParticipant({ knex: on(client), resources: [transferOutSql], ...keys }), client).not.toThrow();
      expect(() => createParticipant({ knex: on(client), resources: [transferOut], ...keys }), client).not.toThrow();
    }
    for (const client of ['sqlite3', 'mysql', 'mssql', 'toString']) {
      expect(() => createParticipant({ knex: on(client), resources: [transferOutSql], ...keys }), client).toThrow(ParticipantConfigError);
      expect(() => createParticipant({ knex: on(client), resources: [transferOut], ...keys }), client).toThrow(ParticipantConfigError);
    }
  });

  it('is MySQL or MariaDB for XA resources: refused at start on PostgreSQL, whatever else the participant serves', () => {
    const xa = defineXa({ name: 'xa-debit', prepare: async () => null });
    expect(() => createParticipant({ knex: on('mysql2'), resources: [transferOut, xa], ...keys })).not.toThrow();
    const refused = (() => {
      try {
        createParticipant({ knex: on('pg'), resources: [transferOut, xa], ...keys });
      } catch (error) {
        return error;
      }
      return null;
    })();
    expect(refused).toBeInstanceOf(ParticipantConfigError);
    expect(refused).toMatchObject({ option: 'resources', message: expect.stringMatching(/xa-debit.*MySQL or MariaDB/) });
  });
});

describe('fastify plugin', () => {
  it("leaves the host application's JSON parser untouched", async () => {
    const participant = await makeParticipant('signed');
    const t = await viaFastify(participant);
    try {
      const echoed = await t.post('/echo', { 'content-type': 'application/json' }, '{"a":1}');
      expect(statusAndBody(echoed)).toEqual({ status: 200, body: { parsed: { a: 1 } } });
    } finally {
      await t.close();
    }
  });
});

describe('node handler', () => {
  it('answers 413 to a body over the limit and 404 outside its prefix', async () => {
    const t = await viaNodeHandler(await makeParticipant('signed'));
    try {
      const big = await send413(t);
      expect(big.status).toBe(413);
      const outside = await t.post('/elsewhere/transfer-out/try', {}, '{}');
      expect(outside.status).toBe(404);
      expect(await barrierRows()).toBe(0);
    } finally {
      await t.close();
    }
  });

  async function send413(t: Transport): Promise<Reply> {
    const r = request({ op: 'try', payload: { account: 'x'.repeat(5000), amount: 1 } });
    return t.post(r.path, r.headers, r.body);
  }
});
