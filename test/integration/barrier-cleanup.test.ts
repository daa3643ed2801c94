/**
 * The cleanup of every kind of barrier row, and of the XA gid table, against
 * real MariaDB (and PostgreSQL, for the kinds of rows it has: no XA there): a
 * row goes only once no call the protocol can still send
 * needs it, the retention counting from the branch's finish; an XA branch
 * still prepared never loses its rows; the rows of branches that may still
 * be undone go only with the explicit, longer `unfinishedOlderThanMs`.
 *
 * XA RECOVER is server-wide: gids here carry this test's prefix, and the
 * branches a test leaves prepared are rolled back after it.
 */
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runInBarrier } from '../../participant-sdk/barrier/barrier.ts';
import { cleanupBarrier, type CleanupOptions } from '../../participant-sdk/barrier/cleanup.ts';
import { createBarrierTable } from '../../participant-sdk/barrier/migration.ts';
import { createParticipant, defineXa, describeXid, ParticipantConfigError } from '../../participant-sdk/index.ts';
import type { BranchOp } from '../../protocol/wire.ts';
import { commitXa, prepareXa, rollbackXa, type XaBranchOptions } from '../../participant-sdk/xa/xa-branch.ts';
import { createXaGidTable, gidOfHashedGtrid } from '../../participant-sdk/xa/xa-tables.ts';
import { parseRecoveredXid, xidOf, type RecoveredXidRow } from '../../participant-sdk/xa/xid.ts';
import type { TestDatabase } from '../support/databases.ts';
import { BARRIER_DATABASES, type BarrierDatabase } from '../support/barrier-databases.ts';

const TABLE = 'dtx_barrier';
const GID_TABLE = 'dtx_xa_gid';
/** The retention of these tests. */
const R = 10_000;
const T = 1_700_000_000_000;

/** The database of the suite running: MariaDB for XA, each of BARRIER_DATABASES for the rest. */
let database: BarrierDatabase;
let db: TestDatabase;
let knex: Knex;
let clock = T;
let run = '';
/** The xids this test may leave prepared (describeXid), rolled back after it. */
let ours = new Set<string>();

/** Runs every test of the enclosing suite on `on`'s database. */
function onDatabase(on: BarrierDatabase): void {
  beforeEach(async (context) => {
    database = on;
    db = await database.create(`barrier cleanup ${context.task.name}`);
    knex = database.connect(db);
    await createBarrierTable(knex, TABLE);
    if (database.dialect === 'mysql') await createXaGidTable(knex, GID_TABLE);
    await knex.schema.createTable('effects', (t) => {
      t.increments('id');
      t.string('gid', 128).notNullable();
    });
    clock = T;
    run = `bc${randomBytes(4).toString('hex')}`;
    ours = new Set();
  });

  afterEach(async () => {
    // A prepared branch holds its locks: left behind it would block dropping the database.
    if (database.dialect === 'mysql') for (const xid of await ourPreparedXids()) await knex.raw(`XA ROLLBACK ${xid}`);
    await knex?.destroy();
    await db?.drop();
  });
}

const MYSQL = BARRIER_DATABASES.find((candidate) => candidate.dialect === 'mysql')!;

const gidOf = (name: string) => `${run}-${name}`;
/** A gid of 128 characters: its xid carries a hash, and the gid is recorded in the gid table. */
const longGidOf = (name: string) => `${run}-${name}-`.padEnd(128, 'L');

/** The cleanup, with the XA gid table where there is one (MySQL). */
function cleanup(now: number, options: Partial<CleanupOptions> = {}): Promise<number> {
  const xa = database.dialect === 'mysql' ? { xaGidTable: GID_TABLE } : {};
  return cleanupBarrier(knex, { table: TABLE, ...xa, olderThanMs: R, now: () => now, ...options });
}

/** A TCC or saga op behind the barrier, at the current clock. */
async function barrierCall(op: BranchOp, gid: string): Promise<string> {
  return (await runInBarrier(knex, { table: TABLE, gid, branchId: 'b1', op, now: () => clock }, async () => undefined)).kind;
}

const xaBranch = (gid: string, branchId = 'b1'): XaBranchOptions => ({
  gid,
  branchId,
  table: TABLE,
  gidTable: GID_TABLE,
  now: () => clock,
  lockWaitSeconds: 1,
});

async function xaPrepared(gid: string, branchId = 'b1'): Promise<void> {
  const outcome = await prepareXa(knex, xaBranch(gid, branchId), async (sql) => sql('insert into effects (gid) values (?)', [gid]));
  expect(outcome.kind, `prepare ${gid} ${branchId}`).toBe('prepared');
}

/** The committed barrier rows of `gid`: op and origin, by branch. */
async function rowsOf(gid: string): Promise<string[]> {
  const rows = (await knex(TABLE).where({ gid }).orderBy(['branch_id', 'id']).select('branch_id', 'op', 'origin_op', 'created_at')) as Array<{
    branch_id: string;
    op: string;
    origin_op: string;
    created_at: number;
  }>;
  return rows.map((row) => `${row.branch_id} ${row.op}/${row.origin_op}@${Number(row.created_at) - T}`);
}

