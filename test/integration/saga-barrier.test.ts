/**
 * Saga steps behind the barrier, against real MariaDB and PostgreSQL: a participant serving
 * one saga resource (defineSaga on a knex transaction, defineSqlSaga on plain
 * SQL) is called through `participant.handle` with signed action and
 * compensate calls, in every order the coordinator and the network can
 * produce. The business effect is an account balance plus one row per
 * handler run, so "applied without its compensation" and "run twice" are
 * both visible in the database.
 */
import type { Knex } from 'knex';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BranchOngoingError, BranchRejectedError, createParticipant, defineSaga, defineSqlSaga, HEADERS, sign } from '../../participant-sdk/index.ts';
import type { BranchOp, Participant, ParticipantReply, SagaResource } from '../../participant-sdk/index.ts';
import type { TestDatabase } from '../support/databases.ts';
import { BARRIER_DATABASES, type BarrierDatabase } from '../support/barrier-databases.ts';
import { waitFor } from '../../tools/wait.ts';

const SECRET = 'saga-test-secret-0123456789';
const NOW = 1_700_000_000_000;
const HOST = 'bank.test';
const GID = 'saga-gid-1';
const BRANCH = '01';
const START_BALANCE = 100;

interface StepPayload {
  account: string;
  amount: number;
}

/**
 * What the test makes the handlers do, per call: refuse, fail, or wait at a
 * gate inside the local transaction (after their business write).
 */
interface Behaviour {
  action?: 'reject' | 'ongoing' | { gate: Promise<void>; entered: () => void; then?: 'reject' };
  compensate?: 'reject' | 'crash' | 'ongoing';
}
let behaviour: Behaviour = {};

/** The database of the suite running (BARRIER_DATABASES). */
let database: BarrierDatabase;
let db: TestDatabase;
let knex: Knex;

async function setUp(label: string): Promise<void> {
  db = await database.create(`saga barrier ${label}`);
  knex = database.connect(db);
  await knex.schema.createTable('accounts', (t) => {
    t.string('id', 16).primary();
    t.integer('balance').notNullable();
  });
  await knex.schema.createTable('runs', (t) => {
    t.increments('id');
    t.string('gid', 128).notNullable();
    t.string('op', 16).notNullable();
  });
  await knex('accounts').insert({ id: 'alice', balance: START_BALANCE });
  behaviour = {};
}

async function tearDown(): Promise<void> {
  await knex?.destroy();
  await db?.drop();
}

/** The action's business write, then whatever the test asked of it. */
async function afterActionWrite(): Promise<void> {
  const b = behaviour.action;
  if (b === 'reject') throw new BranchRejectedError('insufficient funds', { code: 'INSUFFICIENT_FUNDS' });
  if (b === 'ongoing') throw new BranchOngoingError('still deciding');
  if (typeof b === 'object') {
    b.entered();
    await b.gate;
    if (b.then === 'reject') throw new BranchRejectedError('refused after a while', { code: 'LATE_REFUSAL' });
  }
}

function afterCompensateWrite(): void {
  const b = behaviour.compensate;
  // The rule under test: a compensation that refuses is answered 409 like a TCC cancel's refusal.
  if (b === 'reject') throw new BranchRejectedError('cannot undo now', { code: 'CANNOT_UNDO' });
  if (b === 'ongoing') throw new BranchOngoingError('undo pending');
  if (b === 'crash') throw new TypeError('internal detail');
}

const withdrawKnex = defineSaga<StepPayload>({
  name: 'withdraw',
  async action({ gid, op, payload, trx }) {
    await trx('accounts')
      .where('id', payload.account)
      .update({ balance: trx.raw('balance - ?', [payload.amount]) });
    await trx('runs').insert({ gid, op });
    await afterActionWrite();
  },
  async compensate({ gid, op, payload, trx }) {
    await trx('accounts')
      .where('id', payload.account)
      .update({ balance: trx.raw('balance + ?', [payload.amount]) });
    await trx('runs').insert({ gid, op });
    afterCompensateWrite();
  },
});

