/**
 * Several coordinator instances on one MySQL database and one Redis prefix
 *: exactly one drives a transaction at a time (lease), a dead
 * owner's lease expires and another instance takes over, and under load with
 * failing confirms and a SIGKILLed instance every transaction ends terminal
 * with each branch's confirm applied exactly once.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CoordinatorUnavailableError, DtxClient } from '../../participant-sdk/index.ts';
import {
  startCoordinatorProcess,
  startInProcessCoordinator,
  testEnv,
  TEST_API_HEADERS,
  TEST_API_TOKEN,
  TEST_SECRET,
  TEST_INITIATOR_KEY,
  type CoordinatorProcess,
  type InProcessCoordinator,
} from '../support/coordinator-harness.ts';
import { pickFreePort } from '../../tools/free-port.ts';
import { createTestDatabase, uniqueRedisPrefix, type TestDatabase } from '../support/databases.ts';
import { effectCounts, openCoordinatorLog, readCoordinatorLog, uniqueGid, type CoordinatorLogReader } from '../support/recovery-helpers.ts';
import { startTestParticipant, type Behaviour, type Gate, type TestParticipant } from '../support/test-participant.ts';
import { waitFor } from '../../tools/wait.ts';

describe('two coordinator processes under load, one SIGKILLed mid-run', () => {
  const TRANSACTIONS = 200;
  const CONCURRENCY = 16;
  /** While trying, a transaction is aborted by the coordinator after this long (stranded ones by the dead instance). */
  const TX_TIMEOUT_MS = 5_000;
  const RUN_BOUND_MS = 60_000;
  /** The bound, plus starting the check and reading the logs; on a loaded machine the load phase can be slow. */
  const TEST_TIMEOUT_MS = 90_000;

  let coordinatorDb: TestDatabase;
  let bankDbs: TestDatabase[] = [];
  let banks: TestParticipant[] = [];
  const coordinators: CoordinatorProcess[] = [];
  let clients: DtxClient[] = [];
  let log: CoordinatorLogReader;

  beforeAll(async () => {
    [coordinatorDb, ...bankDbs] = await Promise.all([
      createTestDatabase(inject('mysqlUrl'), 'multi_coord'),
      createTestDatabase(inject('mysqlUrl'), 'multi_bank_a'),
      createTestDatabase(inject('mysqlUrl'), 'multi_bank_b'),
    ]);
    log = openCoordinatorLog(coordinatorDb.url);
    banks = await Promise.all(bankDbs.map((db) => startTestParticipant(db.url, { coordinatorKey: TEST_SECRET })));
    const env = testEnv(coordinatorDb.url, inject('redisUrl'), uniqueRedisPrefix('multi'));
    // One after the other: the first applies the migrations.
    for (const id of ['mc-1', 'mc-2']) {
      coordinators.push(await startCoordinatorProcess({ ...env, DTX_INSTANCE_ID: id }, await pickFreePort()));
    }
    clients = coordinators.map(
      (c) =>
        new DtxClient({
          coordinatorUrl: c.url,
          initiatorKey: TEST_INITIATOR_KEY,
          apiToken: TEST_API_TOKEN,
          coordinatorTimeoutMs: 10_000,
          coordinatorRetries: 0,
        }),
    );
  });

  afterAll(async () => {
    await Promise.allSettled(coordinators.map((c) => c.kill()));
    await Promise.allSettled(clients.map((c) => c.close()));
    await Promise.allSettled(banks.map((b) => b.stop()));
    await log?.close();
    await Promise.allSettled([coordinatorDb, ...bankDbs].map((db) => db?.drop()));
  });

  it(
    `${TRANSACTIONS} two-branch transactions through both, confirms failing for a while: all terminal, every confirm applied exactly once`,
    async () => {
      const started = Date.now();
      const run = uniqueGid('mc');
      const setConfirm = (behaviour: Behaviour) => banks.forEach((bank) => bank.behave('confirm', behaviour));
      let secondDead = false;
      let killing: Promise<void> = Promise.resolve();
      /** What happens when transaction `i` is about to be issued. */
      const schedule = new Map<number, () => void>([
        [30, () => setConfirm('error')],
        [90, () => setConfirm('ok')],
        [110, () => setConfirm('error')],
        [
          130,
          () => {
            // From now on new transactions go to the survivor; the dead one's work is recovered by it.
            secondDead = true;
            killing = coordinators[1]!.kill();
          },
        ],
        [160, () => setConfirm('ok')],
      ]);

      interface Issued {
        gid: string;
        via: 'mc-1' | 'mc-2';
        /** The status submit answered, or the error the initiator got. */
        answer: string | Error;
      }
      const issued: Issued[] = [];
      let next = 0;
      const worker = async () => {
        for (;;) {
          const i = next++;
          if (i >= TRANSACTIONS) return;
          schedule.get(i)?.();
          const via = i % 2 === 1 && !secondDead ? 'mc-2' : 'mc-1';
          const gid = `${run}-${i}`;
          const entry: Issued = { gid, via, answer: 'pending' };
          issued.push(entry);
          try {
            const outcome = await clients[via === 'mc-1' ? 0 : 1]!.tcc(
              async (tx) => {
                await tx.tryAll(banks.map((bank) => ({ url: bank.resourceUrl, payload: { amount: 1 } })));
              },
              { gid, timeoutMs: TX_TIMEOUT_MS },
            );
            entry.answer = outcome.status;
          } catch (error) {
            entry.answer = error instanceof Error ? error : new Error(String(error));
          }
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      await killing;
      expect(issued).toHaveLength(TRANSACTIONS);
      const loadMs = Date.now() - started;

      // Everything that exists in the log ends terminal, within the bound.
      const gids = issued.map((t) => t.gid);
      // waitFor only returns a truthy value.
      const statuses = (await waitFor(
        async () => {
          const all = await log.statuses();
          const open = gids.filter((gid) => all.has(gid) && !['committed', 'rolled-back'].includes(all.get(gid)!));
          // Reported as the cause if the bound passes.
          if (open.length > 0)
            throw new Error(
              `${open.length} still open, e.g. ${open
                .slice(0, 5)
                .map((gid) => `${gid} ${all.get(gid)}`)
                .join(', ')}`,
            );
          return all;
        },
        { what: 'every transaction terminal', timeoutMs: Math.max(1_000, RUN_BOUND_MS - (Date.now() - started)), intervalMs: 200 },
      ))!;

      // Per transaction and branch: confirmed ⇒ confirm exactly once and no cancel; cancelled ⇒ no confirm,
      // and a cancel exactly when the try took effect (otherwise a null compensation).
      const perBank = await Promise.all(banks.map((bank) => effectCounts(bank.knex, gids)));
      const problems: string[] = [];
      let confirmed = 0;
      let cancelled = 0;
      for (const { gid, via, answer } of issued) {
        const status = statuses.get(gid);
        const effects = perBank.map((counts) => counts.get(gid) ?? new Map<string, { try: number; confirm: number; cancel: number }>());
        if (typeof answer === 'string' && answer !== 'confirmed' && answer !== 'confirming') {
          problems.push(`${gid}: submit answered ${answer}`);
        }
        if (status === undefined) {
          // Its begin never reached a coordinator (the dead one): nothing may have happened anywhere.
          if (!(answer instanceof CoordinatorUnavailableError) || via !== 'mc-2') problems.push(`${gid}: missing from the log (answer ${String(answer)})`);
          effects.forEach((branches, b) => {
            for (const [branchId, ops] of branches)
              if (ops.confirm || ops.cancel) problems.push(`${gid} bank ${b} ${branchId}: effects without a transaction ${JSON.stringify(ops)}`);
          });
          continue;
        }
        if (status === 'committed') confirmed++;
        if (status === 'rolled-back') cancelled++;
        if ((answer === 'confirmed' || answer === 'confirming') && status !== 'committed') problems.push(`${gid}: submit said ${answer}, ended ${status}`);
        effects.forEach((branches, b) => {
          const expectedBranch = b === 0 ? '01' : '02';
          for (const branchId of branches.keys()) if (branchId !== expectedBranch) problems.push(`${gid} bank ${b}: unexpected branch ${branchId}`);
          const ops = branches.get(expectedBranch) ?? { try: 0, confirm: 0, cancel: 0 };
          if (ops.try > 1) problems.push(`${gid} bank ${b}: try applied ${ops.try} times`);
          if (status === 'committed' && !(ops.try === 1 && ops.confirm === 1 && ops.cancel === 0)) {
            problems.push(`${gid} bank ${b} confirmed: ${JSON.stringify(ops)}`);
          }
          if (status === 'rolled-back' && !(ops.confirm === 0 && ops.cancel === ops.try)) {
            problems.push(`${gid} bank ${b} cancelled: ${JSON.stringify(ops)}`);
          }
        });
      }
      expect(problems).toEqual([]);
      expect(Date.now() - started, `load ${loadMs} ms, then all terminal`).toBeLessThan(RUN_BOUND_MS);
      // The run means something: most transactions confirmed, some after failed confirms.
      expect(confirmed).toBeGreaterThanOrEqual(TRANSACTIONS * 0.75);
      expect(confirmed + cancelled).toBeGreaterThanOrEqual(TRANSACTIONS - CONCURRENCY);
      const [retried] = await log.knex('dtx_global').whereIn('gid', gids).andWhere({ status: 'committed' }).andWhere('retry_count', '>', 0).count({ n: '*' });
      expect(Number(retried?.n ?? 0)).toBeGreaterThanOrEqual(30);

      // Recovery competed across instances: each ran rounds of transactions decided by the other,
      // and the survivor finished transactions the dead instance had decided.
      const roundsBy = async (c: CoordinatorProcess) =>
        (await readCoordinatorLog(c.logFile)).filter(
          (line) => line.gid?.startsWith(run) && (line.msg === 'transaction finished' || line.msg === 'phase two incomplete, retry scheduled'),
        );
      const decidedVia = new Map(issued.map((t) => [t.gid, t.via]));
      const [first, second] = await Promise.all(coordinators.map(roundsBy));
      expect(first!.filter((line) => line.msg === 'transaction finished' && decidedVia.get(line.gid!) === 'mc-2').length).toBeGreaterThan(0);
      expect(second!.filter((line) => decidedVia.get(line.gid!) === 'mc-1').length).toBeGreaterThan(0);
    },
    TEST_TIMEOUT_MS,
  );
});

