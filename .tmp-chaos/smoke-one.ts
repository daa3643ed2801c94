import { startMariadb, startRedis } from '../test/support/servers.ts';
import { printScenario } from '../test/chaos/report.ts';
import { runScenario } from '../test/chaos/run-scenario.ts';
import { SMOKE } from '../test/chaos/scenario.ts';
import { scenarioNamed } from '../test/chaos/scenarios/index.ts';
const [mariadb, redis] = await Promise.all([startMariadb(), startRedis()]);
const t0 = Date.now();
const say = (l: string) => console.log(`${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} ${l}`);
try {
  const report = await runScenario({ scenario: scenarioNamed(process.argv[2]!)!, seed: Number(process.argv[3] ?? 101), size: SMOKE, servers: { mariadb, redis }, logDir: '/tmp/chaos-smoke-debug', log: say, convergeTimeoutMs: 60_000 });
  printScenario(report, say);
} finally {
  await Promise.allSettled([mariadb.stop(), redis.stop()]);
}
