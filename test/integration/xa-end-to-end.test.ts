/**
 * XA end to end: two bank services, each an SDK participant whose XA
 * resource runs plain SQL in an XA branch of its own MariaDB database, and
 * the SDK's initiator (`dtx.xa`) around a real coordinator. Bank B's
 * database is a private MariaDB of this file, so that it can be SIGKILLed
 * between the prepare and the commit.
 *
 * What must hold: a transfer commits in both databases or in neither; a
 * prepared branch survives its participant's process and its database
 * crashing, and the decision is applied once they are back — by the
 * coordinator's retries, or by the participant's own recovery.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import knexFactory, { type Knex } from 'knex';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  BranchRejectedError,
  createParticipant,
  defineXa,
  DTX_XA_FORMAT_ID,
  dtxParticipantPlugin,
  DtxClient,
  TryRejectedError,
  type Participant,
} from '../../participant-sdk/index.ts';
import {
  startCoordinatorProcess,
  startInProcessCoordinator,
  testEnv,
  TEST_API_TOKEN,
  TEST_SECRET,
  TEST_INITIATOR_KEY,
  TEST_INITIATOR_KEYS,
  type InProcessCoordinator,
} from '../support/coordinator-harness.ts';
import { createTestDatabase, uniqueRedisPrefix, type TestDatabase } from '../support/databases.ts';
import { pickFreePort } from '../../tools/free-port.ts';
import { startMariadb, type MariadbServer } from '../../tools/servers.ts';
import { waitFor } from '../../tools/wait.ts';

interface Bank {
  url: string;
  knex: Knex;
  app: FastifyInstance;
  participant: Participant;
}

const move = (resource: string, sign: 1 | -1) =>
  defineXa<{ account: string; amount: number }, null>({
    name: resource,
    async prepare({ payload, sql }) {
      const covered = sign < 0 ? ' and balance >= ?' : '';
      const { affectedRows } = await sql(`update accounts set balance = balance + ? where id = ?${covered}`, [
        sign * payload.amount,
        payload.account,
        ...(sign < 0 ? [payload.amount] : []),
      ]);
      if (affectedRows === 0) throw new BranchRejectedError(`cannot move ${payload.amount} on ${payload.account}`, { code: 'INSUFFICIENT_FUNDS' });
      return null;
    },
  });

/** A bank on `dbUrl` serving xa-debit and xa-credit under /dtx, on `port` (0: any). */
async function startBank(dbUrl: string, port = 0): Promise<Bank> {
  const knex = knexFactory({ client: 'mysql2', connection: dbUrl, pool: { min: 0, max: 8 } });
  await knex.raw('create table if not exists accounts (id varchar(32) primary key, balance bigint not null)');
  const existing = await knex('accounts').pluck('id');
  if (existing.length === 0)
    await knex('accounts').insert([
      { id: 'alice', balance: 100 },
      { id: 'bob', balance: 100 },
    ]);
  const participant = createParticipant({
    knex,
    resources: [move('xa-debit', -1), move('xa-credit', 1)],
    // The coordinator commits and rolls back with its key; the tests caller prepares with its own.
    coordinatorKey: TEST_SECRET,
    initiatorKeys: TEST_INITIATOR_KEYS,
    logger: pino({ level: 'silent' }),
    xaLockWaitSeconds: 2,
  });
  await participant.migrate();
  const app = Fastify({ logger: false, forceCloseConnections: true });
  await app.register(dtxParticipantPlugin, { participant, prefix: '/dtx' });
  return { url: await app.listen({ host: '127.0.0.1', port }), knex, app, participant };
}

async function stopBank(bank: Bank): Promise<void> {
  await bank.app.close();
  // Closing the pool is what a killed process does to its sessions: prepared xids are detached and kept.
  await bank.knex.destroy();
}

const GID_PREFIX = 'xa2e-';

