/**
 * FMT end to end: two bank services whose resources are plain SQL
 * (`update accounts set balance = balance - ? where id = ? and balance >= ?`,
 * no try, confirm or cancel written), the SDK's initiator (`dtx.fmt`) and a
 * real coordinator; the banks' databases on MariaDB, then on PostgreSQL.
 *
 * What must hold: a transfer commits in both databases or is undone in
 * both, byte for byte; two global transactions never write one row at once
 * (the coordinator's row locks), and two that wait for each other's rows end
 * by the lock wait, never hang; a row changed outside the global transaction
 * is never overwritten by a rollback: the transaction waits for an operator;
 * no undo record and no row lock outlives its transaction.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Knex } from 'knex';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  BranchRejectedError,
  createParticipant,
  defineFmt,
  dtxParticipantPlugin,
  DtxClient,
  FmtLockConflictError,
  TryRejectedError,
  type Participant,
} from '../../participant-sdk/index.ts';
import {
  startInProcessCoordinator,
  testEnv,
  TEST_API_TOKEN,
  TEST_INITIATOR_KEY,
  TEST_INITIATOR_KEYS,
  TEST_SECRET,
  type InProcessCoordinator,
} from '../support/coordinator-harness.ts';
import { adminCall, ADMIN_TOKENS, OPERATOR, VIEWER } from '../support/admin-api.ts';
import { createTestDatabase, uniqueRedisPrefix, type TestDatabase } from '../support/databases.ts';
import { BARRIER_DATABASES } from '../support/barrier-databases.ts';
import { waitFor } from '../../tools/wait.ts';

interface Bank {
  name: string;
  url: string;
  knex: Knex;
  app: FastifyInstance;
  participant: Participant;
}

const LOCK_WAIT_MS = 600;

/** Debit or credit, as ordinary SQL. `hold`: awaited inside the handler, after its write (to hold the row's lock a while). */
const move = (resource: string, sign: 1 | -1, hold: () => Promise<void>) =>
  defineFmt<{ account: string; amount: number }, null>({
    name: resource,
    async execute({ payload, sql }) {
      const covered = sign < 0 ? ' and balance >= ?' : '';
      const { affectedRows } = await sql(`update accounts set balance = balance + ? where id = ?${covered}`, [
        sign * payload.amount,
        payload.account,
        ...(sign < 0 ? [payload.amount] : []),
      ]);
      if (affectedRows === 0) throw new BranchRejectedError(`cannot move ${payload.amount} on ${payload.account}`, { code: 'INSUFFICIENT_FUNDS' });
      await hold();
      return null;
    },
  });

