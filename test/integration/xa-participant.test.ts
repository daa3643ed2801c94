/**
 * XA resources on the participant side, against real MariaDB and without a
 * coordinator: defineXa's prepare (the handler's SQL between XA START and
 * XA PREPARE), commit and rollback over both adapters with signed calls,
 * their repeats and late arrivals, business data held back (old values
 * read, rows locked) until the decision, a rollback racing a prepare still in
 * flight, lock waits and deadlocks between prepares, ids at the protocol's
 * edges (plain and hashed gtrids, refused ids), a prepared branch
 * outliving its participant, and the recovery of branches left prepared from
 * the coordinator's outcome (a stub answers it), which leaves another
 * participant's branches on the same server alone.
 *
 * XA RECOVER is server-wide: every check and every recovery here is limited
 * to the xids of this test's gids, so tests of other files sharing the
 * server are never touched.
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import knexFactory from 'knex';
import type { Knex } from 'knex';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import {
  BarrierInputError,
  BranchRejectedError,
  callHeaders,
  createParticipant,
  defineXa,
  describeXid,
  DTX_XA_FORMAT_ID,
  DtxClient,
  registrationProof,
  xidOf,
} from '../../participant-sdk/index.ts';
import type { BranchOp, Participant, XaGlobalStatus, XaRecoveryPass } from '../../participant-sdk/index.ts';
import { parseRecoveredXid, xidOf as sdkXidOf, type RecoveredXidRow } from '../../participant-sdk/xa/xid.ts';
import { waitFor } from '../../tools/wait.ts';
import { createTestDatabase, type TestDatabase } from '../support/databases.ts';
import { fastifyTransport, nodeTransport, type Reply, type Transport } from '../support/participant-transports.ts';

/** The coordinator's key: it verifies commits and rollbacks only. */
const COORDINATOR_KEY = 'xa-participant-secret-0123456789';
/** The initiator that prepares here, and its own key: it verifies prepares only. */
const INITIATOR = 'orders';
const INITIATOR_KEY = 'orders-initiator-key-0123456789';
const KEYS = { coordinatorKey: COORDINATOR_KEY, initiatorKeys: { [INITIATOR]: INITIATOR_KEY } };
/** The coordinator's registration proof of branch `branchId` of `gid` for the initiator: what its prepare carries. */
const proofFor = (gid: string, branchId: string) => registrationProof(COORDINATOR_KEY, { gid, branchId, caller: INITIATOR });
/**
 * A call's headers, signed as its sender signs it: a prepare by the initiator (with the registration
 * proof the coordinator would have answered its registration with), a commit or rollback by the coordinator.
 */
const signedHeaders = (call: Omit<Parameters<typeof callHeaders>[1], 'caller' | 'registration'>) =>
  call.op === 'prepare'
    ? callHeaders(INITIATOR_KEY, { ...call, caller: INITIATOR, registration: proofFor(call.gid, call.branchId) })
    : callHeaders(COORDINATOR_KEY, { ...call, caller: INITIATOR });
const START = 1_700_000_000_000;
const PREFIX = '/dtx';
const PUBLIC_URL = `http://participant.test${PREFIX}`;
/** The participant's lock wait bound: a rollback queued behind a prepared branch gives up after it. */
const LOCK_WAIT_SECONDS = 1;

interface Note {
  text: string;
  reject?: boolean;
  fail?: boolean;
  /** Hold the handler (inside its XA branch, barrier row claimed) until the test releases it. */
  hold?: boolean;
  /** Take these slots (a primary key), in order: a second branch taking one waits on the first one's lock. */
  slots?: number[];
  /** Hold the handler after its first slot, until the test releases it. */
  holdAfterFirstSlot?: boolean;
}

/** A change of an account's balance, the business data an XA branch holds back until its commit. */
interface Transfer {
  account: string;
  amount: number;
  /** Hold the handler after its update (the row locked, the barrier row claimed) until the test releases it. */
  holdAfterUpdate?: boolean;
  /** Refuse (409 INSUFFICIENT_FUNDS) after the update. */
  reject?: boolean;
  /** Fail (a plain error, 500) after the update. */
  fail?: boolean;
}

let db: TestDatabase;
let knex: Knex;
/** The participant's clock (signature freshness, barrier rows, time in doubt). */
let clock = START;
/** Gids of this test get this prefix: unique on a server other runs may share. */
let run = '';
/** The xids this test may have left prepared (describeXid), rolled back after it. */
let ours = new Set<string>();
let prepareRuns = 0;
let holding = 0;
let release: () => void = () => undefined;
let held: Promise<void> = Promise.resolve();
let logs: Array<Record<string, unknown>> = [];
const participants: Array<{ transport: Transport; knex: Knex }> = [];

const notes = defineXa<Note, { noteId: number }>({
  name: 'notes',
  async prepare({ gid, branchId, payload, sql }) {
    prepareRuns++;
    const { insertId } = await sql('insert into effects (gid, branch_id, text) values (?, ?, ?)', [gid, branchId, payload.text]);
    for (const [i, slot] of (payload.slots ?? []).entries()) {
      await sql('insert into slots (slot) values (?)', [slot]);
      if (i === 0 && payload.holdAfterFirstSlot) {
        holding++;
        await held;
      }
    }
    if (payload.hold) {
      holding++;
      await held;
    }
    if (payload.reject) throw new BranchRejectedError('no room for notes', { code: 'NO_ROOM' });
    if (payload.fail) throw new Error('disk on fire');
    return { noteId: insertId };
  },
});

const accounts = defineXa<Transfer, { balance: number }>({
  name: 'accounts',
  async prepare({ payload, sql }) {
    prepareRuns++;
    const { affectedRows } = await sql('update xa_accounts set balance = balance + ? where id = ?', [payload.amount, payload.account]);
    if (affectedRows !== 1) throw new BranchRejectedError(`no account ${payload.account}`, { code: 'NO_ACCOUNT' });
    if (payload.holdAfterUpdate) {
      holding++;
      await held;
    }
    if (payload.reject) throw new BranchRejectedError('insufficient funds', { code: 'INSUFFICIENT_FUNDS' });
    if (payload.fail) throw new Error('ledger offline');
    const { rows } = await sql<{ balance: number }>('select balance from xa_accounts where id = ?', [payload.account]);
    return { balance: rows[0]!.balance };
  },
});

const gidOf = (name: string) => `${run}-${name}`;

/** The coordinator of this file's recoveries. Its prepares name none (no dtx-coordinator header), so every branch is asked of it. */
const askingOnly = (status: (gid: string) => Promise<XaGlobalStatus | null>) => [{ url: 'http://coordinator.test', status }];

beforeEach(async (context) => {
  db = await createTestDatabase(inject('mysqlUrl'), `xa participant ${context.task.name}`);
  knex = connect();
  await knex.schema.createTable('effects', (t) => {
    t.increments('id');
    t.string('gid', 128).notNullable();
    t.string('branch_id', 64).notNullable();
    t.string('text', 64).notNullable();
  });
  await knex.schema.createTable('slots', (t) => t.integer('slot').primary());
  await knex.schema.createTable('xa_accounts', (t) => {
    t.string('id', 32).primary();
    t.integer('balance').notNullable();
  });
  clock = START;
  run = `xa${randomBytes(4).toString('hex')}`;
  ours = new Set();
  prepareRuns = 0;
  holding = 0;
  logs = [];
  held = new Promise<void>((resolve) => (release = resolve));
});