describe('lease takeover between two in-process coordinators', () => {
  let coordinatorDb: TestDatabase;
  let bankDb: TestDatabase;
  let bank: TestParticipant;
  let holder: InProcessCoordinator;
  let successor: InProcessCoordinator;
  let dtx: DtxClient;
  const gates: Gate[] = [];

  beforeAll(async () => {
    [coordinatorDb, bankDb] = await Promise.all([createTestDatabase(inject('mysqlUrl'), 'lease_coord'), createTestDatabase(inject('mysqlUrl'), 'lease_bank')]);
    bank = await startTestParticipant(bankDb.url, { coordinatorKey: TEST_SECRET });
    const env = testEnv(coordinatorDb.url, inject('redisUrl'), uniqueRedisPrefix('lease'));
    // The holder answers submit at once, without waiting for phase two, and stops without grace.
    holder = await startInProcessCoordinator({ ...env, DTX_INSTANCE_ID: 'lease-a', DTX_SUBMIT_WAIT_MS: '0', DTX_SHUTDOWN_GRACE_MS: '0' });
    successor = await startInProcessCoordinator({ ...env, DTX_INSTANCE_ID: 'lease-b' });
    dtx = new DtxClient({ coordinatorUrl: holder.url, initiatorKey: TEST_INITIATOR_KEY, apiToken: TEST_API_TOKEN, coordinatorRetries: 0 });
  });

  afterAll(async () => {
    bank?.behave('confirm', 'ok');
    for (const gate of gates) gate.open();
    await dtx?.close();
    await holder?.stop();
    await successor?.stop();
    await bank?.stop();
    await Promise.allSettled([coordinatorDb, bankDb].map((db) => db?.drop()));
  });

  /** The lease as the successor's GET /v1/transactions/:gid shows it. */
  async function leaseOf(gid: string): Promise<{ status: string; leaseOwner: string | null; leaseUntil: number | null }> {
    const response = await fetch(`${successor.url}/v1/transactions/${gid}`, { headers: TEST_API_HEADERS });
    expect(response.status).toBe(200);
    const view = (await response.json()) as { transaction: { status: string; leaseOwner: string | null; leaseUntil: string | null } };
    const { status, leaseOwner, leaseUntil } = view.transaction;
    return { status, leaseOwner, leaseUntil: leaseUntil === null ? null : Date.parse(leaseUntil) };
  }

  it('a holder that dies mid-round keeps the transaction until its lease expires; then the other instance finishes it', async () => {
    const held = bank.gate('confirm');
    gates.push(held);
    const outcome = await dtx.tcc(async (tx) => {
      await tx.try({ url: bank.resourceUrl, payload: { amount: 7 } });
    });
    expect(outcome.status).toBe('confirming');
    const { gid } = outcome;
    await held.reached;

    const before = await leaseOf(gid);
    expect(before).toMatchObject({ status: 'confirming', leaseOwner: expect.stringMatching(/^lease-a#/) });
    const leaseUntil = before.leaseUntil!;
    expect(leaseUntil).toBeGreaterThan(Date.now());

    // The holder dies mid-round: its database goes first, so the round it has in flight can
    // never be recorded (nor its lease released); then the rest of it stops.
    await holder.coordinator.store.close();
    // The held call, once released, fails: nothing of the dead round takes effect.
    bank.behave('confirm', 'error');
    await holder.stop();
    held.open();
    const takeover = bank.gate('confirm');
    gates.push(takeover);
    let takeoverAt = 0;
    void takeover.reached.then(() => (takeoverAt = Date.now()));

    // While the lease runs, the successor leaves the transaction alone.
    await waitFor(
      async (bail) => {
        const now = Date.now();
        const lease = await leaseOf(gid);
        if (!lease.leaseOwner?.startsWith('lease-a#') || lease.status !== 'confirming' || takeoverAt !== 0) {
          bail(new Error(`taken over before the lease expired: ${JSON.stringify(lease)}, ${leaseUntil - now} ms left`));
        }
        return now >= leaseUntil - 100;
      },
      { what: 'the dead holder lease to run out', timeoutMs: 5_000, intervalMs: 25 },
    );

    // Then the successor claims it and calls the confirm.
    await takeover.reached;
    expect(takeoverAt).toBeGreaterThanOrEqual(leaseUntil);
    const during = await leaseOf(gid);
    expect(during.leaseOwner).toMatch(/^lease-b#/);
    expect(during.leaseUntil).toBeGreaterThan(leaseUntil);
    bank.behave('confirm', 'ok');
    takeover.open();

    await waitFor(async () => (await leaseOf(gid)).status === 'confirmed', { what: `${gid} confirmed by lease-b` });
    expect(await bank.effects(gid, 'confirm')).toBe(1);
    expect(await bank.effects(gid, 'cancel')).toBe(0);
    const view = await successor.coordinator.service.view(gid);
    expect(view.transaction).toMatchObject({ status: 'committed', leaseOwner: null, leaseUntil: null });
    // The dead round left no trace; every recorded confirm call came after the lease.
    const calls = view.events.filter((e) => e.kind === 'branch-call' && e.op === 'confirm');
    expect(calls.length).toBeGreaterThanOrEqual(1);
    expect(calls.at(-1)?.outcome).toBe('success');
    for (const call of calls) expect(call.at).toBeGreaterThanOrEqual(leaseUntil);
  });
});
