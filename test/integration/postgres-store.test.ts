/**
 * What the PostgreSQL store does beyond the store contract, on the test
 * server: each hot-path operation is one round trip and one commit; a
 * decision that waited for a registration's row lock sees the branch that
 * registration added (the read after the update takes a fresh snapshot);
 * several instances migrate a fresh database at once, and a role with only
 * the rows' privileges runs a migrated log; free text with a NUL character
 * is stored, not refused.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { logOn, openPostgresLog } from '../../coordinator/store/postgres/open-postgres-log.ts';
import { connectPostgres } from '../../coordinator/store/postgres/pg-database.ts';
import { preparePostgresDatabase } from '../../coordinator/store/postgres/prepare-postgres-database.ts';
import type { SqlDatabase, SqlSession } from '../../coordinator/store/postgres/sql-database.ts';
import type { TransactionLog } from '../../coordinator/store/ports/transaction-log.ts';
import { registration } from '../../coordinator/testing/store-contract/fixtures.ts';
import { waitFor } from '../../tools/wait.ts';
import { createTestPostgresDatabase, type TestDatabase } from '../support/databases.ts';
import { uniqueGid } from '../support/recovery-helpers.ts';

const T0 = 1_700_000_000_000;
const MINUTE = 60_000;

/** `db`, counting the round trips it makes: one per statement, and BEGIN and COMMIT for each transaction. */
function counting(db: SqlDatabase): { db: SqlDatabase; roundTrips: () => number } {
  let trips = 0;
  const session = (inner: SqlSession): SqlSession => ({
    query: (sql, values) => {
      trips++;
      return inner.query(sql, values);
    },
  });
  return {
    db: {
      query: (sql, values) => session(db).query(sql, values),
      transaction: (work) => {
        trips += 2;
        return db.transaction((inner) => work(session(inner)));
      },
      close: () => db.close(),
    },
    roundTrips: () => trips,
  };
}

let database: TestDatabase;
let log: TransactionLog;
let roundTrips: () => number;

beforeAll(async () => {
  database = await createTestPostgresDatabase(inject('postgresUrl'), 'pg_store');
  await preparePostgresDatabase(database.url, 10_000);
  const counted = counting(connectPostgres({ url: database.url, poolMax: 4, queryTimeoutMs: 10_000 }));
  roundTrips = counted.roundTrips;
  log = logOn(counted.db, { kind: 'postgres', description: 'test', prepare: async () => [] });
});

afterAll(async () => {
  await log?.close();
  await database?.drop();
});

/** Round trips and commits `work` made. */
async function cost(work: () => Promise<unknown>): Promise<{ roundTrips: number; commits: number }> {
  const [trips, commits] = [roundTrips(), log.commitCount()];
  await work();
  return { roundTrips: roundTrips() - trips, commits: log.commitCount() - commits };
}