afterEach(async () => {
  release();
  for (const p of participants.splice(0)) {
    await p.transport.close();
    await p.knex.destroy();
  }
  // A prepared branch holds its locks: left behind it would block dropping the database.
  for (const xid of await ourPreparedXids()) await knex.raw(`XA ROLLBACK ${xid}`);
  await knex?.destroy();
  await db?.drop();
});

function connect(): Knex {
  return knexFactory({ client: 'mysql2', connection: db.url, pool: { min: 0, max: 8 } });
}

const viaFastify = (participant: Participant) => fastifyTransport(participant, { prefix: PREFIX });
const viaNodeHandler = (participant: Participant) => nodeTransport(participant, { prefix: PREFIX });

/** A participant serving `notes` on its own pool (closed after the test, or by `close`). */
async function serve(makeTransport: (p: Participant) => Promise<Transport> = viaFastify) {
  const ownKnex = connect();
  const participant = createParticipant({
    knex: ownKnex,
    resources: [notes, accounts],
    ...KEYS,
    publicUrl: PUBLIC_URL,
    now: () => clock,
    xaLockWaitSeconds: LOCK_WAIT_SECONDS,
    logger: pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) }),
  });
  await participant.migrate();
  const transport = await makeTransport(participant);
  const entry = { transport, knex: ownKnex };
  participants.push(entry);
  return {
    participant,
    knex: ownKnex,
    send: (op: BranchOp, gid: string, payload: Note = { text: 'hello' }, branchId = 'note') => send(transport, op, gid, payload, branchId),
    /** A call to the `accounts` resource (branch `transfer` unless told). */
    transfer: (op: BranchOp, gid: string, payload: Transfer, branchId = 'transfer') => send(transport, op, gid, payload, branchId, 'accounts'),
    close: async () => {
      participants.splice(participants.indexOf(entry), 1);
      await transport.close();
      await ownKnex.destroy();
    },
  };
}

async function send(transport: Transport, op: BranchOp, gid: string, payload: Note | Transfer, branchId: string, resource = 'notes'): Promise<Reply> {
  try {
    ours.add(describeXid(xidOf(gid, branchId)));
  } catch {
    // A gid the protocol refuses has no xid: the participant must refuse it too.
  }
  const body = JSON.stringify(payload);
  const path = `${PREFIX}/${resource}/${op}`;
  const headers = signedHeaders({ url: new URL(path, PUBLIC_URL), gid, branchId, op, body, timestamp: clock });
  return transport.post(path, headers, body);
}

/** This test's xids that XA RECOVER lists (prepared, attached to a session or not). */
async function ourPreparedXids(): Promise<string[]> {
  const [rows] = (await knex.raw('XA RECOVER')) as unknown as [RecoveredXidRow[]];
  return rows
    .map(parseRecoveredXid)
    .flatMap((xid) => (xid === null ? [] : [describeXid(xid)]))
    .filter((xid) => ours.has(xid));
}

const xidText = (gid: string, branchId = 'note') => describeXid(xidOf(gid, branchId));

/** Committed effects (a consistent read: a prepared branch's rows are not seen, and not waited for). */
async function effects(gid?: string): Promise<string[]> {
  const rows = (await knex('effects')
    .modify((q) => (gid ? q.where({ gid }) : q))
    .orderBy('id')
    .select('text')) as Array<{ text: string }>;
  return rows.map((r) => r.text);
}

async function barrierRows(): Promise<Array<{ gid: string; branch_id: string; op: string; origin_op: string }>> {
  return knex('dtx_barrier').select('gid', 'branch_id', 'op', 'origin_op').orderBy('id');
}

/** Another connection's plain read of a balance: it neither sees a prepared branch's change nor waits for it. */
async function balanceOf(account: string): Promise<number> {
  const row = (await knex('xa_accounts').where({ id: account }).first('balance')) as { balance: number } | undefined;
  return row!.balance;
}

/** The format ids of the rows XA RECOVER lists for this branch's xid, whatever their format id. */
async function recoveredFormatIds(gid: string, branchId: string): Promise<number[]> {
  const xid = xidOf(gid, branchId);
  const data = Buffer.from(`${xid.gtrid}${xid.bqual}`, 'ascii');
  const [rows] = (await knex.raw('XA RECOVER')) as unknown as [RecoveredXidRow[]];
  return rows
    .filter((row) => Number(row.gtrid_length) === xid.gtrid.length && (typeof row.data === 'string' ? Buffer.from(row.data, 'binary') : row.data).equals(data))
    .map((row) => Number(row.formatID));
}

async function barrierRowsOf(gid: string) {
  return (await barrierRows()).filter((row) => row.gid === gid);
}

/** Statements of this test's database starting with `prefix` still executing (waiting on a row lock). */
async function statementsInFlight(prefix: string): Promise<number> {
  const [rows] = (await knex.raw(`select count(*) as n from information_schema.processlist where db = ? and command = 'Query' and info like concat(?, '%')`, [
    db.name,
    prefix,
  ])) as [Array<{ n: number }>];
  return Number(rows[0]?.n ?? 0);
}

describe.each([
  ['fastify plugin', viaFastify],
  ['node handler', viaNodeHandler],
] as const)('XA branch over HTTP: %s', (_name, makeTransport) => {
  it('prepares the handler’s work invisibly; a commit sent right after the answer makes it visible', async () => {
    const { send } = await serve(makeTransport);
    const gid = gidOf('commit');
    const prepared = await send('prepare', gid, { text: 'hello' });
    expect(prepared).toMatchObject({ status: 200, body: { ok: true, result: { noteId: expect.any(Number) as number } } });
    expect(await ourPreparedXids()).toEqual([xidText(gid)]);
    // Prepared, not committed: neither the work nor the barrier row is seen.
    expect(await effects()).toEqual([]);
    expect(await barrierRows()).toEqual([]);

    // The prepare answers once its session let go of the xid: the first commit finds it.
    expect(await send('commit', gid)).toEqual({ status: 200, contentType: 'application/json; charset=utf-8', body: { ok: true, result: null } });
    expect(await effects()).toEqual(['hello']);
    expect(await barrierRows()).toEqual([{ gid, branch_id: 'note', op: 'prepare', origin_op: 'prepare' }]);
    expect(await ourPreparedXids()).toEqual([]);
  });

  it('answers a prepare only once any session can finish the xid: commits and rollbacks sent at once never find it still attached', async () => {
    const { send, knex: participantKnex } = await serve(makeTransport);
    // Idle connections in the participant's pool: a commit does not wait for a new connection's handshake.
    await Promise.all(Array.from({ length: 4 }, () => participantKnex.raw('select sleep(0.05)')));
    for (let i = 0; i < 10; i++) {
      const op = i % 2 === 0 ? 'commit' : 'rollback';
      expect(await send('prepare', gidOf(`at-once-${i}`), { text: `n${i}` })).toMatchObject({ status: 200 });
      expect(await send(op, gidOf(`at-once-${i}`)), `${op} ${i}`).toMatchObject({ status: 200, body: { ok: true, result: null } });
    }
    expect(await effects()).toEqual(['n0', 'n2', 'n4', 'n6', 'n8']);
    expect(await ourPreparedXids()).toEqual([]);
  });

  it('refuses a late prepare after a null rollback 409 SUSPENDED, without running the handler', async () => {
    const { send } = await serve(makeTransport);
    const gid = gidOf('null-rollback');
    expect(await send('rollback', gid)).toMatchObject({ status: 200, body: { ok: true, nullCompensation: true } });
    expect(await send('prepare', gid)).toMatchObject({ status: 409, body: { code: 'SUSPENDED' } });
    expect(prepareRuns).toBe(0);
    expect(await ourPreparedXids()).toEqual([]);
    expect(await effects()).toEqual([]);
    expect(await barrierRows()).toEqual([{ gid, branch_id: 'note', op: 'prepare', origin_op: 'rollback' }]);
    // Repeats: the rollback is a duplicate, a commit is refused (never prepared here).
    expect(await send('rollback', gid)).toMatchObject({ status: 200, body: { ok: true, duplicate: true } });
    expect(await send('commit', gid)).toMatchObject({ status: 409, body: { code: 'PREPARE_NOT_FOUND' } });
  });
});