const withdrawSql = defineSqlSaga<StepPayload>({
  name: 'withdraw',
  async action({ gid, op, payload, sql }) {
    await sql('update accounts set balance = balance - ? where id = ?', [payload.amount, payload.account]);
    await sql('insert into runs (gid, op) values (?, ?)', [gid, op]);
    await afterActionWrite();
  },
  async compensate({ gid, op, payload, sql }) {
    await sql('update accounts set balance = balance + ? where id = ?', [payload.amount, payload.account]);
    await sql('insert into runs (gid, op) values (?, ?)', [gid, op]);
    afterCompensateWrite();
  },
});

const KINDS: Record<string, SagaResource<StepPayload>> = { 'knex transaction': withdrawKnex, 'plain SQL': withdrawSql };

async function makeParticipant(resource: SagaResource<StepPayload>): Promise<Participant> {
  const participant = createParticipant({ knex, resources: [resource], coordinatorKey: SECRET, now: () => NOW, logger: pino({ level: 'silent' }) });
  await participant.migrate();
  return participant;
}

/** A signed call of `op` on the saga resource, as the coordinator sends it. */
function send(participant: Participant, op: BranchOp, gid = GID): Promise<ParticipantReply> {
  const path = `/withdraw/${op}`;
  const body = JSON.stringify({ account: 'alice', amount: 30 } satisfies StepPayload);
  const signature = sign(SECRET, { method: 'POST', host: HOST, path, coordinator: '', caller: '', gid, branchId: BRANCH, op, timestamp: NOW, body });
  return participant.handle({
    method: 'POST',
    path,
    headers: {
      host: HOST,
      [HEADERS.gid]: gid,
      [HEADERS.branchId]: BRANCH,
      [HEADERS.op]: op,
      [HEADERS.timestamp]: String(NOW),
      [HEADERS.signature]: signature,
    },
    rawBody: body,
  });
}

async function runs(op: BranchOp): Promise<number> {
  const [row] = await knex('runs').where({ op }).count({ n: '*' });
  return Number(row?.['n']);
}

async function balance(): Promise<number> {
  const row = (await knex('accounts').where('id', 'alice').first('balance')) as { balance: number };
  return row.balance;
}

async function barrierRows(): Promise<Array<{ op: string; origin_op: string }>> {
  return knex('dtx_barrier').where({ gid: GID }).select('op', 'origin_op').orderBy('op');
}

/** Barrier claims of this database waiting on a row another transaction holds (on MySQL: its INSERT IGNOREs still executing). */
async function barrierInsertsWaiting(): Promise<number> {
  return database.lockWaits(knex, db, ['insert ignore into']);
}

/** A gate for the action's handler: `inside` resolves once it waits in its transaction, `open` lets it go on. */
function actionGate(then?: 'reject') {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let entered!: () => void;
  const inside = new Promise<void>((resolve) => (entered = resolve));
  behaviour.action = { gate, entered, ...(then ? { then } : {}) };
  return { inside, open };
}

const OK = { statusCode: 200, body: { ok: true, result: null } };
const DUPLICATE = { statusCode: 200, body: { ok: true, duplicate: true } };
const NULL_COMPENSATION = { statusCode: 200, body: { ok: true, nullCompensation: true } };
const SUSPENDED = { statusCode: 409, body: { code: 'SUSPENDED', message: expect.any(String) } };