async function recordedGids(): Promise<string[]> {
  return (await knex(GID_TABLE).orderBy('gid').pluck('gid')) as string[];
}

/** This test's xids (`track`) that XA RECOVER lists. */
async function ourPreparedXids(): Promise<string[]> {
  const [rows] = (await knex.raw('XA RECOVER')) as unknown as [RecoveredXidRow[]];
  return rows.flatMap((row) => {
    const xid = parseRecoveredXid(row);
    return xid !== null && ours.has(describeXid(xid)) ? [describeXid(xid)] : [];
  });
}

const track = (gid: string, branchId = 'b1') => ours.add(describeXid(xidOf(gid, branchId)));

describe('cleanup of XA branches', () => {
  onDatabase(MYSQL);

  it('deletes a committed branch’s rows one retention after it first finds the branch committed with its prepare older than the retention; until then a late commit is a duplicate', async () => {
    const gid = gidOf('committed');
    track(gid);
    await xaPrepared(gid);
    expect(await commitXa(knex, xaBranch(gid))).toEqual({ kind: 'committed' });

    expect(await cleanup(T + R)).toBe(0);
    expect(await rowsOf(gid)).toEqual(['b1 prepare/prepare@0']);
    // The prepare row is past the retention: the branch is found committed, and its commit row written now.
    expect(await cleanup(T + R + 1)).toBe(0);
    expect(await rowsOf(gid)).toEqual(['b1 prepare/prepare@0', `b1 commit/commit@${R + 1}`]);
    expect(await commitXa(knex, xaBranch(gid))).toEqual({ kind: 'duplicate' });
    expect(await cleanup(T + 2 * R + 1)).toBe(0);

    expect(await cleanup(T + 2 * R + 2)).toBe(2);
    expect(await rowsOf(gid)).toEqual([]);
  });

  it('deletes a rolled-back branch’s row, and a null rollback’s, one retention after the rollback', async () => {
    const [undone, never] = [gidOf('undone'), gidOf('never-prepared')];
    track(undone);
    await xaPrepared(undone);
    clock = T + 5 * R;
    expect(await rollbackXa(knex, xaBranch(undone))).toEqual({ kind: 'rolled-back' });
    expect(await rollbackXa(knex, xaBranch(never))).toEqual({ kind: 'null-rollback' });

    expect(await cleanup(T + 6 * R)).toBe(0);
    expect(await rowsOf(undone)).toEqual([`b1 prepare/rollback@${5 * R}`]);
    expect(await cleanup(T + 6 * R + 1)).toBe(2);
    expect([...(await rowsOf(undone)), ...(await rowsOf(never))]).toEqual([]);
  });

  it('never deletes the rows of a branch still prepared, nor its gid’s row, whatever their age; they go with the branch once it is finished', async () => {
    const [long, short] = [longGidOf('in-doubt'), gidOf('in-doubt')];
    for (const [gid, branchId] of [
      [long, 'b1'],
      [long, 'b2'],
      [short, 'b1'],
    ] as const) {
      track(gid, branchId);
      await xaPrepared(gid, branchId);
    }
    const gtrid = xidOf(long, 'b1').gtrid;
    expect(gtrid).not.toBe(long);
    // b1 of the long gid committed; b2 of it and the short gid's branch stay prepared, their rows uncommitted.
    expect(await commitXa(knex, xaBranch(long, 'b1'))).toEqual({ kind: 'committed' });

    expect(await cleanup(T + 100 * R)).toBe(0);
    expect(await cleanup(T + 102 * R)).toBe(2);
    expect(await rowsOf(long)).toEqual([]);
    // No committed row of the long gid is left, yet its b2 is prepared: the gid's row stays, for the recovery to find it.
    expect(await recordedGids()).toEqual([long]);
    expect(await gidOfHashedGtrid(knex, GID_TABLE, gtrid)).toBe(long);
    expect((await ourPreparedXids()).sort()).toEqual([describeXid(xidOf(long, 'b2')), describeXid(xidOf(short, 'b1'))].sort());
    expect(await cleanup(T + 10_000 * R)).toBe(0);

    // Finished: their rows go, the gid's row with the last of them.
    clock = T + 10_000 * R;
    expect(await commitXa(knex, xaBranch(long, 'b2'))).toEqual({ kind: 'committed' });
    expect(await rollbackXa(knex, xaBranch(short, 'b1'))).toEqual({ kind: 'rolled-back' });
    expect(await cleanup(T + 10_001 * R + 1)).toBe(1);
    expect(await recordedGids()).toEqual([long]);
    expect(await rowsOf(long)).toEqual([`b2 prepare/prepare@0`, `b2 commit/commit@${10_001 * R + 1}`]);
    expect(await cleanup(T + 10_002 * R + 2)).toBe(3);
    expect(await rowsOf(long)).toEqual([]);
    expect(await recordedGids()).toEqual([]);
    expect(await ourPreparedXids()).toEqual([]);
  });

  it('deletes the gid row of a prepare that wrote no branch row once older than the retention; a prepare of the gid moves its row forward', async () => {
    const [failed, again] = [longGidOf('failed'), longGidOf('again')];
    const failing = prepareXa(knex, xaBranch(failed), async () => {
      throw new Error('disk on fire');
    });
    await expect(failing).rejects.toThrow('disk on fire');
    expect(await rowsOf(failed)).toEqual([]);
    expect(await recordedGids()).toEqual([failed]);

    await expect(prepareXa(knex, xaBranch(again), async () => Promise.reject(new Error('once')))).rejects.toThrow('once');
    clock = T + 2 * R;
    track(again, 'b2');
    await xaPrepared(again, 'b2');
    expect(await knex(GID_TABLE).where({ gid: again }).first('created_at')).toEqual({ created_at: T + 2 * R });
    expect(await rollbackXa(knex, xaBranch(again, 'b2'))).toEqual({ kind: 'rolled-back' });

    expect(await cleanup(T + R)).toBe(0);
    expect(await cleanup(T + R + 1)).toBe(1);
    expect(await recordedGids()).toEqual([again]);
    // The rollback row, then the gid row with it.
    expect(await cleanup(T + 3 * R + 1)).toBe(2);
    expect(await recordedGids()).toEqual([]);
    expect(await rowsOf(again)).toEqual([]);
  });
});