describe('XA branch: refusals and failures of the handler', () => {
  it('rolls a refused prepare back (409 with its code): nothing prepared, nothing written; a later prepare runs', async () => {
    const { send } = await serve();
    const gid = gidOf('refused');
    expect(await send('prepare', gid, { text: 'x', reject: true })).toMatchObject({ status: 409, body: { code: 'NO_ROOM', message: 'no room for notes' } });
    expect(await ourPreparedXids()).toEqual([]);
    expect(await barrierRows()).toEqual([]);
    // The xid is free again: a retried prepare is a prepare like any other.
    expect(await send('prepare', gid, { text: 'y' })).toMatchObject({ status: 200, body: { ok: true } });
    expect(await send('commit', gid)).toMatchObject({ status: 200 });
    expect(await effects()).toEqual(['y']);
  });

  it('answers a failing handler 500 (unknown) and leaves nothing prepared', async () => {
    const { send } = await serve();
    const gid = gidOf('failed');
    expect(await send('prepare', gid, { text: 'x', fail: true })).toMatchObject({ status: 500, body: { code: 'HANDLER_ERROR' } });
    expect(await ourPreparedXids()).toEqual([]);
    expect(await barrierRows()).toEqual([]);
    expect(await effects()).toEqual([]);
  });
});

describe('XA branch: keys by role', () => {
  it("refuses a prepare signed with the coordinator's key, and a commit or rollback signed with the initiator's (401): neither forges the other's op", async () => {
    const { participant, send } = await serve();
    const gid = gidOf('keys');
    const signedWith = (op: BranchOp, key: string) => {
      const body = JSON.stringify({ text: 'forged' });
      const path = `/notes/${op}`;
      // A prepare with its registration proof: refused for its signature alone.
      const registration = op === 'prepare' ? proofFor(gid, 'note') : undefined;
      const headers = callHeaders(key, {
        url: new URL(`${PREFIX}${path}`, PUBLIC_URL),
        gid,
        branchId: 'note',
        op,
        body,
        timestamp: clock,
        caller: INITIATOR,
        registration,
      });
      return participant.handle({ method: 'POST', path, fullPath: `${PREFIX}${path}`, headers, rawBody: body });
    };
    expect(await signedWith('prepare', COORDINATOR_KEY)).toMatchObject({ statusCode: 401, body: { code: 'SIGNATURE_MISMATCH' } });
    expect(prepareRuns).toBe(0);
    expect(await send('prepare', gid)).toMatchObject({ status: 200 });
    // The initiator that prepared the branch cannot finish it by itself: only the coordinator decides.
    for (const op of ['commit', 'rollback'] as const) {
      expect(await signedWith(op, INITIATOR_KEY), op).toMatchObject({ statusCode: 401, body: { code: 'SIGNATURE_MISMATCH' } });
    }
    expect(await ourPreparedXids()).toEqual([xidText(gid)]);
    expect(await effects()).toEqual([]);
    expect(await send('commit', gid)).toMatchObject({ status: 200 });
    expect(await effects()).toEqual(['hello']);
  });

  it('refuses a prepare without the registration proof of its branch for its caller (409 NOT_REGISTERED), starting no XA branch', async () => {
    const { participant, send } = await serve();
    const gid = gidOf('unregistered');
    // Watched from the start, so that a branch a refused prepare left prepared would show.
    ours.add(xidText(gid));
    const prepareWith = (registration: string | undefined) => {
      const body = JSON.stringify({ text: 'unregistered' });
      const path = '/notes/prepare';
      const url = new URL(`${PREFIX}${path}`, PUBLIC_URL);
      const headers = callHeaders(INITIATOR_KEY, { url, gid, branchId: 'note', op: 'prepare', body, timestamp: clock, caller: INITIATOR, registration });
      return participant.handle({ method: 'POST', path, fullPath: `${PREFIX}${path}`, headers, rawBody: body });
    };
    for (const [what, registration] of [
      ['none', undefined],
      ['another branch’s', proofFor(gid, 'other')],
      ['another caller’s', registrationProof(COORDINATOR_KEY, { gid, branchId: 'note', caller: 'billing' })],
      ['made with the initiator’s own key', registrationProof(INITIATOR_KEY, { gid, branchId: 'note', caller: INITIATOR })],
    ] as const) {
      expect(await prepareWith(registration), what).toMatchObject({ statusCode: 409, body: { code: 'NOT_REGISTERED' } });
    }
    expect(prepareRuns).toBe(0);
    expect(await ourPreparedXids()).toEqual([]);
    expect(await barrierRows()).toEqual([]);
    // With its proof, the same prepare runs: the refusals left nothing behind.
    expect(await send('prepare', gid)).toMatchObject({ status: 200, body: { ok: true, result: { noteId: expect.any(Number) as number } } });
    expect(await send('rollback', gid)).toMatchObject({ status: 200 });
  });
});

describe('XA branch: repeats', () => {
  it('answers a repeated prepare success without running the handler, while prepared and once committed', async () => {
    const { send } = await serve();
    const gid = gidOf('dup-prepare');
    expect(await send('prepare', gid)).toMatchObject({ status: 200, body: { ok: true, result: { noteId: expect.any(Number) as number } } });
    expect(await send('prepare', gid)).toMatchObject({ status: 200, body: { ok: true, duplicate: true } });
    expect(await ourPreparedXids()).toEqual([xidText(gid)]);
    expect(await send('commit', gid)).toMatchObject({ status: 200, body: { ok: true, result: null } });
    expect(await send('prepare', gid)).toMatchObject({ status: 200, body: { ok: true, duplicate: true } });
    expect(prepareRuns).toBe(1);
    expect(await effects()).toEqual(['hello']);
    expect(await ourPreparedXids()).toEqual([]);
  });

  it('answers a repeated commit as a duplicate, and refuses a commit never prepared and a rollback after the commit', async () => {
    const { send } = await serve();
    const gid = gidOf('dup-commit');
    await send('prepare', gid);
    expect(await send('commit', gid)).toMatchObject({ status: 200, body: { ok: true, result: null } });
    expect(await send('commit', gid)).toMatchObject({ status: 200, body: { ok: true, duplicate: true } });
    expect(await send('rollback', gid)).toMatchObject({ status: 409, body: { code: 'ALREADY_COMMITTED' } });
    expect(await effects()).toEqual(['hello']);
    expect(await send('commit', gidOf('never-prepared'))).toMatchObject({ status: 409, body: { code: 'PREPARE_NOT_FOUND' } });
  });

  it('rolls a prepared branch back; the repeat is a duplicate, a late prepare and a commit are refused', async () => {
    const { send } = await serve();
    const gid = gidOf('rollback');
    await send('prepare', gid, { text: 'undone' });
    expect(await send('rollback', gid)).toMatchObject({ status: 200, body: { ok: true, result: null } });
    expect(await ourPreparedXids()).toEqual([]);
    expect(await barrierRows()).toEqual([{ gid, branch_id: 'note', op: 'prepare', origin_op: 'rollback' }]);
    expect(await send('rollback', gid)).toMatchObject({ status: 200, body: { ok: true, duplicate: true } });
    expect(await send('prepare', gid)).toMatchObject({ status: 409, body: { code: 'SUSPENDED' } });
    expect(await send('commit', gid)).toMatchObject({ status: 409, body: { code: 'PREPARE_NOT_FOUND' } });
    expect(prepareRuns).toBe(1);
    expect(await effects()).toEqual([]);
  });
});