describe('the PostgreSQL store', () => {
  it('makes each operation of the hot path one round trip and one commit', async () => {
    const { store } = log;
    const gid = uniqueGid('pg-cost');
    const one = { roundTrips: 1, commits: 1 };
    expect(
      await cost(() =>
        store.begin({ gid, mode: 'tcc', now: T0, deadlineAt: T0 + MINUTE, caller: 'tests', branches: [registration('01'), registration('02')] }),
      ),
    ).toEqual(one);
    expect(
      await cost(() =>
        store.decide({
          gid,
          to: 'committing',
          guard: { from: 'open', deadlineAfter: T0 + 1 },
          reason: null,
          now: T0 + 1,
          owner: 'a',
          leaseUntil: T0 + 2,
          actor: 'tests',
        }),
      ),
    ).toEqual(one);
    expect(await cost(() => store.claim(gid, 'b', T0 + 2, T0 + 10))).toEqual(one);
    const confirm = (branchId: string) => ({ branchId, op: 'confirm' as const, outcome: 'success' as const, httpStatus: 200, error: null, attempt: 1 });
    const finish = { kind: 'finish' as const, status: 'committed' as const };
    let recorded = false;
    expect(
      await cost(async () => {
        recorded = await store.recordRound({
          gid,
          owner: 'b',
          from: 'committing',
          results: [confirm('01'), confirm('02')],
          skipped: [],
          decision: finish,
          now: T0 + 3,
          leaseUntil: T0 + 3,
        });
      }),
    ).toEqual(one);
    expect(recorded).toBe(true);
    expect(await cost(() => store.load(gid))).toEqual({ roundTrips: 1, commits: 0 });
    expect((await store.load(gid))?.transaction).toMatchObject({ status: 'committed', finishedAt: T0 + 3 });
  });

  it('a decision that waited for a registration sees the branch it registered', { timeout: 30_000 }, async () => {
    const gid = uniqueGid('pg-order');
    await log.store.begin({ gid, mode: 'tcc', now: T0, deadlineAt: T0 + MINUTE, caller: 'tests', branches: [registration('01')] });
    // A registration as the store makes it, held open between its insert and its commit.
    const registering = new pg.Client({ connectionString: database.url });
    const observer = new pg.Client({ connectionString: database.url });
    await Promise.all([registering.connect(), observer.connect()]);
    try {
      await registering.query('BEGIN');
      await registering.query('SELECT 1 FROM dtx_global WHERE gid = $1 FOR SHARE', [gid]);
      await registering.query(
        `INSERT INTO dtx_branch (gid, branch_id, operations, participant, payload, status, created_at, updated_at) VALUES ($1, '02', '{"confirm":"http://x/c","cancel":"http://x/k"}', 'http://x', '{}', 'pending', $2, $2)`,
        [gid, T0 + 1],
      );
      const deciding = log.store.decide({
        gid,
        to: 'committing',
        guard: { from: 'open' },
        reason: null,
        now: T0 + 2,
        owner: 'a',
        leaseUntil: T0 + 3,
        actor: 'tests',
      });
      await waitFor(
        async () => (await observer.query(`SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%dtx_decide%'`)).rowCount === 1,
        { what: 'the decision to wait for the row lock' },
      );
      await registering.query('COMMIT');
      const decided = await deciding;
      expect(decided?.branches.map((b) => b.branchId)).toEqual(['01', '02']);
    } finally {
      await Promise.all([registering.end(), observer.end()]);
    }
  });

  it('stores free text holding a NUL character (PostgreSQL refuses it as is) with U+FFFD in its place', async () => {
    const gid = uniqueGid('pg-nul');
    await log.store.begin({ gid, mode: 'tcc', now: T0, deadlineAt: T0 + MINUTE, caller: 'tests', branches: [registration('01')] });
    const decided = await log.store.decide({
      gid,
      to: 'rolling-back',
      guard: { from: 'open' },
      reason: 'a\u0000b',
      now: T0 + 1,
      owner: 'a',
      leaseUntil: T0 + 2,
      actor: 'tests',
    });
    expect(decided?.transaction.reason).toBe('a\uFFFDb');
    const failed = { branchId: '01', op: 'cancel' as const, outcome: 'unknown' as const, httpStatus: 500, error: 'reply \u0000 body', attempt: 1 };
    const retry = { kind: 'retry' as const, retryCount: 1, nextRetryAt: T0 + 10, needsAttention: false, attentionReason: null };
    expect(
      await log.store.recordRound({ gid, owner: 'a', from: 'rolling-back', results: [failed], skipped: [], decision: retry, now: T0 + 2, leaseUntil: T0 + 2 }),
    ).toBe(true);
    expect((await log.store.load(gid))?.branches[0]?.lastError).toBe('reply \uFFFD body');
    expect((await log.store.events(gid)).map((e) => e.message)).toEqual(['reply \uFFFD body']);
  });
});

describe('preparing a PostgreSQL log', () => {
  it("runs with a role that has only the rows' privileges once an owner migrated the log", async () => {
    const role = `dtx_rows_only_${process.pid}`;
    const owner = new pg.Client({ connectionString: database.url });
    await owner.connect();
    try {
      await owner.query(`CREATE ROLE ${role} LOGIN PASSWORD 'rows'`);
      await owner.query(`GRANT SELECT, INSERT, UPDATE ON dtx_global, dtx_branch, dtx_event, dtx_audit TO ${role}`);
      await owner.query(`GRANT SELECT ON dtx_migrations TO ${role}`);
      const url = new URL(database.url);
      url.username = role;
      url.password = 'rows';
      const limited = openPostgresLog({ url: url.toString(), poolMax: 1, queryTimeoutMs: 10_000 });
      try {
        expect(await limited.prepare()).toEqual([]);
        const gid = uniqueGid('pg-rows-only');
        expect(await limited.store.begin({ gid, mode: 'tcc', now: T0, deadlineAt: T0 + MINUTE, caller: 'tests', branches: [registration('01')] })).toBe(
          'created',
        );
        expect(
          (
            await limited.store.decide({
              gid,
              to: 'committing',
              guard: { from: 'open' },
              reason: null,
              now: T0 + 1,
              owner: 'a',
              leaseUntil: T0 + 2,
              actor: 'tests',
            })
          )?.transaction.status,
        ).toBe('committing');
      } finally {
        await limited.close();
      }
    } finally {
      await owner.query(`DROP OWNED BY ${role}`).catch(() => undefined);
      await owner.query(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
      await owner.end();
    }
  });

  it('creates a missing database, and several instances migrating it at once apply each migration once', { timeout: 60_000 }, async () => {
    const name = `dtx_pg_prepare_${process.pid}_${Date.now()}`;
    const url = new URL(inject('postgresUrl'));
    url.pathname = `/${name}`;
    try {
      const applied = await Promise.all([1, 2, 3].map(() => preparePostgresDatabase(url.toString(), 10_000)));
      expect(applied.flat().sort()).toEqual(['0001-transaction-log', '0002-hot-path-functions', '0003-row-locks']);
      expect(await preparePostgresDatabase(url.toString(), 10_000)).toEqual([]);
    } finally {
      const admin = new pg.Client({ connectionString: inject('postgresUrl') });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.end();
    }
  });
});
