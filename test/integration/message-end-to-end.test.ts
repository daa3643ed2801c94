/**
 * Transactional messages end to end: a sender service (its orders table and
 * its check-back, served by the SDK) and a receiver service, each on its own
 * database, around a real coordinator. The message goes out exactly when
 * the sender's local transaction committed: on its submit, or — when the
 * sender died between its commit and its submit — on the check-back's
 * answer; never when it did not commit.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import knexFactory, { type Knex } from 'knex';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  createParticipant,
  defineMessageReceiver,
  defineMessageSender,
  dtxParticipantPlugin,
  DtxClient,
  MessageAbortedError,
} from '../../participant-sdk/index.ts';
import { claimSenderRow } from '../../participant-sdk/barrier/sender-row.ts';
import { startInProcessCoordinator, testEnv, TEST_API_TOKEN, TEST_SECRET, type InProcessCoordinator } from '../support/coordinator-harness.ts';
import { createTestDatabase, uniqueRedisPrefix, type TestDatabase } from '../support/databases.ts';
import { waitFor } from '../../tools/wait.ts';

interface Service {
  url: string;
  knex: Knex;
  app: FastifyInstance;
}

/** A service with its own database and the participant plugin serving `resources` under /dtx. */
async function startService(db: TestDatabase, resources: Parameters<typeof createParticipant>[0]['resources'], table: string): Promise<Service> {
  const knex = knexFactory({ client: 'mysql2', connection: db.url, pool: { min: 0, max: 10 } });
  await knex.schema.createTable(table, (t) => {
    t.bigIncrements('id');
    t.string('gid', 128);
    t.string('note', 64);
  });
  const participant = createParticipant({ knex, resources, secret: TEST_SECRET, logger: pino({ level: 'silent' }) });
  await participant.migrate();
  const app = Fastify({ logger: false, forceCloseConnections: true });
  await app.register(dtxParticipantPlugin, { participant, prefix: '/dtx' });
  return { url: await app.listen({ host: '127.0.0.1', port: 0 }), knex, app };
}