describe('XA branch: a rollback arriving while the prepare is in flight', () => {
  it('waits on the prepare’s barrier row; once the branch is prepared it gives up (unknown), and its retry rolls the branch back', async () => {
    const { send } = await serve();
    const gid = gidOf('race-prepared');
    const prepare = send('prepare', gid, { text: 'raced', hold: true });
    await waitFor(() => holding === 1 || undefined, { what: 'the prepare holding its branch' });
    // ACTIVE on the prepare's session: XA ROLLBACK does not know it, the barrier insert waits on its row.
    const rollback = send('rollback', gid);
    await waitFor(async () => (await statementsInFlight('insert ignore into')) === 1 || undefined, { what: 'the rollback waiting on the barrier row' });
    release();
    expect(await prepare).toMatchObject({ status: 200, body: { ok: true } });
    // The prepared branch keeps the row locked: the rollback's wait ends in a lock timeout, answered as unknown.
    expect(await rollback).toMatchObject({ status: 500 });
    expect(await ourPreparedXids()).toEqual([xidText(gid)]);
    // The coordinator retries: now the xid is prepared and detached.
    expect(await send('rollback', gid)).toMatchObject({ status: 200, body: { ok: true, result: null } });
    expect(await ourPreparedXids()).toEqual([]);
    expect(await send('prepare', gid)).toMatchObject({ status: 409, body: { code: 'SUSPENDED' } });
    expect(await effects()).toEqual([]);
  });

  it('waits on the prepare’s barrier row; when the handler refuses, the rollback is a null rollback and a later prepare is refused', async () => {
    const { send } = await serve();
    const gid = gidOf('race-refused');
    const prepare = send('prepare', gid, { text: 'raced', hold: true, reject: true });
    await waitFor(() => holding === 1 || undefined, { what: 'the prepare holding its branch' });
    const rollback = send('rollback', gid);
    await waitFor(async () => (await statementsInFlight('insert ignore into')) === 1 || undefined, { what: 'the rollback waiting on the barrier row' });
    release();
    expect(await prepare).toMatchObject({ status: 409, body: { code: 'NO_ROOM' } });
    expect(await rollback).toMatchObject({ status: 200, body: { ok: true, nullCompensation: true } });
    expect(await send('prepare', gid)).toMatchObject({ status: 409, body: { code: 'SUSPENDED' } });
    expect(prepareRuns).toBe(1);
    expect(await ourPreparedXids()).toEqual([]);
    expect(await effects()).toEqual([]);
  });

  it('answers a prepare of a branch whose prepare is still running 425 (ongoing), without running the handler', async () => {
    const { send } = await serve();
    const gid = gidOf('twin');
    const first = send('prepare', gid, { text: 'once', hold: true });
    await waitFor(() => holding === 1 || undefined, { what: 'the prepare holding its branch' });
    expect(await send('prepare', gid, { text: 'once' })).toMatchObject({ status: 425 });
    release();
    expect(await first).toMatchObject({ status: 200 });
    expect(prepareRuns).toBe(1);
    expect(await send('commit', gid)).toMatchObject({ status: 200 });
    expect(await effects()).toEqual(['once']);
  });
});

describe('XA branch: many at once', () => {
  it('prepares more branches at once than the pool has connections, then commits them racing a recovery pass that commits them too', async () => {
    const { participant, send } = await serve();
    const gids = Array.from({ length: 20 }, (_, i) => gidOf(`many-${i}`));
    const prepared = await Promise.all(gids.map((gid, i) => send('prepare', gid, { text: `n${i}` })));
    expect(prepared.map((r) => r.status)).toEqual(gids.map(() => 200));
    expect(await ourPreparedXids()).toHaveLength(20);
    const recovery = participant.recoverXa({ coordinators: askingOnly(async (gid) => (gid.startsWith(run) ? 'committing' : 'preparing')) });
    const commits = await Promise.all(gids.map((gid) => send('commit', gid)));
    expect(commits.map((r) => r.status)).toEqual(gids.map(() => 200));
    expect((await recovery).failed).toBe(0);
    expect(await ourPreparedXids()).toEqual([]);
    expect(await effects()).toHaveLength(20);
  });
});

describe('XA branch: locks held by a prepared branch', () => {
  it('makes a prepare waiting on them give up after the lock wait bound, once (500, unknown), with nothing prepared', async () => {
    const { send } = await serve();
    const holder = gidOf('holder');
    const blocked = gidOf('blocked');
    expect(await send('prepare', holder, { text: 'first', slots: [1] })).toMatchObject({ status: 200 });
    const started = Date.now();
    expect(await send('prepare', blocked, { text: 'second', slots: [1] })).toMatchObject({ status: 500 });
    // One wait of the bound, not one per replay.
    expect(Date.now() - started).toBeLessThan(2 * LOCK_WAIT_SECONDS * 1_000);
    expect(prepareRuns).toBe(2);
    expect(await ourPreparedXids()).toEqual([xidText(holder)]);
    // Once the holder is decided, the blocked branch prepares.
    expect(await send('rollback', holder)).toMatchObject({ status: 200 });
    expect(await send('prepare', blocked, { text: 'second', slots: [1] })).toMatchObject({ status: 200 });
    expect(await send('commit', blocked)).toMatchObject({ status: 200 });
    expect(await effects()).toEqual(['second']);
  });
});

describe('XA branch: deadlocks', () => {
  it('replays the victim of a deadlock between two prepares; behind the winner, now prepared, it gives up after one lock wait', async () => {
    const { send } = await serve();
    const [winnerOrVictimA, winnerOrVictimB] = [gidOf('dl-a'), gidOf('dl-b')];
    const a = send('prepare', winnerOrVictimA, { text: 'a', slots: [1, 2], holdAfterFirstSlot: true });
    const b = send('prepare', winnerOrVictimB, { text: 'b', slots: [2, 1], holdAfterFirstSlot: true });
    await waitFor(() => holding === 2 || undefined, { what: 'both prepares holding their first slot' });
    release();
    const replies = await Promise.all([a, b]);
    // InnoDB picks the victim; its replay waits behind the winner's prepared branch and gives up.
    expect(replies.map((r) => r.status).sort()).toEqual([200, 500]);
    const [winner, victim] = replies[0]!.status === 200 ? [winnerOrVictimA, winnerOrVictimB] : [winnerOrVictimB, winnerOrVictimA];
    expect(logs.filter((l) => l['msg'] === 'XA branch retried after a lock conflict').map((l) => (l['err'] as { code?: string }).code)).toEqual([
      'ER_LOCK_DEADLOCK',
    ]);
    expect(prepareRuns).toBe(3);
    expect(await ourPreparedXids()).toEqual([xidText(winner)]);
    expect(await send('commit', winner)).toMatchObject({ status: 200 });
    expect(await send('prepare', victim, { text: 'again', slots: [3] })).toMatchObject({ status: 200 });
    expect(await send('commit', victim)).toMatchObject({ status: 200 });
    expect((await effects()).sort()).toEqual([winner === winnerOrVictimA ? 'a' : 'b', 'again'].sort());
  });
});