describe.each(BARRIER_DATABASES)('FMT end to end, banks on $name', (database) => {
  const dbs: TestDatabase[] = [];
  let coordinator: InProcessCoordinator;
  let bankA: Bank;
  let bankB: Bank;
  let dtx: DtxClient;
  let n = 0;
  const newGid = () => `fmt2e-${Date.now()}-${++n}`;
  /** What the handlers await after their write; tests replace it to hold a branch's rows. */
  let hold: () => Promise<void> = async () => undefined;

  async function startBank(name: string, db: TestDatabase): Promise<Bank> {
    const knex = database.connect(db);
    await knex.raw('create table if not exists accounts (id varchar(32) primary key, balance bigint not null, note varchar(64) null)');
    await knex('accounts').insert([
      { id: 'alice', balance: 1000 },
      { id: 'bob', balance: 1000 },
      { id: 'carol', balance: 1000 },
    ]);
    const participant = createParticipant({
      knex,
      resources: [move('debit', -1, () => hold()), move('credit', 1, () => hold())],
      coordinatorKey: TEST_SECRET,
      initiatorKeys: TEST_INITIATOR_KEYS,
      logger: pino({ level: 'silent' }),
      fmt: { resource: name, lockWaitMs: LOCK_WAIT_MS, undoFlushMs: 50, coordinator: { url: coordinator.url, apiToken: TEST_API_TOKEN } },
    });
    await participant.migrate();
    const app = Fastify({ logger: false, forceCloseConnections: true });
    await app.register(dtxParticipantPlugin, { participant, prefix: '/dtx' });
    return { name, url: await app.listen({ host: '127.0.0.1', port: 0 }), knex, app, participant };
  }

  const balance = async (bank: Bank, account: string) => Number((await bank.knex('accounts').where({ id: account }).first('balance'))?.balance);
  const total = async () => {
    let sum = 0;
    for (const bank of [bankA, bankB]) sum += Number((await bank.knex('accounts').sum({ s: 'balance' }))[0]?.s);
    return sum;
  };
  const undoRecords = async () => {
    let count = 0;
    for (const bank of [bankA, bankB]) count += Number((await bank.knex('dtx_fmt_undo').count({ c: '*' }))[0]?.c);
    return count;
  };
  const heldLocks = async (gid: string) =>
    (await adminCall<{ locks: { table: string; pk: unknown[]; resource: string }[] }>(coordinator.url, 'GET', `/row-locks?gid=${gid}`, { token: VIEWER.token }))
      .body.locks;
  const statusOf = async (gid: string) => (await dtx.coordinator.query(gid)).transaction.status as string;
  const transfer = (from: string, to: string, amount: number) => [
    { url: `${bankA.url}/dtx/debit`, payload: { account: from, amount }, branchId: 'debit' },
    { url: `${bankB.url}/dtx/credit`, payload: { account: to, amount }, branchId: 'credit' },
  ];
  /** Every branch's leftovers are gone: undo records (deleted in batches after a commit) and row locks. */
  const settled = async (gid: string) => {
    await waitFor(async () => (await undoRecords()) === 0, { what: 'undo records deleted', timeoutMs: 10_000 });
    expect(await heldLocks(gid)).toEqual([]);
  };

  beforeAll(async () => {
    dbs.push(await createTestDatabase(inject('mysqlUrl'), 'fmt2e_coord'));
    for (const label of ['fmt2e_bank_a', 'fmt2e_bank_b']) dbs.push(await database.create(label));
    coordinator = await startInProcessCoordinator(testEnv(dbs[0]!.url, inject('redisUrl'), uniqueRedisPrefix('fmt2e'), { DTX_ADMIN_TOKENS: ADMIN_TOKENS }));
    bankA = await startBank('bank-a', dbs[1]!);
    bankB = await startBank('bank-b', dbs[2]!);
    dtx = new DtxClient({ coordinatorUrl: coordinator.url, apiToken: TEST_API_TOKEN, initiatorKey: TEST_INITIATOR_KEY, tryTimeoutMs: 10_000 });
  }, 120_000);

  afterAll(async () => {
    hold = async () => undefined;
    await dtx?.close();
    for (const bank of [bankA, bankB]) {
      if (!bank) continue;
      await bank.app.close();
      await bank.participant.close();
      await bank.knex.destroy();
    }
    await coordinator?.stop();
    for (const db of dbs) await db.drop();
  });

  it('commits in both databases with handlers of plain SQL; the undo records and row locks go', async () => {
    const [alice, bob] = [await balance(bankA, 'alice'), await balance(bankB, 'bob')];
    const gid = newGid();
    const outcome = await dtx.fmt(async (tx) => tx.executeAll(transfer('alice', 'bob', 30)), { gid, timeoutMs: 20_000 });
    expect(outcome).toMatchObject({ gid, status: 'committed' });
    expect([await balance(bankA, 'alice'), await balance(bankB, 'bob')]).toEqual([alice - 30, bob + 30]);
    await settled(gid);
  });

  it('a refused execute rolls the other branch back from its undo record: every row as before, byte for byte', async () => {
    const before = [await bankA.knex('accounts').orderBy('id'), await bankB.knex('accounts').orderBy('id')];
    const gid = newGid();
    const failing = dtx.fmt(
      async (tx) => {
        await tx.execute(transfer('alice', 'bob', 5)[1]!);
        await tx.execute({ ...transfer('alice', 'bob', 5)[0]!, payload: { account: 'alice', amount: 1_000_000 } });
      },
      { gid, timeoutMs: 20_000 },
    );
    await expect(failing).rejects.toMatchObject({ name: 'TryRejectedError', code: 'INSUFFICIENT_FUNDS', op: 'execute' });
    await waitFor(async () => (await statusOf(gid)) === 'rolled-back', { what: `${gid} rolled back`, timeoutMs: 10_000 });
    expect([await bankA.knex('accounts').orderBy('id'), await bankB.knex('accounts').orderBy('id')]).toEqual(before);
    await settled(gid);
  });

  it('holds the rows a branch wrote until its transaction ends, and shows who holds them', async () => {
    const gid = newGid();
    let seen: Awaited<ReturnType<typeof heldLocks>> = [];
    await dtx.fmt(
      async (tx) => {
        await tx.executeAll(transfer('carol', 'carol', 1));
        seen = await heldLocks(gid);
      },
      { gid, timeoutMs: 20_000 },
    );
    expect(seen.map((l) => [l.resource, l.table, l.pk]).sort()).toEqual([
      ['bank-a', expect.stringContaining('accounts'), ['carol']],
      ['bank-b', expect.stringContaining('accounts'), ['carol']],
    ]);
    const view = await adminCall<{ rowLocks: unknown[] }>(coordinator.url, 'GET', `/transactions/${gid}`, { token: VIEWER.token });
    expect(view.body.rowLocks).toEqual([]);
    await settled(gid);
  });

  it('two transactions on one hot row are serialised by its global lock: no lost update, money conserved', async () => {
    const start = await total();
    const [alice, bob] = [await balance(bankA, 'alice'), await balance(bankB, 'bob')];
    // Each holds alice's row a little after writing it, so that the others must wait for its lock.
    hold = () => new Promise((resolve) => setTimeout(resolve, 20));
    const results = await Promise.allSettled(
      Array.from({ length: 6 }, () => dtx.fmt(async (tx) => tx.executeAll(transfer('alice', 'bob', 1)), { timeoutMs: 20_000 })),
    );
    hold = async () => undefined;
    const committed = results.filter((r) => r.status === 'fulfilled').length;
    // A transfer that waited past the lock wait is refused cleanly, with the holder named.
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ name: 'TryRejectedError', code: 'FMT_LOCK_CONFLICT' });
    expect(committed).toBeGreaterThan(0);
    await waitFor(async () => (await total()) === start && (await undoRecords()) === 0, { what: 'transfers settled', timeoutMs: 15_000 });
    expect([await balance(bankA, 'alice'), await balance(bankB, 'bob')]).toEqual([alice - committed, bob + committed]);
  });

  it('two transactions waiting for each other’s rows end by the lock wait, one aborted; nothing hangs', async () => {
    const start = await total();
    let bothHold!: () => void;
    const holding = new Promise<void>((resolve) => (bothHold = resolve));
    let entered = 0;
    // T1 writes alice then wants bob; T2 writes bob then wants alice (both at bank A).
    const crossed = (first: string, second: string) =>
      dtx.fmt(
        async (tx) => {
          await tx.execute({ url: `${bankA.url}/dtx/debit`, payload: { account: first, amount: 1 }, branchId: 'one' });
          if (++entered === 2) bothHold();
          await holding;
          await tx.execute({ url: `${bankA.url}/dtx/credit`, payload: { account: second, amount: 1 }, branchId: 'two' });
        },
        { timeoutMs: 20_000 },
      );
    const began = Date.now();
    const results = await Promise.allSettled([crossed('alice', 'bob'), crossed('bob', 'alice')]);
    expect(Date.now() - began).toBeLessThan(LOCK_WAIT_MS * 10);
    const refused = results.filter((r) => r.status === 'rejected');
    expect(refused.length).toBeGreaterThanOrEqual(1);
    for (const r of refused) expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'FMT_LOCK_CONFLICT' });
    await waitFor(async () => (await total()) === start && (await undoRecords()) === 0, { what: 'deadlock settled', timeoutMs: 15_000 });
  });

  it('a write outside the transaction is never overwritten by its rollback: flagged for an operator, who resolves it', async () => {
    const gid = newGid();
    const failing = dtx.fmt(
      async (tx) => {
        await tx.execute(transfer('carol', 'bob', 40)[0]!);
        // Someone changes carol's row directly, outside any global transaction (a dirty write).
        await bankA.knex('accounts').where({ id: 'carol' }).update({ note: 'changed by hand' });
        throw new Error('the order was cancelled');
      },
      { gid, timeoutMs: 20_000 },
    );
    await expect(failing).rejects.toThrow('the order was cancelled');
    await waitFor(
      async () => {
        const view = await adminCall<{ transaction: { needsAttention: boolean; status: string } }>(coordinator.url, 'GET', `/transactions/${gid}`, {
          token: VIEWER.token,
        });
        return view.body.transaction.needsAttention && view.body.transaction.status === 'rolling-back';
      },
      { what: `${gid} flagged`, timeoutMs: 10_000 },
    );
    // Nothing was overwritten: the debit and the hand-made change are both still there; the row stays locked.
    expect(await bankA.knex('accounts').where({ id: 'carol' }).first('balance', 'note')).toMatchObject({ note: 'changed by hand' });
    expect((await heldLocks(gid)).map((l) => l.pk)).toEqual([['carol']]);
    const view = await adminCall<{ branches: { branchId: string; lastError: string | null }[] }>(coordinator.url, 'GET', `/transactions/${gid}`, {
      token: OPERATOR.token,
    });
    expect(JSON.stringify(view.body.branches)).toContain('FMT_DIRTY_WRITE');
    // The operator puts the rows back as they were before the transaction, then has the coordinator retry.
    const carolBefore = (await balance(bankA, 'carol')) + 40;
    expect(await bankA.participant.resolveFmt({ gid, branchId: 'debit', action: 'restore-before' })).toMatchObject({ kind: 'restored' });
    await adminCall(coordinator.url, 'POST', `/transactions/${gid}/retry`, { token: OPERATOR.token, body: { reason: 'dirty write resolved' } });
    await waitFor(async () => (await statusOf(gid)) === 'rolled-back', { what: `${gid} rolled back`, timeoutMs: 10_000 });
    expect(await balance(bankA, 'carol')).toBe(carolBefore);
    await settled(gid);
  });

  it('an execute whose reply never reaches the initiator is rolled back: nothing stays changed or locked', async () => {
    const before = [await bankA.knex('accounts').orderBy('id'), await bankB.knex('accounts').orderBy('id')];
    const impatient = new DtxClient({ coordinatorUrl: coordinator.url, apiToken: TEST_API_TOKEN, initiatorKey: TEST_INITIATOR_KEY, tryTimeoutMs: 300 });
    const gid = newGid();
    let finished!: () => void;
    const executeDone = new Promise<void>((resolve) => (finished = resolve));
    // The debit's handler outlives the initiator's wait: the initiator aborts while the execute is in flight.
    hold = () => new Promise((resolve) => setTimeout(resolve, 800)).then(() => finished());
    try {
      await expect(impatient.fmt(async (tx) => tx.executeAll(transfer('alice', 'bob', 3)), { gid, timeoutMs: 20_000 })).rejects.toMatchObject({
        name: 'TryFailedError',
      });
    } finally {
      await impatient.close();
    }
    await executeDone;
    hold = async () => undefined;
    await waitFor(async () => (await statusOf(gid)) === 'rolled-back', { what: `${gid} rolled back`, timeoutMs: 10_000 });
    expect([await bankA.knex('accounts').orderBy('id'), await bankB.knex('accounts').orderBy('id')]).toEqual(before);
    await settled(gid);
  });

  it('a plain local write under withGlobalLock waits for the row a global transaction holds', async () => {
    const gid = newGid();
    let released!: () => void;
    const release = new Promise<void>((resolve) => (released = resolve));
    const transaction = dtx.fmt(
      async (tx) => {
        await tx.execute(transfer('bob', 'bob', 2)[0]!);
        await release;
      },
      { gid, timeoutMs: 20_000 },
    );
    await waitFor(async () => (await heldLocks(gid)).length === 1, { what: 'bob locked', timeoutMs: 10_000 });
    const local = () => bankA.participant.withGlobalLock((session) => session.sql('update accounts set note = ? where id = ?', ['local', 'bob']));
    await expect(local()).rejects.toBeInstanceOf(FmtLockConflictError);
    released();
    await transaction;
    await expect(local()).resolves.toMatchObject({ affectedRows: 1 });
  });

  it('deletes at start the undo records a crash kept from their batched deletion after the commit', async () => {
    // A participant whose deletions wait long: it "dies" before its janitor flushes.
    const participant = createParticipant({
      knex: bankA.knex,
      resources: [move('slow-debit', -1, async () => undefined)],
      coordinatorKey: TEST_SECRET,
      initiatorKeys: TEST_INITIATOR_KEYS,
      logger: pino({ level: 'silent' }),
      fmt: { resource: 'bank-a', undoFlushMs: 600_000 },
    });
    const app = Fastify({ logger: false, forceCloseConnections: true });
    await app.register(dtxParticipantPlugin, { participant, prefix: '/dtx' });
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const gid = newGid();
    const records = async () => Number((await bankA.knex('dtx_fmt_undo').where({ gid }).count({ c: '*' }))[0]?.c);
    try {
      await dtx.fmt(async (tx) => tx.execute({ url: `${url}/dtx/slow-debit`, payload: { account: 'carol', amount: 1 }, branchId: 'debit' }), {
        gid,
        timeoutMs: 20_000,
      });
      expect(await records()).toBe(1);
    } finally {
      await app.close();
    }
    // The restarted process's migrate() finds the commit in the barrier and deletes the leftovers.
    const restarted = createParticipant({
      knex: bankA.knex,
      resources: [move('slow-debit', -1, async () => undefined)],
      coordinatorKey: TEST_SECRET,
      initiatorKeys: TEST_INITIATOR_KEYS,
      logger: pino({ level: 'silent' }),
      fmt: { resource: 'bank-a' },
    });
    await restarted.migrate();
    expect(await records()).toBe(0);
    await restarted.close();
  });

  it('refuses SQL it cannot undo before it runs: the execute is refused and nothing changed', async () => {
    const before = await bankA.knex('accounts').orderBy('id');
    const gid = newGid();
    const sneaky = defineFmt({ name: 'sneaky', execute: async ({ sql }) => sql('update accounts set balance = 0') });
    expect(sneaky.mode).toBe('fmt');
    // Served by a participant of its own on bank A's database.
    const participant = createParticipant({
      knex: bankA.knex,
      resources: [sneaky],
      coordinatorKey: TEST_SECRET,
      initiatorKeys: TEST_INITIATOR_KEYS,
      logger: pino({ level: 'silent' }),
      fmt: { resource: 'bank-a' },
    });
    const app = Fastify({ logger: false, forceCloseConnections: true });
    await app.register(dtxParticipantPlugin, { participant, prefix: '/dtx' });
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const failing = dtx.fmt(async (tx) => tx.execute({ url: `${url}/dtx/sneaky`, payload: {} }), { gid, timeoutMs: 20_000 });
      await expect(failing).rejects.toBeInstanceOf(TryRejectedError);
      await expect(failing).rejects.toMatchObject({ code: 'FMT_UNSUPPORTED_SQL' });
      expect(await bankA.knex('accounts').orderBy('id')).toEqual(before);
    } finally {
      await app.close();
    }
  });
});
