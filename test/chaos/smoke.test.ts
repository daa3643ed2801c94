/**
 * A quick smoke of the chaos suite inside `npm test`: the `everything`
 * scenario (every kind of fault, overlapping) with few transfers and faults,
 * the adversary trying every cross-caller action meanwhile,
 * with TCC transfers, with transactional messages (the banks' own senders
 * and receivers), with XA transactions of the banks' databases and with FMT
 * transactions (plain SQL undone from row images: no undo record nor global
 * row lock may be left),
 * on private MariaDB and Redis (the suite kills servers, so it never uses the
 * ones other test files share). The full suite is `npm run chaos`
 * (docs/chaos.md).
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMariadb, startRedis, type MariadbServer, type RedisServer } from '../../tools/servers.ts';
import { refusedOnOpen } from './adversary.ts';
import { adversaryAttempts, committed, printScenario } from './report.ts';
import { runScenario } from './run-scenario.ts';
import { SMOKE, type Scenario } from './scenario.ts';
import { everything } from './scenarios/everything.ts';
import { fmtEverything } from './scenarios/fmt-everything.ts';
import { msgEverything } from './scenarios/msg-everything.ts';
import { xaEverything } from './scenarios/xa-everything.ts';

let mariadb: MariadbServer;
let redis: RedisServer;
let logDir: string;

beforeAll(async () => {
  [mariadb, redis] = await Promise.all([startMariadb(), startRedis()]);
  logDir = await mkdtemp(join(tmpdir(), 'dtx-chaos-smoke-'));
});

afterAll(async () => {
  await Promise.allSettled([mariadb?.stop(), redis?.stop()]);
});

async function smoke(scenario: Scenario, seed: number): Promise<void> {
  const lines: string[] = [];
  const report = await runScenario({
    scenario,
    seed,
    size: SMOKE,
    servers: { mariadb, redis },
    logDir,
    log: (line) => lines.push(line),
    convergeTimeoutMs: 60_000,
  });
  printScenario(report, (line) => lines.push(line));
  // The whole block on failure: the seed, the violations and the gids' histories.
  expect(report.violations, lines.join('\n')).toEqual([]);
  expect(report.convergeMs, lines.join('\n')).not.toBeNull();
  expect(committed(report), lines.join('\n')).toBeGreaterThan(0);
  // The adversary ran, and was refused deciding others' transactions while they were still open:
  // refusals on finished transactions only would prove nothing about the ownership guard.
  expect(adversaryAttempts(report), lines.join('\n')).toBeGreaterThan(0);
  expect(refusedOnOpen(report.adversary, ['submit-others', 'abort-others']), lines.join('\n')).toBeGreaterThan(0);
}

describe('chaos smoke', () => {
  it('every kind of fault, overlapping, during transfers breaks no invariant', { timeout: 110_000 }, async () => {
    await smoke(everything, 202);
  });

  it('the same faults during message transfers break no invariant', { timeout: 110_000 }, async () => {
    await smoke(msgEverything, 203);
  });

  it('the same faults during XA transfers break no invariant', { timeout: 110_000 }, async () => {
    await smoke(xaEverything, 205);
  });

  it('the same faults during FMT transfers break no invariant, and leave no undo record nor row lock', { timeout: 110_000 }, async () => {
    await smoke(fmtEverything, 207);
  });
});
