/**
 * Transactional messages end to end: a sender service (its orders table and
 * its check-back, served by the SDK) and a receiver service, each on its own
 * database, around a real coordinator. The message goes out exactly when
 * the sender's local transaction committed: on its submit, or — when the
 * sender died between its commit and its submit — on the check-back's
 * answer; never when it did not commit. Receivers that fail, are called
 * twice or are held up by a coordinator's crash still apply it once.
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
import { callHeaders } from '../../protocol/index.ts';
import { pickFreePort } from '../../tools/free-port.ts';
import {
  startCoordinatorProcess,
  startInProcessCoordinator,
  testEnv,
  TEST_API_TOKEN,
  TEST_SECRET,
  type CoordinatorProcess,
  type InProcessCoordinator,
} from '../support/coordinator-harness.ts';
import { createTestDatabase, uniqueRedisPrefix, type TestDatabase } from '../support/databases.ts';
import { waitFor } from '../../tools/wait.ts';

interface MessageView {
  transaction: { status: string; decidedBy: string | null; reason: string | null };
  branches: { branchId: string; status: string }[];
  events: {
    kind: string;
    fromStatus: string | null;
    toStatus: string | null;
    branchId: string | null;
    op: string | null;
    outcome: string | null;
    actor: string | null;
  }[];
}

/** One call of a receiver's handler, failed ones included. */
interface ReceiverCall {
  receiver: string;
  gid: string;
  at: number;
}

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
  // Senders and receivers take no tries: the coordinator's key is the only one they verify with.
  const participant = createParticipant({ knex, resources, coordinatorKey: TEST_SECRET, logger: pino({ level: 'silent' }) });
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
  const view = async (gid: string, client = dtx) => (await client.coordinator.query(gid)) as unknown as MessageView;
  const status = async (gid: string, client = dtx) => (await view(gid, client)).transaction;
  const until = (gid: string, want: string, client = dtx) =>
    waitFor(async () => ((await status(gid, client)).status === want ? status(gid, client) : undefined), { what: `message ${gid} ${want}`, timeoutMs: 12_000 });
  const calls: ReceiverCall[] = [];
  const callsOf = (gid: string, receiver: string) => calls.filter((call) => call.gid === gid && call.receiver === receiver);
  /** How many times the flaky receiver fails a gid's delivery (500) before it applies it. */
  const flakyFailures = new Map<string, number>();
  /** Deliveries to the gated receiver wait here, per gid. */
  const gates = new Map<string, { reached: () => void; opened: Promise<void>; open: () => void }>();
  const message = (gid: string, timeoutMs = 60_000) =>
    dtx
      .message({ gid, checkUrl: `${sender.url}/dtx/outbox/check`, timeoutMs })
      .deliver('credit', { url: `${receiver.url}/dtx/credit`, payload: { gid, amount: 5 } });

  /** The prepare alone, as commitWith sends it first; what follows is up to the test. */
  const prepareOnly = (gid: string, options: { timeoutMs?: number; checkUrl?: string } = {}) =>
    dtx.coordinator.prepareMessage({
      gid,
      checkUrl: options.checkUrl ?? `${sender.url}/dtx/outbox/check`,
      timeoutMs: options.timeoutMs ?? 300,
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
            calls.push({ receiver: 'credit', gid: ctx.gid, at: Date.now() });
            await ctx.trx('credits').insert({ gid: ctx.payload.gid, note: `+${ctx.payload.amount}` });
          },
        }),
        defineMessageReceiver<{ gid: string; amount: number }>({
          name: 'flaky',
          deliver: async (ctx) => {
            calls.push({ receiver: 'flaky', gid: ctx.gid, at: Date.now() });
            const failures = flakyFailures.get(ctx.gid) ?? 0;
            if (failures > 0) {
              flakyFailures.set(ctx.gid, failures - 1);
              throw new Error('flaky receiver down');
            }
            await ctx.trx('credits').insert({ gid: ctx.payload.gid, note: `flaky +${ctx.payload.amount}` });
          },
        }),
        defineMessageReceiver<{ gid: string; amount: number }>({
          name: 'gated',
          deliver: async (ctx) => {
            calls.push({ receiver: 'gated', gid: ctx.gid, at: Date.now() });
            // The row is written first, so that the effect is inside the transaction the gate holds open.
            await ctx.trx('credits').insert({ gid: ctx.payload.gid, note: `gated +${ctx.payload.amount}` });
            const gate = gates.get(ctx.gid);
            if (gate) {
              gate.reached();
              await gate.opened;
            }
          },
        }),
      ],
      'credits',
    );
    // A message's sender tries nothing: it holds no key at the participants.
    dtx = new DtxClient({ coordinatorUrl: coordinator.url, apiToken: TEST_API_TOKEN, initiatorKey: null });
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

  it('committed, then submitted: every receiver applies its payload once, as the history shows', async () => {
    const gid = newGid();
    const outcome = await message(gid)
      .deliver('bonus', { url: `${receiver.url}/dtx/flaky`, payload: { gid, amount: 7 } })
      .commitWith(sender.knex, async (trx) => {
        await trx('orders').insert({ gid, note: 'order' });
        return 'order placed';
      });
    expect(outcome).toMatchObject({ gid, result: 'order placed' });
    expect(await until(gid, 'delivered')).toMatchObject({ decidedBy: 'tests' });
    expect(await rows(sender, 'orders', gid)).toBe(1);
    expect((await receiver.knex('credits').where({ gid }).orderBy('note')).map((row: { note: string }) => row.note)).toEqual(['+5', 'flaky +7']);
    expect([callsOf(gid, 'credit').length, callsOf(gid, 'flaky').length]).toEqual([1, 1]);
    const { branches, events } = await view(gid);
    expect(branches.map((b) => [b.branchId, b.status]).sort()).toEqual([
      ['bonus', 'delivered'],
      ['credit', 'delivered'],
    ]);
    // The history in order; the two deliveries run at once, so their order between themselves is free.
    const lines = events.map((e) => [e.kind, e.fromStatus, e.toStatus, e.branchId, e.op, e.outcome, e.actor].map((v) => v ?? '-').join(' '));
    expect([...lines.slice(0, 3), ...lines.slice(3, 4), ...lines.slice(4, 6).sort(), ...lines.slice(6)]).toEqual([
      'begin - prepared - - - tests',
      'register - - credit - - tests',
      'register - - bonus - - tests',
      'status prepared submitted - - - tests',
      'branch-call - - bonus deliver success -',
      'branch-call - - credit deliver success -',
      'status submitted delivered - - - -',
    ]);
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
    // The abort is decided by the sender's own record: its check-back says "never committed".
    expect(await until(gid, 'aborted')).toMatchObject({ reason: expect.stringContaining('check-back: the initiator never committed') });
    expect(await rows(sender, 'orders', gid)).toBe(0);
    expect(await rows(receiver, 'credits', gid)).toBe(0);
  });

  it("an abort of a prepared message whose sender committed is refused 409, and the message is delivered: the sender's record decides", async () => {
    const gid = newGid();
    await prepareOnly(gid, { timeoutMs: 60_000 });
    await sender.knex.transaction(async (trx) => {
      await claimSenderRow(trx, 'dtx_barrier', gid, 'commit', Date.now());
      await trx('orders').insert({ gid, note: 'order' });
    });
    await expect(dtx.coordinator.abort(gid, { reason: 'changed my mind', waitMs: 5_000 })).rejects.toMatchObject({ httpStatus: 409, code: 'ILLEGAL_STATE' });
    expect(await until(gid, 'delivered')).toMatchObject({ reason: expect.stringContaining('check-back: the initiator committed') });
    expect(await rows(receiver, 'credits', gid)).toBe(1);
  });

  it('an abort of a prepared message whose check-back does not answer leaves it prepared, and says so', async () => {
    const gid = newGid();
    // A loopback port nothing listens on: the check-back is refused a connection.
    await prepareOnly(gid, { timeoutMs: 60_000, checkUrl: `http://127.0.0.1:${await pickFreePort()}/dtx/outbox/check` });
    expect(await dtx.coordinator.abort(gid, { reason: 'changed my mind', waitMs: 1_000 })).toMatchObject({ gid, status: 'prepared' });
    expect(await status(gid)).toMatchObject({ status: 'prepared' });
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
    expect(await until(gid, 'delivered')).toMatchObject({ decidedBy: 'check-back', reason: 'check-back: the initiator committed' });
    expect(await rows(receiver, 'credits', gid)).toBe(1);
  });

  it('prepared but never committed: the check-back drops it, and a late commit of that gid is refused', async () => {
    const gid = newGid();
    await prepareOnly(gid);
    expect(await until(gid, 'aborted')).toMatchObject({ decidedBy: 'check-back', reason: 'check-back: the initiator never committed' });
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
    try {
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
    } finally {
      release();
    }
    await committing;
    const decided = await until(gid, 'delivered');
    // Whichever of the submit and the check-back's yes came first decided it; nothing ever turned it to aborting.
    expect(['tests', 'check-back']).toContain(decided?.decidedBy);
    expect((await view(gid)).events.filter((e) => e.toStatus === 'aborting' || e.toStatus === 'aborted')).toEqual([]);
    expect(await rows(sender, 'orders', gid)).toBe(1);
    expect(await rows(receiver, 'credits', gid)).toBe(1);
    expect(callsOf(gid, 'credit')).toHaveLength(1);
  });

  it('a receiver failing a few times is retried until it applies the message, once; a delivery sent again by hand changes nothing', async () => {
    const gid = newGid();
    flakyFailures.set(gid, 3);
    await message(gid)
      .deliver('bonus', { url: `${receiver.url}/dtx/flaky`, payload: { gid, amount: 7 } })
      .commitWith(sender.knex, async (trx) => {
        await trx('orders').insert({ gid, note: 'order' });
      });
    await until(gid, 'delivered');
    expect(callsOf(gid, 'flaky')).toHaveLength(4);
    expect(await rows(receiver, 'credits', gid)).toBe(2);

    // A late duplicate of each delivery, as a network could replay it, in reverse order: accepted, not applied again.
    for (const [branchId, resource] of [
      ['bonus', 'flaky'],
      ['credit', 'credit'],
    ] as const) {
      const url = `${receiver.url}/dtx/${resource}/deliver`;
      const body = JSON.stringify({ gid, amount: 5 });
      const response = await fetch(url, {
        method: 'POST',
        headers: callHeaders(TEST_SECRET, { url, gid, branchId, op: 'deliver', body, timestamp: Date.now() }),
        body,
      });
      expect(response.status).toBe(200);
    }
    expect(await rows(receiver, 'credits', gid)).toBe(2);
    expect(callsOf(gid, 'flaky')).toHaveLength(4);
    expect(callsOf(gid, 'credit')).toHaveLength(1);
  });

  it('deliverAt a second ahead: nothing is delivered before it, then it is', async () => {
    const gid = newGid();
    const deliverAt = new Date(Date.now() + 1_000);
    const outcome = await dtx
      .message({ gid, checkUrl: `${sender.url}/dtx/outbox/check`, timeoutMs: 60_000, deliverAt })
      .deliver('credit', { url: `${receiver.url}/dtx/credit`, payload: { gid, amount: 5 } })
      .commitWith(sender.knex, async (trx) => {
        await trx('orders').insert({ gid, note: 'order' });
      });
    expect(outcome.status).toBe('submitted');
    expect(callsOf(gid, 'credit')).toHaveLength(0);
    await until(gid, 'delivered');
    expect(callsOf(gid, 'credit')).toHaveLength(1);
    expect(callsOf(gid, 'credit')[0]!.at).toBeGreaterThanOrEqual(deliverAt.getTime());
    expect(await rows(receiver, 'credits', gid)).toBe(1);
  });

  describe('a coordinator killed while a delivery is in flight', () => {
    let coordinatorDb: TestDatabase | undefined;
    const processes: CoordinatorProcess[] = [];
    const clients: DtxClient[] = [];

    afterAll(async () => {
      // A test that failed midway must not leave a delivery (and its database transaction) waiting.
      for (const gate of gates.values()) gate.open();
      await Promise.allSettled(processes.map((p) => p.kill()));
      await Promise.allSettled(clients.map((c) => c.close()));
      await coordinatorDb?.drop();
    });

    const spawn = async (env: Record<string, string>, instanceId: string) => {
      const started = await startCoordinatorProcess({ ...env, DTX_INSTANCE_ID: instanceId }, await pickFreePort());
      processes.push(started);
      const client = new DtxClient({
        coordinatorUrl: started.url,
        apiToken: TEST_API_TOKEN,
        initiatorKey: null,
        coordinatorTimeoutMs: 10_000,
        coordinatorRetries: 0,
      });
      clients.push(client);
      return { process: started, client };
    };

    it('is delivered by the next coordinator, each receiver applying it once', async () => {
      coordinatorDb = await createTestDatabase(inject('mysqlUrl'), 'm2e_crash');
      const env = testEnv(coordinatorDb.url, inject('redisUrl'), uniqueRedisPrefix('m2e_crash'));
      const first = await spawn(env, 'm2e-first');
      const gid = newGid();
      let open!: () => void;
      const opened = new Promise<void>((resolve) => (open = resolve));
      let reached!: () => void;
      const held = new Promise<void>((resolve) => (reached = resolve));
      gates.set(gid, { reached, opened, open });

      const outcome = await first.client
        .message({ gid, checkUrl: `${sender.url}/dtx/outbox/check`, timeoutMs: 60_000 })
        .deliver('credit', { url: `${receiver.url}/dtx/credit`, payload: { gid, amount: 5 } })
        .deliver('held', { url: `${receiver.url}/dtx/gated`, payload: { gid, amount: 9 } })
        .commitWith(sender.knex, async (trx) => {
          await trx('orders').insert({ gid, note: 'order' });
        });
      expect(outcome.status).toBe('submitted');
      await held;
      expect(await status(gid, first.client)).toMatchObject({ status: 'submitted' });

      await first.process.kill();
      // The dead coordinator's call completes with nobody to read its reply: the receiver's row commits.
      open();
      await waitFor(async () => (await rows(receiver, 'credits', gid)) === 2, { what: 'both deliveries applied', timeoutMs: 5_000 });

      const second = await spawn(env, 'm2e-second');
      expect(await until(gid, 'delivered', second.client)).toMatchObject({ decidedBy: 'tests' });
      expect(await rows(receiver, 'credits', gid)).toBe(2);
      expect(callsOf(gid, 'gated')).toHaveLength(1);
      // The first coordinator died before it logged the held delivery: the second sent it again, answered as a duplicate.
      const { events } = await view(gid, second.client);
      expect(events.filter((e) => e.kind === 'branch-call' && e.branchId === 'held' && e.outcome === 'success')).toHaveLength(1);
      expect(await rows(sender, 'orders', gid)).toBe(1);
    });
  });
});