describe('XA branch: a prepared branch outlives its participant', () => {
  it('stays prepared when the participant closes its pool; another participant on the same database commits it', async () => {
    const first = await serve();
    const gid = gidOf('survivor');
    expect(await first.send('prepare', gid, { text: 'kept' })).toMatchObject({ status: 200 });
    await first.close();
    expect(await ourPreparedXids()).toEqual([xidText(gid)]);
    expect(await effects()).toEqual([]);

    const second = await serve();
    expect(await second.send('commit', gid)).toMatchObject({ status: 200, body: { ok: true, result: null } });
    expect(await effects()).toEqual(['kept']);
    expect(await second.send('prepare', gid)).toMatchObject({ status: 200, body: { ok: true, duplicate: true } });
    expect(prepareRuns).toBe(1);
  });
});

describe('XA branch: gids', () => {
  it('refuses gids with quotes (400) before any SQL, writing nothing', async () => {
    const { send } = await serve();
    for (const gid of [`${run}'x`, `${run}"x`, `x'); XA COMMIT X'00', X'00', 1; --`]) {
      for (const op of ['prepare', 'commit', 'rollback'] as const)
        expect(await send(op, gid), `${op} ${gid}`).toMatchObject({ status: 400, body: { code: 'BAD_BARRIER_INPUT' } });
    }
    expect(prepareRuns).toBe(0);
    expect(await barrierRows()).toEqual([]);
  });

  it('refuses a gid with non-ASCII characters (400), called without HTTP since headers cannot carry them as text', async () => {
    const { participant } = await serve();
    for (const gid of [`${run}-é`, `${run}-注文`]) {
      const body = JSON.stringify({ text: 'x' });
      const headers = signedHeaders({
        url: new URL(`${PREFIX}/notes/prepare`, PUBLIC_URL),
        gid,
        branchId: 'note',
        op: 'prepare',
        body,
        timestamp: clock,
      });
      const reply = await participant.handle({ method: 'POST', path: '/notes/prepare', fullPath: `${PREFIX}/notes/prepare`, headers, rawBody: body });
      expect(reply, gid).toMatchObject({ statusCode: 400, body: { code: 'BAD_BARRIER_INPUT' } });
    }
    expect(prepareRuns).toBe(0);
  });

  it('prepares, commits and rolls back branches of the longest gids (hashed xids), each its own', async () => {
    const { send } = await serve();
    const longA = `${run}-${'a'.repeat(128 - run.length - 3)}.1`;
    const longB = `${run}-${'a'.repeat(128 - run.length - 3)}.2`;
    expect([longA.length, longB.length]).toEqual([128, 128]);
    expect(await send('prepare', longA, { text: 'a' })).toMatchObject({ status: 200 });
    expect(await send('prepare', longB, { text: 'b' })).toMatchObject({ status: 200 });
    expect((await ourPreparedXids()).sort()).toEqual([xidText(longA), xidText(longB)].sort());
    expect(await knex('dtx_xa_gid').orderBy('gid').pluck('gid')).toEqual([longA, longB]);
    expect(await send('commit', longA)).toMatchObject({ status: 200 });
    expect(await send('rollback', longB)).toMatchObject({ status: 200, body: { ok: true, result: null } });
    expect(await effects()).toEqual(['a']);
    expect(await barrierRows()).toEqual([
      { gid: longA, branch_id: 'note', op: 'prepare', origin_op: 'prepare' },
      { gid: longB, branch_id: 'note', op: 'prepare', origin_op: 'rollback' },
    ]);
  });
});