describe('transactional messages end to end', () => {
  const dbs: TestDatabase[] = [];
  let coordinator: InProcessCoordinator;
  let sender: Service;
  let receiver: Service;
  let dtx: DtxClient;
  let n = 0;
  const newGid = () => `m2e-${Date.now()}-${++n}`;

  const rows = async (service: Service, table: string, gid: string) => Number((await service.knex(table).where({ gid }).count({ n: '*' }))[0]?.n ?? 0);
  const status = async (gid: string) =>
    ((await dtx.coordinator.query(gid)) as unknown as { transaction: { status: string; decidedBy: string | null } }).transaction;
  const until = (gid: string, want: string) =>
    waitFor(async () => ((await status(gid)).status === want ? status(gid) : undefined), { what: `message ${gid} ${want}`, timeoutMs: 12_000 });
  const message = (gid: string, timeoutMs = 60_000) =>
    dtx
      .message({ gid, checkUrl: `${sender.url}/dtx/outbox/check`, timeoutMs })
      .deliver('credit', { url: `${receiver.url}/dtx/credit`, payload: { gid, amount: 5 } });

  /** The prepare alone, as commitWith sends it first; what follows is up to the test. */
  const prepareOnly = (gid: string) =>
    dtx.coordinator.prepareMessage({
      gid,
      checkUrl: `${sender.url}/dtx/outbox/check`,
      timeoutMs: 300,
      branches: [{ id: 'credit', url: `${receiver.url}/dtx/credit/deliver`, payload: { gid, amount: 5 } }],
    });

  beforeAll(async () => {
    for (const label of ['m2e_coord', 'm2e_sender', 'm2e_receiver']) dbs.push(await createTestDatabase(inject('mysqlUrl'), label));
    coordinator = await startInProcessCoordinator(testEnv(dbs[0]!.url, inject('redisUrl'), uniqueRedisPrefix('m2e')));
    sender = await startService(dbs[1]!, [defineMessageSender({ name: 'outbox' })], 'orders');
    receiver = await startService(
      dbs[2]!,
      [
        defineMessageReceiver<{ gid: string; amount: number }>({
          name: 'credit',
          deliver: async (ctx) => {
            await ctx.trx('credits').insert({ gid: ctx.payload.gid, note: `+${ctx.payload.amount}` });
          },
        }),
      ],
      'credits',
    );
    dtx = new DtxClient({ coordinatorUrl: coordinator.url, apiToken: TEST_API_TOKEN, secret: TEST_SECRET });
  });

  afterAll(async () => {
    await dtx?.close();
    for (const service of [sender, receiver]) {
      await service?.app.close();
      await service?.knex.destroy();
    }
    await coordinator?.stop();
    for (const db of dbs) await db.drop();
  });

  it('committed, then submitted: the receiver applies it once', async () => {
    const gid = newGid();
    const outcome = await message(gid).commitWith(sender.knex, async (trx) => {
      await trx('orders').insert({ gid, note: 'order' });
      return 'order placed';
    });
    expect(outcome).toMatchObject({ gid, result: 'order placed' });
    await until(gid, 'delivered');
    expect(await rows(sender, 'orders', gid)).toBe(1);
    expect(await rows(receiver, 'credits', gid)).toBe(1);
  });

  it('the local work throws: nothing committed, nothing delivered, the error rethrown', async () => {
    const gid = newGid();
    const failure = new Error('out of stock');
    await expect(
      message(gid).commitWith(sender.knex, async (trx) => {
        await trx('orders').insert({ gid, note: 'order' });
        throw failure;
      }),
    ).rejects.toBe(failure);
    await until(gid, 'aborted');
    expect(await rows(sender, 'orders', gid)).toBe(0);
    expect(await rows(receiver, 'credits', gid)).toBe(0);
  });

  it('the sender dies between its commit and its submit: the check-back finds the commit, and the message is delivered', async () => {
    const gid = newGid();
    await prepareOnly(gid);
    // What commitWith does before its submit, and then nothing more.
    await sender.knex.transaction(async (trx) => {
      await claimSenderRow(trx, 'dtx_barrier', gid, 'commit', Date.now());
      await trx('orders').insert({ gid, note: 'order' });
    });
    expect(await until(gid, 'delivered')).toMatchObject({ decidedBy: 'check-back' });
    expect(await rows(receiver, 'credits', gid)).toBe(1);
  });

  it('prepared but never committed: the check-back drops it, and a late commit of that gid is refused', async () => {
    const gid = newGid();
    await prepareOnly(gid);
    expect(await until(gid, 'aborted')).toMatchObject({ decidedBy: 'check-back' });
    await expect(
      message(gid).commitWith(sender.knex, async (trx) => {
        await trx('orders').insert({ gid, note: 'late' });
      }),
    ).rejects.toBeInstanceOf(MessageAbortedError);
    // Refused by the sender's own row too, had the coordinator not answered first.
    await expect(
      sender.knex.transaction(async (trx) => {
        const row = await claimSenderRow(trx, 'dtx_barrier', gid, 'commit', Date.now());
        expect(row).toMatchObject({ inserted: false, origin: 'check' });
      }),
    ).resolves.toBeUndefined();
    expect(await rows(sender, 'orders', gid)).toBe(0);
    expect(await rows(receiver, 'credits', gid)).toBe(0);
  });

  it('a check-back arriving while the sender commits waits for it: delivered exactly once', async () => {
    const gid = newGid();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const committing = message(gid, 200).commitWith(sender.knex, async (trx) => {
      await trx('orders').insert({ gid, note: 'slow order' });
      await held;
    });
    // The deadline passes while the local transaction is open: the check-back comes and waits on the sender's row.
    await waitFor(
      async () => {
        const [processes] = (await sender.knex.raw(
          "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND INFO LIKE 'insert ignore%'",
        )) as [{ n: number }[]];
        return Number(processes[0]?.n) > 0;
      },
      { what: 'the check-back waiting on the sender row', timeoutMs: 8_000 },
    );
    release();
    await committing;
    await until(gid, 'delivered');
    expect(await rows(receiver, 'credits', gid)).toBe(1);
  });
});
