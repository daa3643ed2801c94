/**
 * Leases belong to one process start, whatever DTX_INSTANCE_ID says: two
 * coordinators configured with the same id take differently named leases,
 * so an owner paused past its lease (SIGSTOP, as a long GC pause or a frozen
 * VM would) resumes to find its round refused while the instance that took
 * the transaction over carries on.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { assembleHistory } from '../../coordinator/domain/history.ts';
import type { BranchRegistration } from '../../coordinator/domain/transaction.ts';
import {
  startCoordinatorProcess,
  startInProcessCoordinator,
  testEnv,
  type CoordinatorProcess,
  type InProcessCoordinator,
} from '../support/coordinator-harness.ts';
import { createTestDatabase, uniqueRedisPrefix, type TestDatabase } from '../support/databases.ts';
import { pickFreePort } from '../../tools/free-port.ts';
import { openLogStore, type LogStore } from '../support/log-store.ts';
import { readCoordinatorLog, uniqueGid } from '../support/recovery-helpers.ts';
import { startStubParticipant, type StubParticipant } from '../support/stub-participant.ts';
import { waitFor } from '../../tools/wait.ts';

const INSTANCE_ID = 'twin';

/** The process state letter of /proc/<pid>/stat (`T` once stopped). */
async function processState(pid: number): Promise<string> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
}

describe('two coordinators with the same DTX_INSTANCE_ID', () => {
  let db: TestDatabase;
  let participant: StubParticipant;
  let paused: CoordinatorProcess | undefined;
  let successor: InProcessCoordinator | undefined;
  let log: LogStore;
  let releaseSuccessor: () => void = () => undefined;

  beforeAll(async () => {
    db = await createTestDatabase(inject('mysqlUrl'), 'lease_names');
    participant = await startStubParticipant();
  });

  afterAll(async () => {
    releaseSuccessor();
    if (paused?.child.pid) paused.child.kill('SIGCONT');
    await paused?.kill();
    await successor?.stop();
    await log?.close();
    await participant?.close();
    await db?.drop();
  });

  it('an owner paused past its lease resumes and finds its round refused; the new owner finishes the transaction', async () => {
    // A round can last up to the branch timeout; the lease covers two of them.
    const env = testEnv(db.url, inject('redisUrl'), uniqueRedisPrefix('lease_names'), {
      DTX_INSTANCE_ID: INSTANCE_ID,
      DTX_LEASE_MS: '6000',
      DTX_BRANCH_TIMEOUT_MS: '3000',
    });
    paused = await startCoordinatorProcess(env, await pickFreePort());
    const pausedPid = paused.child.pid!;
    log = await openLogStore(db.url);

    let successorArrived!: () => void;
    const successorCall = new Promise<void>((resolve) => (successorArrived = resolve));
    participant.answer(async (call, index) => {
      if (index === 0) {
        // The first owner's confirm: freeze that coordinator mid-round, then answer (it reads the reply when it resumes).
        paused!.child.kill('SIGSTOP');
        await waitFor(async () => (await processState(pausedPid)) === 'T', { what: 'the first owner to stop', timeoutMs: 5_000, intervalMs: 10 });
        return 200;
      }
      if (index === 1) {
        // The successor's confirm: held while the first owner resumes.
        successorArrived();
        return new Promise<number>((resolve) => (releaseSuccessor = () => resolve(200)));
      }
      return 200;
    });

    // A decided transaction, due now, whose lease nobody holds: recovery takes it.
    const gid = uniqueGid('twin');
    const now = Date.now();
    const branch: BranchRegistration = {
      branchId: '01',
      operations: { confirm: `${participant.resourceUrl}/confirm`, cancel: `${participant.resourceUrl}/cancel` },
      payload: '{"amount":1}',
    };
    expect(await log.store.begin({ gid, mode: 'tcc', now, deadlineAt: now + 60_000, caller: 'tests', branches: [branch] })).toBe('created');
    expect(
      await log.store.decide({ gid, to: 'committing', guard: { from: 'open' }, reason: null, now, owner: 'nobody', leaseUntil: now, actor: 'tests' }),
    ).not.toBeNull();

    // The first coordinator claims it, calls the confirm, and is paused there.
    await waitFor(async () => participant.calls.length >= 1 && (await processState(pausedPid)) === 'T', {
      what: 'the first owner paused in its round',
      timeoutMs: 15_000,
    });
    const first = (await log.store.load(gid))!.transaction;
    expect(first.leaseOwner).toMatch(new RegExp(`^${INSTANCE_ID}#`));
    const firstLeaseUntil = first.leaseUntil!;

    // The second coordinator, same instance id, takes over once the lease has run out.
    successor = await startInProcessCoordinator(env);
    await successorCall;
    expect(Date.now()).toBeGreaterThanOrEqual(firstLeaseUntil);
    const taken = (await log.store.load(gid))!.transaction;
    expect(taken.leaseOwner).toMatch(new RegExp(`^${INSTANCE_ID}#`));

    // The first owner resumes, with the reply to its confirm in hand, and tries to record its round.
    paused.child.kill('SIGCONT');
    await waitFor(
      async (bail) => {
        // A recorded round shows on the branch row (a success writes no event row) or as a call event.
        const [snapshot, events] = await Promise.all([log.store.load(gid), log.store.events(gid)]);
        const calls = assembleHistory(snapshot!, events).filter((e) => e.kind === 'branch-call');
        if (calls.length > 0 || snapshot!.branches.some((b) => b.attempts > 0)) {
          bail(
            new Error(`the paused owner's round was recorded while the successor holds the lease: ${JSON.stringify({ calls, branches: snapshot!.branches })}`),
          );
        }
        const lines = await readCoordinatorLog(paused!.logFile);
        return lines.some((line) => line.gid === gid && line.msg === 'lease lost before the round was recorded; the new owner carries on');
      },
      { what: 'the resumed owner to find its round refused', timeoutMs: 10_000, intervalMs: 25 },
    );
    const meanwhile = await log.store.load(gid);
    expect(meanwhile?.transaction).toMatchObject({ status: 'committing', leaseOwner: taken.leaseOwner, finishedAt: null });
    expect(meanwhile?.branches.map((b) => [b.status, b.attempts, b.completion])).toEqual([['pending', 0, null]]);
    expect(taken.leaseOwner).not.toBe(first.leaseOwner);

    // The successor's round carries on and finishes it; only its call is in the history.
    releaseSuccessor();
    const done = (await waitFor(
      async () => {
        const snapshot = await log.store.load(gid);
        return snapshot?.transaction.status === 'committed' ? snapshot : null;
      },
      { what: `${gid} committed by the successor`, timeoutMs: 10_000 },
    ))!;
    expect(done.branches.map((b) => [b.status, b.attempts])).toEqual([['committed', 1]]);
    const events = await log.store.events(gid);
    expect(events).toEqual([]);
    const calls = assembleHistory(done, events).filter((e) => e.kind === 'branch-call');
    expect(calls.map((e) => [e.branchId, e.outcome, e.attempt])).toEqual([['01', 'success', 1]]);
    expect(calls[0]!.at).toBeGreaterThanOrEqual(firstLeaseUntil);
  }, 60_000);
});