describe('XA recovery', () => {
  /** The coordinator's answers by gid; gids of other tests are left alone ('preparing'). */
  function outcomes(table: Record<string, XaGlobalStatus | null>) {
    const asked: string[] = [];
    const coordinator = async (gid: string): Promise<XaGlobalStatus | null> => {
      if (!gid.startsWith(run)) return 'preparing';
      asked.push(gid);
      return gid in table ? table[gid]! : 'preparing';
    };
    return { coordinator, asked };
  }

  it('applies the outcome: committed and committing commit, rolled-back and rolling-back roll back, preparing waits', async () => {
    const { participant, send } = await serve();
    const long = `${run}-${'c'.repeat(128 - run.length - 1)}`;
    const gids = { committed: gidOf('c1'), committing: long, rolledBack: gidOf('r1'), rollingBack: gidOf('r2'), preparing: gidOf('p1') };
    for (const [name, gid] of Object.entries(gids)) expect(await send('prepare', gid, { text: name })).toMatchObject({ status: 200 });
    const { coordinator, asked } = outcomes({
      [gids.committed]: 'committed',
      [gids.committing]: 'committing',
      [gids.rolledBack]: 'rolled-back',
      [gids.rollingBack]: 'rolling-back',
      [gids.preparing]: 'preparing',
    });
    const pass = await participant.recoverXa({ coordinators: askingOnly(coordinator) });
    expect(asked.sort()).toEqual(Object.values(gids).sort());
    expect(pass.committed.sort()).toEqual([xidText(gids.committed), xidText(gids.committing)].sort());
    expect(pass.rolledBack.sort()).toEqual([xidText(gids.rolledBack), xidText(gids.rollingBack)].sort());
    expect(pass.inDoubt.filter((d) => ours.has(d.xid))).toEqual([
      { xid: xidText(gids.preparing), gid: gids.preparing, branchId: 'note', inDoubtForMs: 0, reason: 'undecided', coordinator: null },
    ]);
    expect(pass.failed).toBe(0);
    expect(await ourPreparedXids()).toEqual([xidText(gids.preparing)]);
    expect((await effects()).sort()).toEqual(['committed', 'committing']);
    // The branches rolled back refuse a late prepare, as after the coordinator's rollback.
    expect(await send('prepare', gids.rolledBack)).toMatchObject({ status: 409, body: { code: 'SUSPENDED' } });
    // What recovery did, the coordinator's own calls find done.
    expect(await send('commit', gids.committed)).toMatchObject({ status: 200, body: { ok: true, duplicate: true } });
    expect(await send('rollback', gids.rollingBack)).toMatchObject({ status: 200, body: { ok: true, duplicate: true } });
  });

  it('never rolls back a branch its coordinator has no record of, however long in doubt: reported at error level past inDoubtAfterMs, an undecided one at warn level', async () => {
    const { participant, send } = await serve();
    const gids = { unknown: gidOf('u1'), preparing: gidOf('p1') };
    for (const gid of Object.values(gids)) await send('prepare', gid);
    const { coordinator } = outcomes({ [gids.unknown]: null, [gids.preparing]: 'preparing' });
    const options = { coordinators: askingOnly(coordinator), inDoubtAfterMs: 30_000 };
    const reasons = (pass: XaRecoveryPass) => Object.fromEntries(pass.inDoubt.filter((d) => ours.has(d.xid)).map((d) => [d.gid, d.reason]));

    const first = await participant.recoverXa(options);
    expect(first.rolledBack).toEqual([]);
    expect(reasons(first)).toEqual({ [gids.unknown]: 'unknown-to-coordinator', [gids.preparing]: 'undecided' });
    expect(needsAttention()).toEqual([]);
    expect(reportedAtErrorLevel()).toEqual([]);

    clock += 30_000;
    const second = await participant.recoverXa(options);
    expect(second.rolledBack).toEqual([]);
    expect(needsAttention()).toEqual([xidText(gids.preparing)]);
    expect(reportedAtErrorLevel()).toEqual([xidText(gids.unknown)]);

    // Far past any bound: still prepared, reported on every pass.
    clock += 24 * 3_600_000;
    const third = await participant.recoverXa(options);
    expect(third.rolledBack).toEqual([]);
    expect(third.committed).toEqual([]);
    expect(reasons(third)).toEqual({ [gids.unknown]: 'unknown-to-coordinator', [gids.preparing]: 'undecided' });
    expect(reportedAtErrorLevel()).toEqual([xidText(gids.unknown), xidText(gids.unknown)]);
    expect((await ourPreparedXids()).sort()).toEqual([xidText(gids.preparing), xidText(gids.unknown)].sort());
  });

  it("asks a DtxClient's coordinator (GET /v1/transactions/:gid with the API token) in the background until every branch is finished", async () => {
    const stub = await startStatusStub();
    const dtx = new DtxClient({ coordinatorUrl: stub.url, apiToken: 'reader-token', initiatorKey: null, coordinatorRetries: 0 });
    try {
      const { participant, send } = await serve();
      const gids = { committed: gidOf('c1'), rolledBack: gidOf('r1'), unknown: gidOf('u1'), later: gidOf('l1') };
      for (const gid of Object.values(gids)) await send('prepare', gid, { text: gid });
      stub.statuses.set(gids.committed, 'committed');
      stub.statuses.set(gids.rolledBack, 'rolled-back');
      stub.statuses.set(gids.later, 'preparing');
      // gids.unknown: 404 NOT_FOUND; left prepared, whatever the passes.
      const handle = participant.startXaRecovery({ coordinators: [dtx], intervalMs: 20 });
      try {
        await waitFor(async () => (await ourPreparedXids()).length === 2 || undefined, { what: 'recovery finishing the decided branches' });
        expect((await ourPreparedXids()).sort()).toEqual([xidText(gids.later), xidText(gids.unknown)].sort());
        expect(await effects()).toEqual([gids.committed]);
        // Decided later: the next passes commit it.
        stub.statuses.set(gids.later, 'committed');
        await waitFor(async () => (await ourPreparedXids()).length === 1 || undefined, { what: 'recovery committing the branch decided later' });
        expect(await ourPreparedXids()).toEqual([xidText(gids.unknown)]);
        expect((await effects()).sort()).toEqual([gids.committed, gids.later].sort());
      } finally {
        handle.stop();
      }
      expect(stub.authorizations.size).toBe(1);
      expect([...stub.authorizations]).toEqual(['Bearer reader-token']);
      expect(stub.asked).toEqual(expect.arrayContaining(Object.values(gids)));
    } finally {
      await dtx.close();
      await stub.close();
    }
  });

  it('leaves alone the branches another participant prepared on the same server (another database), even of the same gid', async () => {
    const here = await serve();
    const otherDb = await createTestDatabase(inject('mysqlUrl'), 'xa participant other');
    const otherKnex = knexFactory({ client: 'mysql2', connection: otherDb.url, pool: { min: 0, max: 4 } });
    let otherTransport: Transport | undefined;
    try {
      await otherKnex.schema.createTable('effects', (t) => {
        t.increments('id');
        t.string('gid', 128).notNullable();
        t.string('branch_id', 64).notNullable();
        t.string('text', 64).notNullable();
      });
      const other = createParticipant({
        knex: otherKnex,
        resources: [notes],
        ...KEYS,
        publicUrl: PUBLIC_URL,
        now: () => clock,
        logger: pino({ level: 'silent' }),
      });
      await other.migrate();
      otherTransport = await viaFastify(other);
      const shared = gidOf('shared');
      const long = `${run}-${'o'.repeat(128 - run.length - 1)}`;
      // Here: branch 'note' of the shared gid. There: branch 'other' of it, and a branch of a long gid.
      expect(await here.send('prepare', shared, { text: 'here' })).toMatchObject({ status: 200 });
      expect(await send(otherTransport, 'prepare', shared, { text: 'there' }, 'other')).toMatchObject({ status: 200 });
      expect(await send(otherTransport, 'prepare', long, { text: 'there-long' }, 'other')).toMatchObject({ status: 200 });
      expect(await ourPreparedXids()).toHaveLength(3);

      // This participant's coordinator rolls everything back and knows nothing else: only this participant's branch is asked about and touched.
      const asked: string[] = [];
      const coordinator = async (gid: string): Promise<XaGlobalStatus | null> => {
        asked.push(gid);
        return gid.startsWith(run) && gid !== long ? 'rolled-back' : null;
      };
      const pass = await here.participant.recoverXa({ coordinators: askingOnly(coordinator) });
      expect(pass.rolledBack).toEqual([xidText(shared)]);
      expect(pass.committed).toEqual([]);
      expect(pass.inDoubt.filter((d) => ours.has(d.xid))).toEqual([]);
      expect(asked.filter((gid) => gid.startsWith(run))).toEqual([shared]);
      expect((await ourPreparedXids()).sort()).toEqual([xidText(shared, 'other'), xidText(long, 'other')].sort());

      // The other participant's own recovery finishes its branches.
      const otherPass = await other.recoverXa({ coordinators: askingOnly(async (gid) => (gid.startsWith(run) ? 'committed' : 'preparing')) });
      expect(otherPass.committed.sort()).toEqual([xidText(shared, 'other'), xidText(long, 'other')].sort());
      expect(await ourPreparedXids()).toEqual([]);
      expect(await otherKnex('effects').orderBy('id').pluck('text')).toEqual(['there', 'there-long']);
      expect(await effects()).toEqual([]);
    } finally {
      await otherTransport?.close();
      for (const xid of await ourPreparedXids()) await knex.raw(`XA ROLLBACK ${xid}`);
      await otherKnex.destroy();
      await otherDb.drop();
    }
  });

  function needsAttention(): string[] {
    return logs
      .filter((l) => l['level'] === 40 && String(l['msg']).includes('needs attention'))
      .flatMap((l) => (ours.has(String(l['xid'])) ? [String(l['xid'])] : []));
  }

  /** This test's xids the recovery reported at error level, in order. */
  function reportedAtErrorLevel(): string[] {
    return logs
      .filter((l) => l['level'] === 50 && String(l['msg']).includes('finishXa'))
      .flatMap((l) => (ours.has(String(l['xid'])) ? [String(l['xid'])] : []));
  }
});

