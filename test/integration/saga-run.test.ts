/**
 * Sagas that run as asked, on the real servers through the SDK: steps in
 * order, the payloads each call carries, steps run by their dependency
 * graph (concurrently when they may), and a graph cut short by a refused
 * prerequisite, compensated in reverse graph order.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import knexFactory, { type Knex } from 'knex';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { createParticipant, defineSaga, dtxParticipantPlugin } from '../../participant-sdk/index.ts';
import { TEST_SECRET } from '../support/coordinator-harness.ts';
import { startCoordinatorWithBank, type CoordinatorWithBank } from '../support/coordinator-with-bank.ts';
import { createTestDatabase, type TestDatabase } from '../support/databases.ts';
import { historyLines, sagaView, stepCalls, stepOf, waitForSagaStatus } from '../support/saga-view.ts';
import type { Gate } from '../support/test-participant.ts';
import { waitFor } from '../../tools/wait.ts';

/** A saga participant that keeps the body of every call it applied, to see which payload reached which op. */
interface Recorder {
  url: string;
  payloads(gid: string): Promise<{ step: string; op: string; payload: unknown }[]>;
  stop(): Promise<void>;
}

async function startRecorder(db: TestDatabase): Promise<Recorder> {
  const knex: Knex = knexFactory({ client: 'mysql2', connection: db.url, pool: { min: 0, max: 5 } });
  await knex.schema.createTable('calls', (t) => {
    t.increments('id');
    t.string('gid', 128);
    t.string('step', 64);
    t.string('op', 16);
    t.text('payload');
  });
  const record = defineSaga<unknown>({
    name: 'record',
    action: async ({ gid, branchId, op, payload, trx }) => {
      await trx('calls').insert({ gid, step: branchId, op, payload: JSON.stringify(payload) });
    },
    compensate: async ({ gid, branchId, op, payload, trx }) => {
      await trx('calls').insert({ gid, step: branchId, op, payload: JSON.stringify(payload) });
    },
  });
  const participant = createParticipant({ knex, resources: [record], coordinatorKey: TEST_SECRET, logger: pino({ level: 'silent' }) });
  await participant.migrate();
  const app: FastifyInstance = Fastify({ logger: false });
  await app.register(dtxParticipantPlugin, { participant, prefix: '/dtx' });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url: `${base}/dtx/record`,
    payloads: async (gid) => {
      const rows = (await knex('calls').where({ gid }).orderBy('id')) as { step: string; op: string; payload: string }[];
      return rows.map((row) => ({ step: row.step, op: row.op, payload: JSON.parse(row.payload) as unknown }));
    },
    stop: async () => {
      await app.close();
      await knex.destroy();
    },
  };
}