describe('XA end to end', () => {
  const dbs: TestDatabase[] = [];
  let privateDb: MariadbServer;
  let coordinator: InProcessCoordinator;
  let bankA: Bank;
  let bankB: Bank;
  let bankBPort: number;
  let dtx: DtxClient;
  let n = 0;
  const newGid = () => `${GID_PREFIX}${Date.now()}-${++n}`;
  const bankBDbUrl = () => `${privateDb.url}/xa_bank_b`;

  const balance = async (bank: Bank, account: string) => Number((await bank.knex('accounts').where({ id: account }).first('balance'))?.balance);
  /** This file's prepared branches: XA RECOVER lists the whole server's, other test files' included. */
  const preparedXids = async (bank: Bank) => {
    const [rows] = (await bank.knex.raw('XA RECOVER')) as unknown as [{ formatID: number; gtrid_length: number; data: Buffer }[]];
    return rows
      .filter((row) => Number(row.formatID) === DTX_XA_FORMAT_ID)
      .map((row) => Buffer.from(row.data).subarray(0, Number(row.gtrid_length)).toString('ascii'))
      .filter((gid) => gid.startsWith(GID_PREFIX));
  };
  const statusOf = async (gid: string) => (await dtx.coordinator.query(gid)).transaction.status as string;
  const transfer = (gid: string, amount: number) => [
    { url: `${bankA.url}/dtx/xa-debit`, payload: { account: 'alice', amount }, branchId: 'debit' },
    { url: `${bankB.url}/dtx/xa-credit`, payload: { account: 'bob', amount }, branchId: 'credit' },
  ];

  beforeAll(async () => {
    privateDb = await startMariadb();
    const admin = knexFactory({ client: 'mysql2', connection: privateDb.url });
    await admin.raw('create database if not exists xa_bank_b');
    await admin.destroy();
    for (const label of ['xa2e_coord', 'xa2e_bank_a']) dbs.push(await createTestDatabase(inject('mysqlUrl'), label));
    coordinator = await startInProcessCoordinator(testEnv(dbs[0]!.url, inject('redisUrl'), uniqueRedisPrefix('xa2e')));
    bankA = await startBank(dbs[1]!.url);
    bankBPort = await pickFreePort();
    bankB = await startBank(bankBDbUrl(), bankBPort);
    dtx = new DtxClient({ coordinatorUrl: coordinator.url, apiToken: TEST_API_TOKEN, initiatorKey: TEST_INITIATOR_KEY, tryTimeoutMs: 5_000 });
  }, 120_000);

  afterAll(async () => {
    await dtx?.close();
    await Promise.allSettled([bankA && stopBank(bankA), bankB && stopBank(bankB)]);
    await coordinator?.stop();
    for (const db of dbs) await db.drop();
    await privateDb?.stop();
  });

  it('commits in both databases: the money moves, nothing stays prepared', async () => {
    const [alice, bob] = [await balance(bankA, 'alice'), await balance(bankB, 'bob')];
    const gid = newGid();
    const outcome = await dtx.xa(async (tx) => tx.prepareAll(transfer(gid, 10)), { gid, timeoutMs: 20_000 });
    expect(outcome).toMatchObject({ gid, status: 'committed' });
    expect([await balance(bankA, 'alice'), await balance(bankB, 'bob')]).toEqual([alice - 10, bob + 10]);
    expect([...(await preparedXids(bankA)), ...(await preparedXids(bankB))]).toEqual([]);
  });

  it('a refused prepare rolls back the other branch, already prepared: nothing moves anywhere', async () => {
    const [alice, bob] = [await balance(bankA, 'alice'), await balance(bankB, 'bob')];
    const gid = newGid();
    // Bob's credit is prepared first, then alice's debit is refused (more than her balance).
    const failing = dtx.xa(
      async (tx) => {
        await tx.prepare(transfer(gid, 0)[1]!);
        await tx.prepare({ ...transfer(gid, 0)[0]!, payload: { account: 'alice', amount: 1_000_000 } });
      },
      { gid, timeoutMs: 20_000 },
    );
    await expect(failing).rejects.toBeInstanceOf(TryRejectedError);
    await waitFor(async () => (await statusOf(gid)) === 'rolled-back', { what: `${gid} rolled back`, timeoutMs: 10_000 });
    expect([await balance(bankA, 'alice'), await balance(bankB, 'bob')]).toEqual([alice, bob]);
    expect(await preparedXids(bankB)).toEqual([]);
  });

  it("survives the participant's process dying after its prepare: the coordinator's retries commit it once it is back", async () => {
    const bob = await balance(bankB, 'bob');
    const gid = newGid();
    await dtx.xa(
      async (tx) => {
        await tx.prepareAll(transfer(gid, 7));
        // Bank B dies with its branch prepared, before the submit's commit reaches it.
        await stopBank(bankB);
      },
      { gid, timeoutMs: 20_000 },
    );
    expect(await statusOf(gid)).toBe('committing');
    bankB = await startBank(bankBDbUrl(), bankBPort);
    expect(await preparedXids(bankB)).toEqual([gid]);
    await waitFor(async () => (await statusOf(gid)) === 'committed', { what: `${gid} committed`, timeoutMs: 15_000 });
    expect(await balance(bankB, 'bob')).toBe(bob + 7);
    expect(await preparedXids(bankB)).toEqual([]);
  });

  it('survives MariaDB itself SIGKILLed and restarted between the prepare and the commit', async () => {
    const bob = await balance(bankB, 'bob');
    const gid = newGid();
    await dtx.xa(
      async (tx) => {
        await tx.prepareAll(transfer(gid, 5));
        await privateDb.kill('SIGKILL');
        await privateDb.start();
      },
      { gid, timeoutMs: 20_000 },
    );
    await waitFor(async () => (await statusOf(gid)) === 'committed', { what: `${gid} committed after the restart`, timeoutMs: 20_000 });
    expect(await balance(bankB, 'bob')).toBe(bob + 5);
    expect(await preparedXids(bankB)).toEqual([]);
  });

  it('a coordinator SIGKILLed between the commit decision and phase two: another one commits every branch', async () => {
    const env = testEnv(dbs[0]!.url, inject('redisUrl'), uniqueRedisPrefix('xa2e-kill'));
    const first = await startCoordinatorProcess({ ...env, DTX_INSTANCE_ID: 'xa-first' }, await pickFreePort());
    const client = new DtxClient({ coordinatorUrl: first.url, apiToken: TEST_API_TOKEN, initiatorKey: TEST_INITIATOR_KEY, tryTimeoutMs: 5_000 });
    try {
      const [alice, bob] = [await balance(bankA, 'alice'), await balance(bankB, 'bob')];
      const gid = newGid();
      await client.xa(
        async (tx) => {
          await tx.prepareAll(transfer(gid, 4));
          // Bank B down: the decision's first round cannot finish, and the coordinator is killed with it pending.
          await stopBank(bankB);
        },
        { gid, timeoutMs: 20_000 },
      );
      expect(await statusOf(gid)).toBe('committing');
      await first.kill();
      bankB = await startBank(bankBDbUrl(), bankBPort);
      expect(await preparedXids(bankB)).toEqual([gid]);
      // The in-process coordinator of this file, on the same log, takes the transaction over once the lease ends.
      await waitFor(async () => (await statusOf(gid)) === 'committed', { what: `${gid} committed by the other coordinator`, timeoutMs: 20_000 });
      expect([await balance(bankA, 'alice'), await balance(bankB, 'bob')]).toEqual([alice - 4, bob + 4]);
      expect(await preparedXids(bankB)).toEqual([]);
    } finally {
      await client.close();
      await first.kill();
    }
  });

  it("the participant's recovery applies a decision the coordinator could not deliver", async () => {
    const bob = await balance(bankB, 'bob');
    const gid = newGid();
    // The coordinator is given a commit URL it cannot reach: only the participant's recovery can finish the branch.
    const unreachable = `http://127.0.0.1:${await pickFreePort()}/dtx/xa-credit`;
    await dtx.xa(
      async (tx) => {
        await tx.prepare(transfer(gid, 3)[0]!);
        await tx.prepare({
          prepareUrl: `${bankB.url}/dtx/xa-credit/prepare`,
          commitUrl: `${unreachable}/commit`,
          rollbackUrl: `${unreachable}/rollback`,
          payload: { account: 'bob', amount: 3 },
          branchId: 'credit',
        });
      },
      { gid, timeoutMs: 20_000 },
    );
    expect(await preparedXids(bankB)).toEqual([gid]);
    // The branch recorded the coordinator it was prepared through (dtx's): that one is asked.
    const pass = await bankB.participant.recoverXa({ coordinators: [dtx] });
    expect(pass.committed).toHaveLength(1);
    expect(await balance(bankB, 'bob')).toBe(bob + 3);
    expect(await preparedXids(bankB)).toEqual([]);
  });
});
