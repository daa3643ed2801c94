/**
 * Phase two covers every branch of the transaction, on the real database:
 * a decision grouped with other units after a branch was registered still
 * reads that branch; the log refuses to end a transaction while any branch
 * is not done; and the runner, refused that way while it still holds the
 * lease, calls the branch it missed instead of giving up.
 */
import { createConnection, type Connection } from 'mysql2/promise';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import type { BranchCall, BranchClient } from '../../coordinator/branch-client/http-branch-client.ts';
import { assembleHistory } from '../../coordinator/domain/history.ts';
import type { BranchCallResult, RoundCall } from '../../coordinator/domain/phase-two.ts';
import type { TransactionSnapshot } from '../../coordinator/domain/transaction.ts';
import { PhaseTwoRunner } from '../../coordinator/engine/phase-two-runner.ts';
import { systemClock } from '../../coordinator/engine/ports.ts';
import { createTestDatabase, type TestDatabase } from '../support/databases.ts';
import { openLogStore, registration, type LogStore } from '../support/log-store.ts';
import { uniqueGid } from '../support/recovery-helpers.ts';
import { waitFor } from '../../tools/wait.ts';

const LEASE_MS = 30_000;

let db: TestDatabase;
let log: LogStore;

beforeAll(async () => {
  db = await createTestDatabase(inject('mysqlUrl'), 'decision_snapshot');
  log = await openLogStore(db.url);
});

afterAll(async () => {
  await log?.close();
  await db?.drop();
});

/** A transaction in `open` with the given branches. */
async function begin(gid: string, branchIds: string[]): Promise<void> {
  const now = Date.now();
  const outcome = await log.store.begin({
    gid,
    mode: 'tcc',
    now,
    deadlineAt: now + 60_000,
    caller: 'tests',
    branches: branchIds.map((id) => registration(id)),
  });
  expect(outcome).toBe('created');
}

/** Logs the confirm decision under `owner`; returns the snapshot the decision read. */
async function decide(gid: string, owner: string, store = log.store): Promise<TransactionSnapshot> {
  const now = Date.now();
  const snapshot = await store.decide({
    gid,
    to: 'committing',
    guard: { from: 'open', deadlineAfter: now },
    reason: null,
    now,
    owner,
    leaseUntil: now + LEASE_MS,
    actor: 'tests',
  });
  if (!snapshot) throw new Error(`decision of ${gid} refused`);
  return snapshot;
}

/** Adds a branch to an open transaction, as a register request does. */
async function register(gid: string, branchId: string): Promise<void> {
  const now = Date.now();
  const result = await log.store.registerBranches({
    gid,
    guard: { from: 'open', deadlineAfter: now, mode: 'tcc' },
    now,
    branches: [registration(branchId)],
    actor: null,
  });
  expect(result?.inserted.map((b) => b.branchId)).toEqual([branchId]);
}

const ids = (snapshot: TransactionSnapshot | null) => snapshot?.branches.map((b) => b.branchId) ?? [];