describe.each(BARRIER_DATABASES)('cleanup of branches this participant cannot know are over, on $name', (on) => {
  onDatabase(on);

  it('keeps a saga step’s lone action row and a lone try row by default; deletes them only past unfinishedOlderThanMs, never a branch with a phase-two row', async () => {
    const [succeeded, open, late, compensated] = ['succeeded', 'open', 'late', 'compensated'].map(gidOf) as [string, string, string, string];
    expect(await barrierCall('action', succeeded)).toBe('ran');
    expect(await barrierCall('try', open)).toBe('ran');
    expect(await barrierCall('try', late)).toBe('ran');
    expect(await barrierCall('action', compensated)).toBe('ran');
    clock = T + 5 * R;
    expect(await barrierCall('confirm', late)).toBe('ran');
    expect(await barrierCall('compensate', compensated)).toBe('ran');

    expect(await cleanup(T + 1_000 * R + 1, { olderThanMs: 1_000 * R })).toBe(0);
    expect(await cleanup(T + 5 * R + 1, { unfinishedOlderThanMs: 6 * R })).toBe(0);
    await expect(cleanup(T, { unfinishedOlderThanMs: R - 1 })).rejects.toBeInstanceOf(RangeError);

    expect(await cleanup(T + 5 * R + 1, { unfinishedOlderThanMs: 5 * R })).toBe(2);
    expect([...(await rowsOf(succeeded)), ...(await rowsOf(open))]).toEqual([]);
    expect(await rowsOf(late)).toEqual(['b1 try/try@0', `b1 confirm/confirm@${5 * R}`]);
    expect(await rowsOf(compensated)).toEqual(['b1 action/action@0', `b1 compensate/compensate@${5 * R}`]);

    // What the option costs, as documented: a compensation arriving after it is a null compensation, its handler not run.
    clock = T + 5 * R + 2;
    expect(await barrierCall('compensate', succeeded)).toBe('null-compensation');

    // The finished branches go after the retention, as always.
    expect(await cleanup(T + 6 * R + 1)).toBe(4);
    expect([...(await rowsOf(late)), ...(await rowsOf(compensated))]).toEqual([]);
  });
});

describe('Participant.cleanup', () => {
  onDatabase(MYSQL);

  it('cleans the XA gid table of a participant serving XA resources, counting the rows of both tables', async () => {
    const participant = createParticipant({
      knex,
      resources: [defineXa({ name: 'notes', prepare: async () => null })],
      insecureDevMode: true,
      now: () => clock,
      logger: pino({ level: 'silent' }),
    });
    await participant.migrate();
    const gid = longGidOf('participant');
    track(gid);
    await xaPrepared(gid);
    expect(await rollbackXa(knex, xaBranch(gid))).toEqual({ kind: 'rolled-back' });
    clock = T + R + 1;
    expect(await participant.cleanup({ olderThanMs: R })).toBe(2);
    expect(await rowsOf(gid)).toEqual([]);
    expect(await recordedGids()).toEqual([]);
  });
});

describe('cleanup on PostgreSQL', () => {
  onDatabase(BARRIER_DATABASES.find((candidate) => candidate.dialect === 'postgres')!);

  it('refuses an XA gid table, which only MySQL and MariaDB have, before deleting anything', async () => {
    expect(await barrierCall('try', gidOf('kept'))).toBe('ran');
    expect(await barrierCall('confirm', gidOf('kept'))).toBe('ran');
    await expect(cleanup(T + 2 * R, { xaGidTable: GID_TABLE })).rejects.toBeInstanceOf(ParticipantConfigError);
    expect(await rowsOf(gidOf('kept'))).toHaveLength(2);
    expect(await cleanup(T + 2 * R)).toBe(2);
  });
});