describe('XA branch: business data held back until the decision', () => {
  it('keeps a prepared change invisible to other connections (the old balance is read, without waiting) and its row locked, until the commit', async () => {
    const { transfer } = await serve();
    await knex('xa_accounts').insert({ id: 'alice', balance: 100 });
    const gid = gidOf('debit');
    const debit: Transfer = { account: 'alice', amount: -30 };
    expect(await transfer('prepare', gid, debit)).toMatchObject({ status: 200, body: { ok: true, result: { balance: 70 } } });
    expect(await balanceOf('alice')).toBe(100);
    expect(await recoveredFormatIds(gid, 'transfer')).toEqual([DTX_XA_FORMAT_ID]);
    expect(await barrierRowsOf(gid)).toEqual([]);
    // The prepared branch holds the row: a locking read gives up after the lock wait bound.
    await expect(
      knex.transaction(async (trx) => {
        await trx.raw('set innodb_lock_wait_timeout = 1');
        await trx.raw('select balance from xa_accounts where id = ? for update', ['alice']);
      }),
    ).rejects.toMatchObject({ code: 'ER_LOCK_WAIT_TIMEOUT' });

    expect(await transfer('commit', gid, debit)).toMatchObject({ status: 200, body: { ok: true, result: null } });
    expect(await balanceOf('alice')).toBe(70);
    expect(await recoveredFormatIds(gid, 'transfer')).toEqual([]);
    expect(await barrierRowsOf(gid)).toEqual([{ gid, branch_id: 'transfer', op: 'prepare', origin_op: 'prepare' }]);

    // Repeats after the commit change nothing and never run the handler again.
    expect(await transfer('commit', gid, debit)).toMatchObject({ status: 200, body: { ok: true, duplicate: true } });
    expect(await transfer('prepare', gid, debit)).toMatchObject({ status: 200, body: { ok: true, duplicate: true } });
    expect(prepareRuns).toBe(1);
    expect(await balanceOf('alice')).toBe(70);
    expect(await recoveredFormatIds(gid, 'transfer')).toEqual([]);
  });

  it('answers a repeated prepare of a prepared branch as a duplicate: the handler does not run again, the change is applied once', async () => {
    const { transfer } = await serve();
    await knex('xa_accounts').insert({ id: 'alice', balance: 100 });
    const gid = gidOf('debit-twice');
    const debit: Transfer = { account: 'alice', amount: -30 };
    expect(await transfer('prepare', gid, debit)).toMatchObject({ status: 200, body: { ok: true, result: { balance: 70 } } });
    expect(await transfer('prepare', gid, debit)).toMatchObject({ status: 200, body: { ok: true, duplicate: true } });
    expect(prepareRuns).toBe(1);
    expect(await recoveredFormatIds(gid, 'transfer')).toEqual([DTX_XA_FORMAT_ID]);
    expect(await transfer('commit', gid, debit)).toMatchObject({ status: 200 });
    expect(await balanceOf('alice')).toBe(70);
  });

  it('undoes the update of a handler that refuses (409 with its code) or fails (500): nothing prepared, no barrier row, the balance unchanged', async () => {
    const { transfer } = await serve();
    await knex('xa_accounts').insert({ id: 'alice', balance: 100 });
    const refused = gidOf('refused');
    expect(await transfer('prepare', refused, { account: 'alice', amount: -500, reject: true })).toMatchObject({
      status: 409,
      body: { code: 'INSUFFICIENT_FUNDS', message: 'insufficient funds' },
    });
    const failed = gidOf('failed');
    expect(await transfer('prepare', failed, { account: 'alice', amount: -5, fail: true })).toMatchObject({ status: 500, body: { code: 'HANDLER_ERROR' } });
    expect(prepareRuns).toBe(2);
    for (const gid of [refused, failed]) {
      expect(await recoveredFormatIds(gid, 'transfer'), gid).toEqual([]);
      expect(await barrierRowsOf(gid), gid).toEqual([]);
    }
    expect(await balanceOf('alice')).toBe(100);
    // Nothing holds the row: a locking read gets it at once.
    await knex.transaction(async (trx) => {
      await trx.raw('set innodb_lock_wait_timeout = 1');
      await trx.raw('select balance from xa_accounts where id = ? for update', ['alice']);
    });
  });

  it('discards a prepared change on rollback; the repeat is a duplicate, a late prepare is refused without running the handler', async () => {
    const { transfer } = await serve();
    await knex('xa_accounts').insert({ id: 'alice', balance: 100 });
    const gid = gidOf('debit-undone');
    const debit: Transfer = { account: 'alice', amount: -30 };
    expect(await transfer('prepare', gid, debit)).toMatchObject({ status: 200 });
    expect(await transfer('rollback', gid, debit)).toMatchObject({ status: 200, body: { ok: true, result: null } });
    expect(await balanceOf('alice')).toBe(100);
    expect(await recoveredFormatIds(gid, 'transfer')).toEqual([]);
    expect(await barrierRowsOf(gid)).toEqual([{ gid, branch_id: 'transfer', op: 'prepare', origin_op: 'rollback' }]);
    expect(await transfer('rollback', gid, debit)).toMatchObject({ status: 200, body: { ok: true, duplicate: true } });
    expect(await transfer('prepare', gid, debit)).toMatchObject({ status: 409, body: { code: 'SUSPENDED' } });
    expect(prepareRuns).toBe(1);
    expect(await balanceOf('alice')).toBe(100);
    expect(await recoveredFormatIds(gid, 'transfer')).toEqual([]);
  });

  it('answers a rollback of a committed branch 409 ALREADY_COMMITTED, leaving it committed', async () => {
    const { transfer } = await serve();
    await knex('xa_accounts').insert({ id: 'alice', balance: 100 });
    const gid = gidOf('debit-kept');
    const debit: Transfer = { account: 'alice', amount: -30 };
    expect(await transfer('commit', gid, debit)).toMatchObject({ status: 409, body: { code: 'PREPARE_NOT_FOUND' } });
    expect(await barrierRowsOf(gid)).toEqual([]);
    expect(await transfer('prepare', gid, debit)).toMatchObject({ status: 200 });
    expect(await transfer('commit', gid, debit)).toMatchObject({ status: 200 });
    expect(await transfer('rollback', gid, debit)).toMatchObject({ status: 409, body: { code: 'ALREADY_COMMITTED' } });
    expect(await balanceOf('alice')).toBe(70);
    expect(await barrierRowsOf(gid)).toEqual([{ gid, branch_id: 'transfer', op: 'prepare', origin_op: 'prepare' }]);
  });
});

describe('XA branch: a rollback answered while the prepare is still in flight', () => {
  it('is never a success the prepare can still undo; retried, it ends the branch rolled back with nothing applied', async () => {
    const { transfer } = await serve();
    await knex('xa_accounts').insert({ id: 'alice', balance: 100 });
    const gid = gidOf('race-early');
    const debit: Transfer = { account: 'alice', amount: -30, holdAfterUpdate: true };
    const prepare = transfer('prepare', gid, debit);
    await waitFor(() => holding === 1 || undefined, { what: 'the prepare holding its branch after its update' });
    // Answered while the handler is still held: the prepare could still reach XA PREPARE after it.
    const early = await transfer('rollback', gid, debit);
    expect(holding).toBe(1);
    release();
    const prepared = await prepare;
    // The invariant: never both a successful rollback and a branch prepared, ready to commit.
    if (early.status === 200) expect(prepared.status).not.toBe(200);
    else expect(early.status === 425 || early.status >= 500, `rollback answered ${early.status}`).toBe(true);

    // The coordinator retries the rollback until it lands.
    const landed = await waitFor(
      async () => {
        const reply = await transfer('rollback', gid, debit);
        return reply.status === 200 ? reply : undefined;
      },
      { what: 'the retried rollback landing' },
    );
    expect(landed).toMatchObject({ status: 200, body: { ok: true } });
    expect(await balanceOf('alice')).toBe(100);
    expect(await recoveredFormatIds(gid, 'transfer')).toEqual([]);
    expect(await barrierRowsOf(gid)).toEqual([{ gid, branch_id: 'transfer', op: 'prepare', origin_op: 'rollback' }]);
    expect(await transfer('prepare', gid, debit)).toMatchObject({ status: 409, body: { code: 'SUSPENDED' } });
    expect(await transfer('commit', gid, debit)).toMatchObject({ status: 409, body: { code: 'PREPARE_NOT_FOUND' } });
    expect(prepareRuns).toBe(1);
    expect(await balanceOf('alice')).toBe(100);
  });
});

