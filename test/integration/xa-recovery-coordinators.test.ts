/**
 * XA recovery tied to the coordinator that prepared each branch, against
 * real MariaDB: a prepare records its call's `dtx-coordinator` with its
 * barrier row; the recovery asks that coordinator and no other, never rolls
 * a branch back because a coordinator has no record of it, leaves alone a
 * branch prepared through a coordinator it was not given, and an operator
 * finishes what it leaves with `participant.finishXa`.
 *
 * Calls go through `participant.handle()` unsigned (development mode), so
 * that what is tested is the barrier row and the recovery, not how
 * initiators sign. XA RECOVER is server-wide: every check here is limited to
 * this test's gids.
 */
import { randomBytes } from 'node:crypto';
import knexFactory from 'knex';
import type { Knex } from 'knex';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { createParticipant, defineXa, describeXid, HEADERS, xidOf } from '../../participant-sdk/index.ts';
import type { BranchOp, Participant, XaCoordinatorSource, XaGlobalStatus, XaRecoveryPass } from '../../participant-sdk/index.ts';
import { parseRecoveredXid, type RecoveredXidRow } from '../../participant-sdk/xa/xid.ts';
import { createTestDatabase, type TestDatabase } from '../support/databases.ts';

const A = 'http://coord-a.test:36789';
const B = 'http://coord-b.test:36789';
const START = 1_700_000_000_000;

let db: TestDatabase;
let knex: Knex;
let participant: Participant;
let clock = START;
/** Gids of this test start with it: unique on a server other test files share. */
let run = '';
let prepareRuns = 0;
let logs: Array<Record<string, unknown>> = [];

const notes = defineXa<{ text: string }, null>({
  name: 'notes',
  async prepare({ gid, payload, sql }) {
    prepareRuns++;
    await sql('insert into effects (gid, text) values (?, ?)', [gid, payload.text]);
    return null;
  },
});

const gidOf = (name: string) => `${run}-${name}`;
const xidText = (gid: string, branchId = 'note') => describeXid(xidOf(gid, branchId));

beforeEach(async (context) => {
  db = await createTestDatabase(inject('mysqlUrl'), `xa recovery coordinators ${context.task.name}`);
  knex = knexFactory({ client: 'mysql2', connection: db.url, pool: { min: 0, max: 8 } });
  await knex.schema.createTable('effects', (t) => {
    t.increments('id');
    t.string('gid', 128).notNullable();
    t.string('text', 64).notNullable();
  });
  clock = START;
  run = `xrc${randomBytes(4).toString('hex')}`;
  prepareRuns = 0;
  logs = [];
  participant = createParticipant({
    knex,
    resources: [notes],
    insecureDevMode: true,
    now: () => clock,
    xaLockWaitSeconds: 1,
    logger: pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) }),
  });
  await participant.migrate();
});

afterEach(async () => {
  // A prepared branch holds its locks: left behind it would block dropping the database.
  for (const xid of await ourPreparedXids()) await knex.raw(`XA ROLLBACK ${xid}`);
  await knex?.destroy();
  await db?.drop();
});

/** One unsigned call to the participant, with `dtx-coordinator` when given. */
async function call(op: BranchOp, gid: string, coordinator?: string, branchId = 'note') {
  const body = JSON.stringify({ text: gid.slice(-16) });
  const headers: Record<string, string> = {
    host: 'participant.test',
    'content-type': 'application/json',
    [HEADERS.gid]: gid,
    [HEADERS.branchId]: branchId,
    [HEADERS.op]: op,
    [HEADERS.timestamp]: String(clock),
    ...(coordinator === undefined ? {} : { [HEADERS.coordinator]: coordinator }),
  };
  return participant.handle({ method: 'POST', path: `/notes/${op}`, headers, rawBody: body });
}

async function prepared(gid: string, coordinator?: string): Promise<void> {
  expect(await call('prepare', gid, coordinator), `prepare ${gid}`).toMatchObject({ statusCode: 200 });
}

