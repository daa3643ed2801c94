/**
 * A short property-based fuzz of every /v1 and /admin/v1 route and of the
 * participant endpoint (Fastify plugin and node:http handler), on the real
 * servers: no answer >= 500, every error a JSON {code, message}, no
 * change to the transaction log or the barrier for any refused request,
 * exactly the documented refusal for a second caller acting on the first
 * one's transactions (and 401 for a call signed with the other role's key,
 * 409 NOT_REGISTERED for a try or a prepare without its registration proof),
 * and no request far costlier than others of its kind (timing.ts).
 * `npm run fuzz` is the long run of the same cases.
 *
 * DTX_FUZZ_SEED / DTX_FUZZ_RUNS replay or lengthen it.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startFuzzWorld, type FuzzWorld } from './fuzz-world.ts';
import { FuzzSession, runFuzz } from './fuzz-runner.ts';
import { KNOWN_CASES } from './known-cases.ts';
import { NOT_REGISTERED, unregisteredFirstOp } from './requests.ts';
import { formatFinding, groupFindings } from './report.ts';
import { errorShapeProblem, judge } from './oracle.ts';
import { diffMarks, takeMarks } from './state-marks.ts';
import { CostBook, costKinds, TIMING } from './timing.ts';

let world: FuzzWorld;

beforeAll(async () => {
  world = await startFuzzWorld({ mysqlUrl: inject('mysqlUrl'), redisUrl: inject('redisUrl'), label: 'fuzz' });
});

afterAll(async () => {
  await world?.stop();
});

describe('the oracle', () => {
  const request = { label: 'x', target: 'coordinator' as const, method: 'POST', path: '/v1/transactions', headers: [] };
  const reply = (status: number, body: string, contentType = 'application/json; charset=utf-8') => ({
    kind: 'reply' as const,
    ms: 1,
    reply: { status, headers: { 'content-type': contentType }, body: Buffer.from(body) },
  });

  it('flags a 500, even one with the API error shape', () => {
    expect(judge(request, reply(500, '{"code":"INTERNAL","message":"internal error"}'), { apiAuthActive: true }).map((p) => p.kind)).toEqual(['server-error']);
  });

  it('flags errors that are not JSON {code, message}', () => {
    expect(errorShapeProblem('text/plain', 'Bad Request')).not.toBeNull();
    expect(errorShapeProblem('application/json', '{"error":"Bad Request","message":"Client Error","statusCode":400}')).not.toBeNull();
    expect(errorShapeProblem('application/json', '{"code":"X","message":"m","stack":"Error\\n    at f"}')).not.toBeNull();
    expect(errorShapeProblem('application/json', '{"code":"INVALID_URL","message":"confirmUrl is not a URL"}')).toBeNull();
  });

  it('flags an accepted request that had to be refused, and a missing 401', () => {
    expect(judge({ ...request, expect: 'refused' }, reply(201, '{}'), { apiAuthActive: true }).map((p) => p.kind)).toEqual(['expectation']);
    expect(judge({ ...request, expect: 'api-unauthenticated' }, reply(201, '{}'), { apiAuthActive: true }).map((p) => p.kind)).toEqual(['expectation']);
    expect(judge({ ...request, expect: 'api-unauthenticated' }, reply(201, '{}'), { apiAuthActive: false })).toEqual([]);
  });

  it("demands exactly the documented refusal of another caller's request: a success or another code is a finding", () => {
    const notOwner = { ...request, expect: { status: 403, code: 'NOT_OWNER' } };
    expect(judge(notOwner, reply(403, '{"code":"NOT_OWNER","message":"m"}'), { apiAuthActive: true })).toEqual([]);
    expect(judge(notOwner, reply(200, '{"gid":"g","status":"confirmed"}'), { apiAuthActive: true }).map((p) => p.kind)).toEqual(['expectation']);
    expect(judge(notOwner, reply(403, '{"code":"OUT_OF_SCOPE","message":"m"}'), { apiAuthActive: true }).map((p) => p.kind)).toEqual(['expectation']);
    expect(judge(notOwner, reply(409, '{"code":"NOT_OWNER","message":"m"}'), { apiAuthActive: true }).map((p) => p.kind)).toEqual(['expectation']);
  });

  it('demands 409 NOT_REGISTERED of a try without its registration proof: the try run (2xx) or another refusal is a finding', () => {
    const unregistered = unregisteredFirstOp('participant-node', 'try', '{{GID}}', 'b1', 'none');
    expect(unregistered.expect).toEqual(NOT_REGISTERED);
    expect(judge(unregistered, reply(409, '{"code":"NOT_REGISTERED","message":"m"}'), { apiAuthActive: true })).toEqual([]);
    expect(judge(unregistered, reply(200, '{"ok":true,"result":{}}'), { apiAuthActive: true }).map((p) => p.kind)).toEqual(['expectation']);
    expect(judge(unregistered, reply(409, '{"code":"SUSPENDED","message":"m"}'), { apiAuthActive: true }).map((p) => p.kind)).toEqual(['expectation']);
  });
});

describe('the timing check', () => {
  const kinds = costKinds('coordinator', 'v1 view', '401');
  /** A book of `n` costs of `kinds`, spread evenly around `centerMs` by `spreadMs`. */
  function book(n: number, centerMs: number, spreadMs: number): CostBook {
    const costs = new CostBook();
    for (let i = 0; i < n; i++) costs.add(kinds, centerMs + (i % 2 === 0 ? spreadMs : -spreadMs));
    return costs;
  }

  it('bounds a kind at its median, plus the larger of the slack and six MADs, plus the size allowance', () => {
    expect(book(20, 2, 0.25).bound(kinds, 0)).toMatchObject({ kind: 'v1 view → 401', medianMs: 2, madMs: 0.25, boundMs: 2 + TIMING.slackMs });
    expect(book(20, 10, 2).bound(kinds, 0)?.boundMs).toBe(10 + 6 * 2);
    expect(book(20, 2, 0.25).bound(kinds, 16 * 1024)?.boundMs).toBe(2 + TIMING.slackMs + 16 * TIMING.msPerKiB);
  });

  it('is not moved by a few outliers, the slow request among them', () => {
    const costs = book(20, 2, 0.25);
    for (const outlier of [250, 400, 900]) costs.add(kinds, outlier);
    expect(costs.bound(kinds, 0)?.boundMs).toBeLessThan(2 + TIMING.slackMs + 1);
  });

  it('takes the narrowest kind with enough samples, never another class of answer', () => {
    const costs = new CostBook();
    for (let i = 0; i < TIMING.minSamples; i++) costs.add(costKinds('coordinator', 'admin list', '401'), 3);
    // Other routes of the target may cost a store transaction more: the broader kind's slack allows it.
    expect(costs.bound(kinds, 0)).toMatchObject({ kind: 'coordinator → 401', medianMs: 3, boundMs: 3 + TIMING.broadSlackMs });
    expect(costs.bound(costKinds('coordinator', 'admin list', '403'), 0)).toMatchObject({ kind: 'coordinator → 4xx', medianMs: 3 });
    expect(costs.bound(costKinds('coordinator', 'admin list', '200'), 0)).toBeNull();
    expect(costs.bound(costKinds('coordinator', 'admin list', 'timeout'), 0)).toBeNull();
    for (let i = 0; i < TIMING.minSamples; i++) costs.add(kinds, 1);
    expect(costs.bound(kinds, 0)).toMatchObject({ kind: 'v1 view → 401', medianMs: 1 });
  });
});