describe.each(BARRIER_DATABASES)('on $name', (suiteDatabase) => {
  beforeEach(async (context) => {
    database = suiteDatabase;
    await setUp(context.task.name);
  });

  afterEach(tearDown);

  describe.each(Object.keys(KINDS))('saga step on a %s', (kind) => {
    let participant: Participant;

    beforeEach(async () => {
      participant = await makeParticipant(KINDS[kind]!);
    });

    describe('orderings', () => {
      it('runs an action once; a repeated action answers success without running again', async () => {
        expect(await send(participant, 'action')).toEqual(OK);
        expect(await send(participant, 'action')).toEqual(DUPLICATE);
        expect(await runs('action')).toBe(1);
        expect(await balance()).toBe(START_BALANCE - 30);
      });

      it('runs a compensation after its action once, undoing it; a repeated compensation is a duplicate', async () => {
        await send(participant, 'action');
        expect(await send(participant, 'compensate')).toEqual(OK);
        expect(await send(participant, 'compensate')).toEqual(DUPLICATE);
        // A re-delivered action after its compensation neither runs nor is refused: it did run here.
        expect(await send(participant, 'action')).toEqual(DUPLICATE);
        expect(await runs('action')).toBe(1);
        expect(await runs('compensate')).toBe(1);
        expect(await balance()).toBe(START_BALANCE);
        expect(await barrierRows()).toEqual([
          { op: 'action', origin_op: 'action' },
          { op: 'compensate', origin_op: 'compensate' },
        ]);
      });

      it('answers a compensation without its action as a null compensation, then refuses the late action with SUSPENDED', async () => {
        expect(await send(participant, 'compensate')).toEqual(NULL_COMPENSATION);
        expect(await send(participant, 'compensate')).toEqual(DUPLICATE);
        expect(await send(participant, 'action')).toEqual(SUSPENDED);
        expect(await send(participant, 'action')).toEqual(SUSPENDED);
        expect(await runs('action')).toBe(0);
        expect(await runs('compensate')).toBe(0);
        expect(await balance()).toBe(START_BALANCE);
        // The action row was written by the compensation: it is what blocks the late action.
        expect(await barrierRows()).toEqual([
          { op: 'action', origin_op: 'compensate' },
          { op: 'compensate', origin_op: 'compensate' },
        ]);
      });

      it('keeps branches and transactions apart', async () => {
        await send(participant, 'compensate', 'saga-gid-other');
        expect(await send(participant, 'action')).toEqual(OK);
        expect(await send(participant, 'action', 'saga-gid-other')).toEqual(SUSPENDED);
        expect(await runs('action')).toBe(1);
      });
    });

    describe('a refused or failed action', () => {
      it('leaves nothing behind, so its compensation is a null compensation and a late duplicate of the action is refused', async () => {
        behaviour.action = 'reject';
        expect(await send(participant, 'action')).toEqual({ statusCode: 409, body: { code: 'INSUFFICIENT_FUNDS', message: 'insufficient funds' } });
        expect(await barrierRows()).toEqual([]);
        expect(await balance()).toBe(START_BALANCE);

        behaviour.action = undefined;
        expect(await send(participant, 'compensate')).toEqual(NULL_COMPENSATION);
        expect(await send(participant, 'action')).toEqual(SUSPENDED);
        expect(await runs('compensate')).toBe(0);
        expect(await balance()).toBe(START_BALANCE);
      });

      it('runs a re-sent action again when the first was refused (nothing was recorded), and the compensation then undoes it', async () => {
        behaviour.action = 'reject';
        expect((await send(participant, 'action')).statusCode).toBe(409);
        behaviour.action = undefined;
        expect(await send(participant, 'action')).toEqual(OK);
        // The saga rolls back after the 409 and compensates this step too: the effect does not stay.
        expect(await send(participant, 'compensate')).toEqual(OK);
        expect(await runs('action')).toBe(1);
        expect(await runs('compensate')).toBe(1);
        expect(await balance()).toBe(START_BALANCE);
      });

      it('answers an ongoing action 425 and runs it again next time', async () => {
        behaviour.action = 'ongoing';
        expect((await send(participant, 'action')).statusCode).toBe(425);
        behaviour.action = undefined;
        expect(await send(participant, 'action')).toEqual(OK);
        expect(await runs('action')).toBe(1);
      });
    });

    describe('a compensation that does not succeed', () => {
      it('is answered 409 with its code when it refuses (as a TCC cancel is), rolled back, and runs once when re-sent', async () => {
        await send(participant, 'action');
        behaviour.compensate = 'reject';
        expect(await send(participant, 'compensate')).toEqual({ statusCode: 409, body: { code: 'CANNOT_UNDO', message: 'cannot undo now' } });
        expect(await runs('compensate')).toBe(0);
        expect(await balance()).toBe(START_BALANCE - 30);
        behaviour.compensate = undefined;
        expect(await send(participant, 'compensate')).toEqual(OK);
        expect(await runs('compensate')).toBe(1);
        expect(await balance()).toBe(START_BALANCE);
      });

      it('is answered 500 (unknown, retried) on any other error and 425 when ongoing, never success', async () => {
        await send(participant, 'action');
        behaviour.compensate = 'crash';
        expect(await send(participant, 'compensate')).toEqual({
          statusCode: 500,
          body: { code: 'HANDLER_ERROR', message: expect.stringContaining('TypeError') },
        });
        behaviour.compensate = 'ongoing';
        expect((await send(participant, 'compensate')).statusCode).toBe(425);
        expect(await runs('compensate')).toBe(0);
        behaviour.compensate = undefined;
        expect(await send(participant, 'compensate')).toEqual(OK);
        expect(await balance()).toBe(START_BALANCE);
      });
    });

    describe('an action and its compensation arriving together', () => {
      it('action first: the compensation waits for the action in flight, then undoes it', async () => {
        const gate = actionGate();
        const action = send(participant, 'action');
        let compensate: Promise<ParticipantReply> | undefined;
        try {
          await gate.inside;
          compensate = send(participant, 'compensate');
          await waitFor(async () => (await barrierInsertsWaiting()) > 0, { what: 'compensate waiting on the action row' });
        } finally {
          gate.open();
        }
        expect(await action).toEqual(OK);
        expect(await compensate).toEqual(OK);
        expect(await runs('action')).toBe(1);
        expect(await runs('compensate')).toBe(1);
        expect(await balance()).toBe(START_BALANCE);
      });

      it('action first, refused in flight: the compensation waits, then is a null compensation', async () => {
        const gate = actionGate('reject');
        const action = send(participant, 'action');
        let compensate: Promise<ParticipantReply> | undefined;
        try {
          await gate.inside;
          compensate = send(participant, 'compensate');
          await waitFor(async () => (await barrierInsertsWaiting()) > 0, { what: 'compensate waiting on the action row' });
        } finally {
          gate.open();
        }
        expect((await action).statusCode).toBe(409);
        expect(await compensate).toEqual(NULL_COMPENSATION);
        behaviour.action = undefined;
        expect(await send(participant, 'action')).toEqual(SUSPENDED);
        expect(await runs('compensate')).toBe(0);
        expect(await balance()).toBe(START_BALANCE);
      });

      it('compensation first: the action waits for the null compensation in flight, then is refused', async () => {
        // Hold the compensation inside its local transaction, after it claimed the action row: another
        // transaction holds its compensate row, so its second claim waits there.
        const holder = await knex.transaction();
        let compensate: Promise<ParticipantReply> | undefined;
        let action: Promise<ParticipantReply> | undefined;
        try {
          await holder('dtx_barrier').insert({ gid: GID, branch_id: BRANCH, op: 'compensate', seq: 1, origin_op: 'compensate', created_at: NOW });
          compensate = send(participant, 'compensate');
          await waitFor(async () => (await barrierInsertsWaiting()) === 1, { what: 'compensate waiting on its own row' });
          action = send(participant, 'action');
          await waitFor(async () => (await barrierInsertsWaiting()) === 2, { what: 'action waiting on the action row the compensation claimed' });
        } finally {
          await holder.rollback();
        }
        expect(await compensate).toEqual(NULL_COMPENSATION);
        expect(await action).toEqual(SUSPENDED);
        expect(await runs('action')).toBe(0);
        expect(await runs('compensate')).toBe(0);
        expect(await balance()).toBe(START_BALANCE);
      });

      it('many of each at once: the action runs at most once, and never without its compensation', async () => {
        const replies = await Promise.all([
          send(participant, 'action'),
          send(participant, 'compensate'),
          send(participant, 'action'),
          send(participant, 'compensate'),
          send(participant, 'action'),
        ]);
        expect(replies.map((r) => r.statusCode).every((s) => s === 200 || s === 409)).toBe(true);
        const actions = await runs('action');
        const compensations = await runs('compensate');
        expect(actions).toBeLessThanOrEqual(1);
        // Two compensations were sent and every one answered: the effect, if applied, was undone once.
        expect(compensations).toBe(actions);
        expect(await balance()).toBe(START_BALANCE);
      });
    });
  });
});