describe('XA branch: ids at the edges of the protocol', () => {
  it('uses a gid of up to 64 characters and any branch id of up to 64 as the xid itself; gids with ".", "-" and "_" prepare and commit', async () => {
    const { send } = await serve();
    const gid64 = `${run}-${'x'.repeat(64 - run.length - 1)}`;
    const branch64 = 'b'.repeat(64);
    const cases: Array<[gid: string, branchId: string]> = [
      [gid64, 'note'],
      [gidOf('branch64'), branch64],
      [`${run}.dotted.1`, 'note'],
      [`${run}-dashed-1`, 'note'],
      [`${run}_under_1`, 'note'],
      [`${run}.mix-of_all.3`, 'b.-_1'],
    ];
    expect(gid64).toHaveLength(64);
    for (const [gid, branchId] of cases) {
      expect(await send('prepare', gid, { text: gid.slice(-20) }, branchId), gid).toMatchObject({ status: 200, body: { ok: true } });
      expect(xidOf(gid, branchId), gid).toEqual({ gtrid: gid, bqual: branchId });
      expect(await recoveredFormatIds(gid, branchId), gid).toEqual([DTX_XA_FORMAT_ID]);
    }
    // No gid is hashed, so none is recorded.
    expect(await knex('dtx_xa_gid').count({ n: '*' })).toEqual([{ n: 0 }]);
    for (const [gid, branchId] of cases)
      expect(await send('commit', gid, { text: '' }, branchId), gid).toMatchObject({ status: 200, body: { ok: true, result: null } });
    expect(await ourPreparedXids()).toEqual([]);
    expect((await effects()).sort()).toEqual(cases.map(([gid]) => gid.slice(-20)).sort());
    expect((await barrierRows()).map((row) => [row.gid, row.branch_id, row.origin_op])).toEqual(cases.map(([gid, branchId]) => [gid, branchId, 'prepare']));
  });

  it('gives two branches of one 128-character gid distinct hashed xids, records the gid once, and recovery finds the gid again for both', async () => {
    const { participant, send } = await serve();
    const long = `${run}-${'L'.repeat(128 - run.length - 1)}`;
    expect(long).toHaveLength(128);
    const [first, second] = [xidOf(long, 'b1'), xidOf(long, 'b2')];
    expect(first.gtrid).toBe(second.gtrid);
    expect(describeXid(first)).not.toBe(describeXid(second));
    expect(first.gtrid).not.toBe(long);
    expect(await send('prepare', long, { text: 'one' }, 'b1')).toMatchObject({ status: 200 });
    expect(await send('prepare', long, { text: 'two' }, 'b2')).toMatchObject({ status: 200 });
    expect((await ourPreparedXids()).sort()).toEqual([describeXid(first), describeXid(second)].sort());
    expect(await knex('dtx_xa_gid').select('gtrid', 'gid')).toEqual([{ gtrid: first.gtrid, gid: long }]);

    const asked: string[] = [];
    const pass = await participant.recoverXa({
      coordinators: askingOnly(async (gid) => {
        asked.push(gid);
        return gid === long ? 'committed' : 'preparing';
      }),
    });
    expect(asked).toEqual([long, long]);
    expect(pass.committed.sort()).toEqual([describeXid(first), describeXid(second)].sort());
    expect(await ourPreparedXids()).toEqual([]);
    expect((await effects(long)).sort()).toEqual(['one', 'two']);
  });

  it('refuses a gid with a space, a quote or non-ASCII characters: no xid (BarrierInputError), and 400 over HTTP for a dtx-gid header with a space', async () => {
    for (const gid of [`${run} spaced`, `${run}'quoted`, `${run}-é`, `${run}-注文`, `${run}\tx`]) {
      expect(() => sdkXidOf(gid, 'note'), gid).toThrow(BarrierInputError);
    }
    expect(() => sdkXidOf(gidOf('ok'), 'has space'), 'branch id').toThrow(BarrierInputError);
    expect(() => sdkXidOf('g'.repeat(129), 'note'), '129 characters').toThrow(BarrierInputError);

    const { send } = await serve();
    const spaced = `${run} spaced`;
    for (const op of ['prepare', 'commit', 'rollback'] as const)
      expect(await send(op, spaced), op).toMatchObject({ status: 400, body: { code: 'BAD_BARRIER_INPUT' } });
    expect(prepareRuns).toBe(0);
    expect(await barrierRows()).toEqual([]);
    expect(await ourPreparedXids()).toEqual([]);
  });
});

describe('XA recovery: one pass, outcomes from a function', () => {
  it('commits g1 (committed), rolls back g2 (rolled-back), leaves g3 (no record) and g4 (preparing) in doubt', async () => {
    const { participant, send } = await serve();
    const [g1, g2, g3, g4] = ['g1', 'g2', 'g3', 'g4'].map(gidOf) as [string, string, string, string];
    for (const gid of [g1, g2, g3, g4]) expect(await send('prepare', gid, { text: gid }), gid).toMatchObject({ status: 200 });
    const statuses: Record<string, XaGlobalStatus | null> = { [g1]: 'committed', [g2]: 'rolled-back', [g3]: null, [g4]: 'preparing' };
    const coordinators = askingOnly(async (gid) => (gid in statuses ? statuses[gid]! : 'preparing'));
    clock += 5_000;
    const pass = await participant.recoverXa({ coordinators });
    expect(pass.committed).toEqual([xidText(g1)]);
    expect(pass.rolledBack).toEqual([xidText(g2)]);
    const inDoubt = (gid: string, reason: string, inDoubtForMs: number) => ({
      xid: xidText(gid),
      gid,
      branchId: 'note',
      inDoubtForMs,
      reason,
      coordinator: null,
    });
    // XA RECOVER lists prepared xids in no set order.
    const byGid = <T extends { gid: string }>(list: readonly T[]) => [...list].sort((a, b) => (a.gid < b.gid ? -1 : 1));
    expect(byGid(pass.inDoubt)).toEqual(byGid([inDoubt(g3, 'unknown-to-coordinator', 0), inDoubt(g4, 'undecided', 0)]));
    expect(pass.failed).toBe(0);
    expect((await ourPreparedXids()).sort()).toEqual([xidText(g3), xidText(g4)].sort());
    expect(await effects()).toEqual([g1]);
    expect((await barrierRows()).map((row) => [row.gid, row.origin_op]).sort()).toEqual(
      [
        [g1, 'prepare'],
        [g2, 'rollback'],
      ].sort(),
    );
    // Rolled back by the recovery as by the coordinator: a late prepare is refused, the handler not run.
    expect(await send('prepare', g2, { text: 'late' })).toMatchObject({ status: 409, body: { code: 'SUSPENDED' } });
    expect(prepareRuns).toBe(4);

    // The coordinator loses its record of g4 too: kept prepared, like g3.
    statuses[g4] = null;
    clock += 5_000;
    const later = await participant.recoverXa({ coordinators });
    expect(later.rolledBack).toEqual([]);
    expect(byGid(later.inDoubt)).toEqual(byGid([inDoubt(g3, 'unknown-to-coordinator', 5_000), inDoubt(g4, 'unknown-to-coordinator', 5_000)]));
    expect((await ourPreparedXids()).sort()).toEqual([xidText(g3), xidText(g4)].sort());
  });
});

/** A stand-in for the coordinator's GET /v1/transactions/:gid: a status per gid, 404 NOT_FOUND for the others. */
async function startStatusStub() {
  const app: FastifyInstance = Fastify();
  const statuses = new Map<string, XaGlobalStatus>();
  const asked: string[] = [];
  const authorizations = new Set<string>();
  app.get<{ Params: { gid: string } }>('/v1/transactions/:gid', async (req, reply) => {
    const gid = req.params.gid;
    authorizations.add(String(req.headers.authorization));
    if (!gid.startsWith(run)) return reply.code(200).send({ transaction: { gid, status: 'preparing' }, branches: [], events: [] });
    asked.push(gid);
    const status = statuses.get(gid);
    if (status === undefined) return reply.code(404).send({ code: 'NOT_FOUND', message: `no transaction ${gid}` });
    return { transaction: { gid, status }, branches: [], events: [] };
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, statuses, asked, authorizations, close: () => app.close() };
}