/** This test's xids that XA RECOVER lists. */
async function ourPreparedXids(): Promise<string[]> {
  const [rows] = (await knex.raw('XA RECOVER')) as unknown as [RecoveredXidRow[]];
  return rows
    .map(parseRecoveredXid)
    .flatMap((xid) => (xid === null || !xid.gtrid.startsWith(run) ? [] : [describeXid(xid)]))
    .sort();
}

/** A coordinator at `url` answering from `statuses` (a gid not there: no record), recording what it is asked. */
function coordinatorAt(url: string, statuses: Record<string, XaGlobalStatus | null>) {
  const asked: string[] = [];
  const source: XaCoordinatorSource = {
    url,
    status: async (gid) => {
      asked.push(gid);
      return statuses[gid] ?? null;
    },
  };
  return { source, asked };
}

async function effects(): Promise<string[]> {
  return (await knex('effects').orderBy('id').pluck('gid')) as string[];
}

async function barrierRows(): Promise<Array<{ gid: string; op: string; origin_op: string; coordinator: string | null }>> {
  return knex('dtx_barrier').select('gid', 'op', 'origin_op', 'coordinator').orderBy('id');
}

const inDoubt = (pass: XaRecoveryPass) =>
  pass.inDoubt.map(({ gid, reason, coordinator }) => ({ gid, reason, coordinator })).sort((x, y) => x.gid.localeCompare(y.gid));

/** Log lines about this test's branches at `level` (40 warn, 50 error). */
const logged = (level: number) => logs.filter((line) => line['level'] === level && String(line['gid']).startsWith(run));

describe('XA prepare: the coordinator it was prepared through', () => {
  it('is stored with the branch’s barrier row as the call sent it; a prepare without dtx-coordinator stores null', async () => {
    const [viaA, unnamed] = [gidOf('via-a'), gidOf('unnamed')];
    await prepared(viaA, `${A}/`);
    await prepared(unnamed);
    for (const gid of [viaA, unnamed]) expect(await call('commit', gid), gid).toMatchObject({ statusCode: 200 });
    expect(await barrierRows()).toEqual([
      { gid: viaA, op: 'prepare', origin_op: 'prepare', coordinator: `${A}/` },
      { gid: unnamed, op: 'prepare', origin_op: 'prepare', coordinator: null },
    ]);
  });

  it('is refused 400 BAD_BARRIER_INPUT when longer than 512 characters, or not printable ASCII: nothing runs, nothing is prepared', async () => {
    const longest = `${A}/${'p'.repeat(512 - A.length - 1)}`;
    expect(longest).toHaveLength(512);
    const [tooLong, spaced] = [gidOf('too-long'), gidOf('spaced')];
    expect(await call('prepare', tooLong, `${longest}x`)).toMatchObject({ statusCode: 400, body: { code: 'BAD_BARRIER_INPUT' } });
    expect(await call('prepare', spaced, `${A}/with space`)).toMatchObject({ statusCode: 400, body: { code: 'BAD_BARRIER_INPUT' } });
    expect(prepareRuns).toBe(0);
    expect(await ourPreparedXids()).toEqual([]);
    expect(await barrierRows()).toEqual([]);

    const fits = gidOf('fits');
    await prepared(fits, longest);
    expect(await call('commit', fits)).toMatchObject({ statusCode: 200 });
    expect((await barrierRows()).map((row) => row.coordinator)).toEqual([longest]);
  });
});