describe('saga run', () => {
  let env: CoordinatorWithBank;
  let recorderDb: TestDatabase;
  let recorder: Recorder;
  const gates: Gate[] = [];

  beforeAll(async () => {
    env = await startCoordinatorWithBank(inject('mysqlUrl'), inject('redisUrl'), 'saga_run');
    recorderDb = await createTestDatabase(inject('mysqlUrl'), 'saga_run_recorder');
    recorder = await startRecorder(recorderDb);
  });
  afterEach(() => {
    // A failed test must not leave a call held inside the participant.
    for (const gate of gates.splice(0)) gate.open();
    env.bank.behaveWell();
  });
  afterAll(async () => {
    await recorder?.stop();
    await recorderDb?.drop();
    await env?.stop();
  });

  it('runs sequential steps in order, each action once, and logs begin, the running decision, each action and the finish', async () => {
    const { dtx, bank } = env;
    const saga = dtx
      .saga()
      .step('a', { url: bank.sagaUrl, payload: { n: 1 } })
      .step('b', { url: bank.sagaUrl })
      .step('c', { url: bank.sagaUrl });

    const outcome = await saga.submit();

    expect(outcome).toEqual({ gid: saga.gid, status: 'succeeded', created: true });
    expect(await bank.appliedOrder(saga.gid)).toEqual(['action a', 'action b', 'action c']);
    for (const id of ['a', 'b', 'c']) expect(await bank.effects(saga.gid, 'compensate', id)).toBe(0);
    const view = await sagaView(dtx, saga.gid);
    expect(view.transaction).toMatchObject({ mode: 'saga', status: 'succeeded', reason: null, needsAttention: false });
    expect(view.branches.map((b) => [b.branchId, b.status, b.attempts, b.dependsOn])).toEqual([
      ['a', 'succeeded', 1, []],
      ['b', 'succeeded', 1, ['a']],
      ['c', 'succeeded', 1, ['b']],
    ]);
    expect(historyLines(view).filter((line) => line !== 'register')).toEqual([
      'begin',
      'status created→running',
      'action a success',
      'action b success',
      'action c success',
      'status running→succeeded',
    ]);
  });

  it('sends the action payload to the action and, by default, to the compensation; an explicit compensation payload to the compensation', async () => {
    const { dtx, bank } = env;
    bank.behave('action', 'reject', 'refused');
    const saga = dtx
      .saga()
      .step('same', { url: recorder.url, payload: { amount: 30 } })
      .step('own', {
        action: { url: `${recorder.url}/action`, payload: { debit: 5 } },
        compensate: { url: `${recorder.url}/compensate`, payload: { credit: 5, note: 'undo' } },
      })
      // Turns the saga back, so that both compensations run.
      .step('refused', { url: bank.sagaUrl });

    expect((await saga.submit()).status).toBe('compensated');

    expect(await recorder.payloads(saga.gid)).toEqual([
      { step: 'same', op: 'action', payload: { amount: 30 } },
      { step: 'own', op: 'action', payload: { debit: 5 } },
      { step: 'own', op: 'compensate', payload: { credit: 5, note: 'undo' } },
      { step: 'same', op: 'compensate', payload: { amount: 30 } },
    ]);
    expect(await bank.appliedOrder(saga.gid)).toEqual([]);
    const view = await sagaView(dtx, saga.gid);
    expect(stepOf(view, 'same')).toMatchObject({ payload: { amount: 30 }, opPayloads: null });
    expect(stepOf(view, 'own')).toMatchObject({ payload: { debit: 5 }, opPayloads: { compensate: { credit: 5, note: 'undo' } } });
  });

  it('runs steps with dependsOn [] concurrently, and a step only once all its prerequisites succeeded', async () => {
    const { dtx, bank } = env;
    const receivedBefore = bank.received.action;
    const first = bank.gate('action');
    gates.push(first);
    const saga = dtx
      .saga()
      .step('left', { url: bank.sagaUrl, dependsOn: [] })
      .step('right', { url: bank.sagaUrl, dependsOn: [] })
      .step('join', { url: bank.sagaUrl, dependsOn: ['left', 'right'] });
    const outcome = saga.submit();

    // One of the two roots is held inside the participant; the other commits meanwhile: both were called in one round.
    // (Read from the participant: the coordinator records the round once both calls answered.)
    await first.reached;
    const [done] = (await waitFor(
      async () => {
        const applied = await bank.appliedOrder(saga.gid);
        return applied.length > 0 ? applied.map((line) => line.replace('action ', '')) : null;
      },
      { what: 'the other root applied while the first is held' },
    ))!;
    const held = done === 'left' ? 'right' : 'left';
    expect(done).toMatch(/^(left|right)$/);
    // `join` waits for the held one: never called while it is in flight.
    expect(bank.received.action).toBe(receivedBefore + 2);
    expect(await bank.effects(saga.gid, 'action', 'join')).toBe(0);

    first.open();
    expect((await outcome).status).toBe('succeeded');
    expect(await bank.appliedOrder(saga.gid)).toEqual([`action ${done}`, `action ${held}`, 'action join']);
  });

  it('a refused prerequisite: its dependents never run (skipped), what ran is compensated in reverse graph order', async () => {
    const { dtx, bank } = env;
    // root → mid → leaf; side runs next to mid; gate: refused after mid succeeded.
    bank.behave('action', 'reject', 'gate');
    const saga = dtx
      .saga()
      .step('root', { url: bank.sagaUrl })
      .step('mid', { url: bank.sagaUrl, dependsOn: ['root'] })
      .step('gate', { url: bank.sagaUrl, dependsOn: ['mid'] })
      .step('leaf', { url: bank.sagaUrl, dependsOn: ['gate'] })
      .step('after', { url: bank.sagaUrl, dependsOn: ['leaf', 'mid'] });

    const outcome = await saga.submit();

    expect(outcome.status).toBe('compensated');
    expect(await bank.appliedOrder(saga.gid)).toEqual(['action root', 'action mid', 'compensate mid', 'compensate root']);
    for (const id of ['leaf', 'after']) {
      expect(await bank.effects(saga.gid, 'action', id)).toBe(0);
      expect(await bank.effects(saga.gid, 'compensate', id)).toBe(0);
    }
    const view = await sagaView(dtx, saga.gid);
    expect(view.transaction).toMatchObject({ status: 'compensated', reason: 'step gate: action refused (HTTP 409)' });
    for (const id of ['leaf', 'after']) {
      expect(stepOf(view, id)).toMatchObject({ status: 'compensated', attempts: 0 });
      expect(stepCalls(view, id, 'action')).toEqual([]);
      expect(stepCalls(view, id, 'compensate').map((e) => e.outcome)).toEqual(['skipped']);
    }
    // The refused step gets a null compensation (the barrier blocks a late action); nothing applied.
    expect(stepCalls(view, 'gate', 'compensate').map((e) => e.outcome)).toEqual(['success']);
    expect(await bank.effects(saga.gid, 'compensate', 'gate')).toBe(0);
    const compensations = historyLines(view).filter((line) => line.startsWith('compensate') && line.endsWith('success'));
    expect(compensations.indexOf('compensate mid success')).toBeLessThan(compensations.indexOf('compensate root success'));
    expect(compensations.indexOf('compensate gate success')).toBeLessThan(compensations.indexOf('compensate mid success'));
  });

  it('submit({ wait: false }) answers running at once, and the saga still finishes', async () => {
    const { dtx, bank } = env;
    const held = bank.gate('action');
    gates.push(held);
    const saga = dtx.saga().step('a', { url: bank.sagaUrl }).step('b', { url: bank.sagaUrl });

    const outcome = await saga.submit({ wait: false });

    expect(outcome).toEqual({ gid: saga.gid, status: 'running', created: true });
    await held.reached;
    expect(await bank.appliedOrder(saga.gid)).toEqual([]);
    held.open();
    await waitForSagaStatus(dtx, saga.gid, 'succeeded');
    expect(await bank.appliedOrder(saga.gid)).toEqual(['action a', 'action b']);
  });
});