describe('a decision grouped with other units', () => {
  let group: LogStore;
  let holder: Connection;

  beforeAll(async () => {
    // One batch in flight at a time: units that arrive while it runs are committed together, as under load.
    group = await openLogStore(db.url, { group: { maxConcurrent: 1, maxGroup: 32 }, migrate: false });
    holder = await createConnection({ uri: db.url });
  });

  afterAll(async () => {
    await holder?.end();
    await group?.close();
  });

  it('reads a branch registered (and committed) after an earlier unit of its group read the branch table', async () => {
    const gid = uniqueGid('grouped');
    await begin(gid, ['01']);
    // The test holds a user lock; the earlier unit waits for it between its read and its end.
    const lock = `dtx-test-${gid}`;
    await holder.query('SELECT GET_LOCK(?, 10)', [lock]);

    const blocker = group.batch.transaction([{ sql: 'SELECT 1', values: [] }]);
    const earlier = group.batch.transaction([
      { sql: 'SELECT branch_id FROM dtx_branch WHERE gid = ?', values: [gid] },
      { sql: 'SELECT GET_LOCK(?, 10)', values: [lock] },
      { sql: 'SELECT RELEASE_LOCK(?)', values: [lock] },
    ]);
    const decided = decide(gid, 'owner-grouped', group.store);

    // The earlier unit has read the branches (only 01) and waits: its group, the decision included, is open.
    await waitFor(
      async () => {
        const [rows] = await holder.query("SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE STATE = 'User lock' AND DB = ?", [db.name]);
        return Number((rows as { n: number }[])[0]?.n) > 0;
      },
      { what: 'the earlier unit to wait for the lock', timeoutMs: 5_000, intervalMs: 10 },
    );
    // A register commits before the decision's compare-and-set (it takes no lock the group holds).
    await register(gid, '02');
    await holder.query('SELECT RELEASE_LOCK(?)', [lock]);

    await blocker;
    const [firstRead] = (await earlier) as [{ branch_id: string }[]];
    expect(firstRead.map((row) => row.branch_id)).toEqual(['01']);
    // The decision's own read, after its compare-and-set, sees the register that committed before it.
    expect(ids(await decided)).toEqual(['01', '02']);
  });
});

describe('the log refuses to end a transaction with a branch not done', () => {
  const success = (branchId: string): RoundCall => ({ branchId, op: 'confirm', outcome: 'success', httpStatus: 200, error: null, attempt: 1 });

  it('refuses a finish that leaves a branch pending, writing nothing; accepts it once every branch is in', async () => {
    const gid = uniqueGid('guard');
    await begin(gid, ['01', '02']);
    const owner = 'owner-guard';
    await decide(gid, owner);
    const before = await log.store.events(gid);

    const round = (branchIds: string[]) =>
      log.store.recordRound({
        gid,
        owner,
        from: 'committing',
        results: branchIds.map(success),
        skipped: [],
        decision: { kind: 'finish', status: 'committed' },
        now: Date.now(),
        leaseUntil: Date.now() + LEASE_MS,
      });

    expect(await round(['01'])).toBe(false);
    const refused = await log.store.load(gid);
    expect(refused?.transaction).toMatchObject({ status: 'committing', leaseOwner: owner, finishedAt: null });
    expect(refused?.branches.map((b) => [b.branchId, b.status, b.attempts, b.completion])).toEqual([
      ['01', 'pending', 0, null],
      ['02', 'pending', 0, null],
    ]);
    expect(await log.store.events(gid)).toEqual(before);

    // The branches this round completes count as done.
    expect(await round(['01', '02'])).toBe(true);
    const finished = await log.store.load(gid);
    expect(finished?.transaction).toMatchObject({ status: 'committed', leaseOwner: null });
    expect(finished?.branches.map((b) => b.status)).toEqual(['committed', 'committed']);
  });

  it('accepts a finish whose remaining branches an earlier round completed', async () => {
    const gid = uniqueGid('guard-later');
    await begin(gid, ['01', '02']);
    const owner = 'owner-later';
    await decide(gid, owner);
    // Round 1: 01 done, 02 unknown; a retry is recorded (and the lease released).
    expect(
      await log.store.recordRound({
        gid,
        owner,
        from: 'committing',
        results: [success('01'), { branchId: '02', op: 'confirm', outcome: 'unknown', httpStatus: 500, error: 'boom', attempt: 1 }],
        skipped: [],
        decision: { kind: 'retry', retryCount: 1, nextRetryAt: Date.now(), needsAttention: false, attentionReason: null },
        now: Date.now(),
        leaseUntil: Date.now() + LEASE_MS,
      }),
    ).toBe(true);
    const claimed = await log.store.claim(gid, 'owner-later-2', Date.now(), Date.now() + LEASE_MS);
    expect(ids(claimed)).toEqual(['01', '02']);
    // Round 2 calls 02 only.
    expect(
      await log.store.recordRound({
        gid,
        owner: 'owner-later-2',
        from: 'committing',
        results: [{ ...success('02'), attempt: 2 }],
        skipped: [],
        decision: { kind: 'finish', status: 'committed' },
        now: Date.now(),
        leaseUntil: Date.now() + LEASE_MS,
      }),
    ).toBe(true);
    const finished = await log.store.load(gid);
    expect(finished?.transaction.status).toBe('committed');
    expect(finished?.branches.map((b) => [b.branchId, b.completion?.op, b.completion?.attempt])).toEqual([
      ['01', 'confirm', 1],
      ['02', 'confirm', 2],
    ]);
  });
});