describe('XA recovery: each branch asked of its own coordinator', () => {
  it("asks A only about A's branches, matched however A's URL is spelled: B's answers, a rollback or no record, change nothing", async () => {
    const [committed, undecided] = [gidOf('committed'), gidOf('undecided')];
    await prepared(committed, `${A}/`);
    await prepared(undecided, 'HTTP://COORD-A.test:36789');
    const a = coordinatorAt(A, { [committed]: 'committed', [undecided]: 'preparing' });
    // B knows another transaction under one of the gids, rolled back, and nothing of the other.
    const b = coordinatorAt(B, { [undecided]: 'rolled-back' });

    const pass = await participant.recoverXa({ coordinators: [b.source, a.source] });
    expect(a.asked.sort()).toEqual([committed, undecided].sort());
    expect(b.asked).toEqual([]);
    expect(pass.committed).toEqual([xidText(committed)]);
    expect(pass.rolledBack).toEqual([]);
    expect(inDoubt(pass)).toEqual([{ gid: undecided, reason: 'undecided', coordinator: A }]);
    expect(pass.failed).toBe(0);
    expect(await ourPreparedXids()).toEqual([xidText(undecided)]);
    expect(await effects()).toEqual([committed]);
  });

  it('never rolls back a branch its own coordinator has no record of, however long in doubt; reports it at error level on every pass past inDoubtAfterMs', async () => {
    const lost = gidOf('lost');
    await prepared(lost, A);
    const a = coordinatorAt(A, {});
    const b = coordinatorAt(B, { [lost]: 'committed' });
    const options = { coordinators: [a.source, b.source], inDoubtAfterMs: 60_000 };

    const first = await participant.recoverXa(options);
    expect(inDoubt(first)).toEqual([{ gid: lost, reason: 'unknown-to-coordinator', coordinator: A }]);
    expect(logged(50)).toEqual([]);

    clock += 60_000;
    const second = await participant.recoverXa(options);
    expect(second.rolledBack).toEqual([]);
    const [report] = logged(50);
    expect(report).toMatchObject({ xid: xidText(lost), gid: lost, branchId: 'note', coordinator: A, inDoubtForMs: 60_000 });
    expect(String(report!['msg'])).toContain(`participant.finishXa({ gid: '${lost}', branchId: 'note'`);

    clock += 30 * 24 * 3_600_000;
    const third = await participant.recoverXa(options);
    expect(third.rolledBack).toEqual([]);
    expect(third.committed).toEqual([]);
    expect(inDoubt(third)).toEqual([{ gid: lost, reason: 'unknown-to-coordinator', coordinator: A }]);
    expect(logged(50)).toHaveLength(2);
    expect(b.asked).toEqual([]);
    expect(await ourPreparedXids()).toEqual([xidText(lost)]);
    expect(await effects()).toEqual([]);
  });

  it('leaves prepared, and reports at warn level with its xid and URL, a branch prepared through a coordinator it was not given', async () => {
    const elsewhere = gidOf('elsewhere');
    await prepared(elsewhere, 'http://coord-c.test/dtx/');
    const a = coordinatorAt(A, { [elsewhere]: 'rolled-back' });
    const b = coordinatorAt(B, { [elsewhere]: 'committed' });

    const pass = await participant.recoverXa({ coordinators: [a.source, b.source], inDoubtAfterMs: 0 });
    expect(a.asked).toEqual([]);
    expect(b.asked).toEqual([]);
    expect(pass.committed).toEqual([]);
    expect(pass.rolledBack).toEqual([]);
    expect(inDoubt(pass)).toEqual([{ gid: elsewhere, reason: 'coordinator-not-asked', coordinator: 'http://coord-c.test/dtx' }]);
    expect(logged(40)).toEqual([expect.objectContaining({ xid: xidText(elsewhere), gid: elsewhere, coordinator: 'http://coord-c.test/dtx' })]);
    expect(await ourPreparedXids()).toEqual([xidText(elsewhere)]);
  });

  it('asks every coordinator about a branch that recorded none, and finishes it only when exactly one knows its gid', async () => {
    const [onlyA, nobody, both] = [gidOf('only-a'), gidOf('nobody'), gidOf('both')];
    for (const gid of [onlyA, nobody, both]) await prepared(gid);
    const a = coordinatorAt(A, { [onlyA]: 'committed', [both]: 'committed' });
    const b = coordinatorAt(B, { [both]: 'rolled-back' });

    const pass = await participant.recoverXa({ coordinators: [a.source, b.source] });
    expect(a.asked.sort()).toEqual([onlyA, nobody, both].sort());
    expect(b.asked.sort()).toEqual([onlyA, nobody, both].sort());
    expect(pass.committed).toEqual([xidText(onlyA)]);
    expect(pass.rolledBack).toEqual([]);
    expect(inDoubt(pass)).toEqual(
      [
        { gid: nobody, reason: 'unknown-to-coordinator', coordinator: null },
        { gid: both, reason: 'ambiguous', coordinator: null },
      ].sort((x, y) => x.gid.localeCompare(y.gid)),
    );
    expect(await ourPreparedXids()).toEqual([xidText(nobody), xidText(both)].sort());
  });

  it('refuses to start with no coordinator, or with one named twice', async () => {
    expect(() => participant.startXaRecovery({ coordinators: [], intervalMs: 1_000 })).toThrow(expect.objectContaining({ code: 'PARTICIPANT_CONFIG' }));
    await expect(participant.recoverXa({ coordinators: [coordinatorAt(A, {}).source, coordinatorAt(`${A}/`, {}).source] })).rejects.toMatchObject({
      code: 'PARTICIPANT_CONFIG',
      option: 'coordinators',
    });
  });
});