describe('the write check', () => {
  it('sees what an accepted request writes to the log and the barrier', async () => {
    const session = new FuzzSession(world);
    await session.settle();
    const before = await takeMarks(world.logDb, world.participantDb, []);
    const abort = {
      label: 'v1 abort / check',
      target: 'coordinator' as const,
      method: 'POST',
      path: '/v1/transactions/{{GID}}/abort',
      headers: [
        ['authorization', 'Bearer {{API_TOKEN}}'],
        ['content-type', 'application/json'],
      ] as [string, string][],
      body: { kind: 'json' as const, value: { waitMs: 5000 } },
    };
    expect(await session.runCase({ subject: 'tried', request: abort }, 'check')).toEqual([]);
    const changed = diffMarks(before, await takeMarks(world.logDb, world.participantDb, [])).map((line) => line.split(':')[0]);
    // The transaction was begun and aborted (log rows: the happy path writes no event rows), its tries and cancels went through the barrier.
    expect(changed).toEqual(expect.arrayContaining(['global', 'branch', 'barrierCount', 'barrierMax', 'effectsMax']));
  });
});

describe('fuzz', () => {
  it('a few hundred generated requests: no 5xx, JSON errors, refusals write nothing', async () => {
    const seed = Number(process.env['DTX_FUZZ_SEED'] ?? Date.now() % 2 ** 31);
    const runs = Number(process.env['DTX_FUZZ_RUNS'] ?? 250);
    const session = new FuzzSession(world);
    const result = await runFuzz(session, { runs, seed, examples: KNOWN_CASES });
    const groups = groupFindings(result.findings);
    const report = [
      `${result.findings.length} fuzz findings in ${groups.length} kinds (seed ${seed}):`,
      ...groups.map((g) => `  ${g.count} × ${g.key}`),
      '',
      ...groups.map((g) => formatFinding(g.first, seed)),
    ].join('\n');
    expect(result.findings.length, `${report}\n`).toBe(0);
    expect(session.stats.requests).toBeGreaterThanOrEqual(runs);
    // The run must have reached the state-changing paths and checked refusals.
    expect(session.stats.refusalsChecked).toBeGreaterThan(runs / 4);
    expect(Object.keys(session.stats.byStatus).filter((s) => s.startsWith('2')).length).toBeGreaterThan(0);
    // The timing check compared most requests with their kind (the known runs of spaces among them).
    expect(session.stats.timing.judged).toBeGreaterThan(runs / 2);
  }, 180_000);
});