describe('the runner, refused a finish while it holds the lease', () => {
  /** Answers every call with success and remembers it. */
  class RecordingClient implements BranchClient {
    readonly calls: BranchCall[] = [];
    async call(call: BranchCall): Promise<BranchCallResult> {
      this.calls.push(call);
      return { branchId: call.branchId, outcome: 'success', httpStatus: 200, error: null };
    }
    async close(): Promise<void> {}
  }

  let client: RecordingClient;
  let runner: PhaseTwoRunner;
  const scheduled: string[] = [];

  beforeAll(() => {
    client = new RecordingClient();
    runner = new PhaseTwoRunner({
      store: log.store,
      client,
      scheduler: { schedule: async (gid) => void scheduled.push(gid) },
      clock: systemClock,
      random: () => 1,
      retryPolicy: { baseDelayMs: 100, maxDelayMs: 400, attentionAfterRetries: 10, attentionAfterMs: 600_000 },
      leaseMs: LEASE_MS,
      logger: pino({ level: 'silent' }),
    });
  });

  afterEach(() => {
    client.calls.length = 0;
  });

  it('calls the branch its snapshot missed, once, and then finishes', async () => {
    const gid = uniqueGid('replan');
    await begin(gid, ['01']);
    const owner = 'owner-replan';
    const stale = await decide(gid, owner);
    expect(ids(stale)).toEqual(['01']);
    // A branch the snapshot does not show (as one read before a register committed would miss it).
    await log.knex('dtx_branch').insert({
      gid,
      branch_id: '02',
      operations: JSON.stringify(registration('02').operations),
      participant: 'http://127.0.0.1:9',
      payload: '{}',
      status: 'pending',
      attempts: 0,
      created_at: Date.now(),
      updated_at: Date.now(),
    });

    expect(await runner.runRound(stale, { lease: owner })).toBe('committed');
    // 01 is not called again: its success is recorded with 02's.
    expect(client.calls.map((c) => [c.branchId, c.op])).toEqual([
      ['01', 'confirm'],
      ['02', 'confirm'],
    ]);
    const done = await log.store.load(gid);
    expect(done?.transaction.status).toBe('committed');
    expect(done?.branches.map((b) => [b.branchId, b.status, b.attempts, b.completion?.op, b.completion?.attempt])).toEqual([
      ['01', 'committed', 1, 'confirm', 1],
      ['02', 'committed', 1, 'confirm', 1],
    ]);
    // One completing call each, read from the rows: the happy path wrote no event rows.
    const events = await log.store.events(gid);
    expect(events).toEqual([]);
    const calls = assembleHistory(done!, events).filter((e) => e.kind === 'branch-call');
    expect(calls.map((e) => [e.branchId, e.outcome, e.attempt])).toEqual([
      ['01', 'success', 1],
      ['02', 'success', 1],
    ]);
    expect(scheduled).not.toContain(gid);
  });

  it('still treats a refusal under another owner as a lost lease: no further call, nothing recorded', async () => {
    const gid = uniqueGid('lost');
    await begin(gid, ['01']);
    const stale = await decide(gid, 'owner-old');
    // Another instance took the lease over.
    await log.knex('dtx_global').where({ gid }).update({ lease_owner: 'owner-new' });

    expect(await runner.runRound(stale, { lease: 'owner-old' })).toBe('committing');
    expect(client.calls.map((c) => c.branchId)).toEqual(['01']);
    const after = await log.store.load(gid);
    expect(after?.transaction).toMatchObject({ status: 'committing', leaseOwner: 'owner-new' });
    expect(after?.branches.map((b) => [b.status, b.completion])).toEqual([['pending', null]]);
    expect(await log.store.events(gid)).toEqual([]);
  });
});