describe('XA branch finished by hand: participant.finishXa', () => {
  it('commits or rolls back a prepared branch with the barrier rows the coordinator’s calls leave; its late calls find it done', async () => {
    const [kept, undone] = [gidOf('kept'), gidOf('undone')];
    await prepared(kept, A);
    await prepared(undone, A);

    expect(await participant.finishXa({ gid: kept, branchId: 'note', outcome: 'commit' })).toEqual({ kind: 'committed' });
    expect(await participant.finishXa({ gid: undone, branchId: 'note', outcome: 'rollback' })).toEqual({ kind: 'rolled-back' });
    expect(await ourPreparedXids()).toEqual([]);
    expect(await effects()).toEqual([kept]);
    expect(await barrierRows()).toEqual([
      { gid: kept, op: 'prepare', origin_op: 'prepare', coordinator: A },
      { gid: undone, op: 'prepare', origin_op: 'rollback', coordinator: null },
    ]);

    // The coordinator's own calls, arriving later, find the branches finished.
    expect(await call('commit', kept)).toMatchObject({ statusCode: 200, body: { ok: true, duplicate: true } });
    expect(await call('rollback', undone)).toMatchObject({ statusCode: 200, body: { ok: true, duplicate: true } });
    expect(await call('prepare', undone, A)).toMatchObject({ statusCode: 409, body: { code: 'SUSPENDED' } });
    expect(prepareRuns).toBe(2);

    // Repeated, or the other way round: nothing changes.
    expect(await participant.finishXa({ gid: kept, branchId: 'note', outcome: 'commit' })).toEqual({ kind: 'duplicate' });
    expect(await participant.finishXa({ gid: kept, branchId: 'note', outcome: 'rollback' })).toEqual({ kind: 'refused', refusal: 'already-committed' });
    expect(await participant.finishXa({ gid: undone, branchId: 'note', outcome: 'commit' })).toEqual({ kind: 'refused', refusal: 'prepare-not-found' });
    expect(await effects()).toEqual([kept]);
    expect(logs.filter((line) => line['msg'] === 'XA branch finished by hand').map((line) => [line['gid'], line['xa']])).toEqual([
      [kept, 'committed'],
      [undone, 'rolled-back'],
      [kept, 'duplicate'],
    ]);
  });

  it('refuses an outcome other than commit or rollback, touching nothing', async () => {
    const gid = gidOf('typo');
    await prepared(gid, A);
    await expect(participant.finishXa({ gid, branchId: 'note', outcome: 'Commit' as 'commit' })).rejects.toBeInstanceOf(RangeError);
    expect(await ourPreparedXids()).toEqual([xidText(gid)]);
  });
});
