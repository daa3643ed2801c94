/**
 * `npm run fuzz`: the long property-based fuzz of the coordinator's /v1 and
 * /admin/v1 APIs and of the participant endpoint, with the timing check of
 * every request (timing.ts), on private MariaDB and
 * Redis (or the servers named by DTX_TEST_MYSQL_URL / DTX_TEST_REDIS_URL).
 * Prints a summary; exits 1 on any finding (each with the seed and path
 * that replay it), 0 when there is none.
 *
 *   npm run fuzz                                10,000 generated cases, a fresh seed
 *   npm run fuzz -- --runs 2000 --seed 42       shorter, reproducibly
 *   npm run fuzz -- --seed 42 --path 1234       replay one finding and shrink it
 */
import { defineCli, parseCliOrExit } from '../../scripts/cli-options.ts';
import { provisionServers, type ProvisionedServers } from '../../tools/environment.ts';
import { FuzzSession, runFuzz, type FuzzRunResult } from './fuzz-runner.ts';
import { startFuzzWorld, type FuzzWorld } from './fuzz-world.ts';
import { KNOWN_CASES } from './known-cases.ts';
import { formatFinding, formatStats, groupFindings } from './report.ts';

const say = (line: string) => process.stdout.write(`${line}\n`);

const cli = defineCli({
  command: 'npm run fuzz --',
  options: {
    runs: { type: 'integer', default: 10_000, min: 1, description: 'generated cases' },
    seed: { type: 'integer', default: () => Date.now() % 2 ** 31, valueName: 'S', description: 'seed of the run (reproducible runs)' },
    path: {
      type: 'string',
      valueName: 'P',
      pattern: /^\d+(:\d+)*$/,
      patternHint: 'a fast-check path such as 1234 or 1234:0:2',
      description: 'replay one finding (with its --seed) and shrink it',
    },
    show: { type: 'integer', default: 20, min: 0, description: 'findings printed in full, the first of each kind' },
  },
});
const args = parseCliOrExit(cli);
const { runs, seed, show } = args;

let servers: ProvisionedServers | null = null;
let world: FuzzWorld | null = null;
let cleaning: Promise<void> | null = null;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await world?.stop().catch(() => undefined);
    await servers?.stop().catch(() => undefined);
  })();
  return cleaning;
}
process.on('SIGINT', () => {
  say('\ninterrupted: stopping the servers…');
  void cleanup().finally(() => process.exit(130));
});

let exitCode = 0;
try {
  say(
    `dtx fuzz — seed ${seed}, ${args.path === undefined ? `${runs} generated cases (plus ${KNOWN_CASES.length} known ones)` : `replaying path ${args.path}`}`,
  );
  say('• provisioning MariaDB and Redis…');
  servers = await provisionServers();
  say('• starting a coordinator, a participant (Fastify and node:http) and a stub…');
  world = await startFuzzWorld({ mysqlUrl: servers.mysqlUrl, redisUrl: servers.redisUrl, label: `fuzz${seed}` });
  say(
    `• /v1 authentication is ${world.apiAuthActive ? 'on: anonymous and wrong tokens must get 401' : 'off on this coordinator: requests without a token are not expected to be refused'}`,
  );
  const session = new FuzzSession(world);
  const started = Date.now();
  const step = Math.max(100, Math.floor(runs / 20));
  const result: FuzzRunResult = await runFuzz(session, {
    runs,
    seed,
    ...(args.path === undefined ? {} : { path: args.path }),
    examples: KNOWN_CASES,
    onProgress: (done, findings, stats) => {
      if (done % step === 0)
        say(`  ${done}/${runs + KNOWN_CASES.length} cases, ${stats.requests} requests, ${findings} findings, ${Math.round((Date.now() - started) / 1000)} s`);
    },
  });
  say('');
  say(formatStats(result.stats));
  say(`time: ${Math.round((Date.now() - started) / 1000)} s`);
  if (result.shrunk) {
    say(`\nsmallest failing case after ${result.shrunk.numShrinks} shrinks:\n${formatFinding(result.shrunk.finding, seed)}`);
  }
  if (result.findings.length > 0 && args.path !== undefined) {
    exitCode = 1;
  } else if (result.findings.length === 0) {
    say(
      "\nNo findings: no answer >= 500, every error a JSON {code, message}, every request of a caller on another's transaction (or outside its scope) refused as documented, every try or prepare without its registration proof refused 409 NOT_REGISTERED, no refused request wrote anything, no request far costlier than others of its kind.",
    );
  } else {
    exitCode = 1;
    const groups = groupFindings(result.findings);
    say(`\n${result.findings.length} FINDINGS in ${groups.length} kinds (seed ${seed}):`);
    for (const group of groups) say(`  ${String(group.count).padStart(5)}  ${group.key}  (e.g. --path ${group.first.path})`);
    say(`\nFirst case of each kind${groups.length > show ? ` (the first ${show}; --show N for more)` : ''}:\n`);
    for (const group of groups.slice(0, show)) say(`${formatFinding(group.first, seed)}\n`);
  }
} catch (error) {
  exitCode = 1;
  process.stderr.write(`fuzz run failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
} finally {
  await cleanup();
}
process.exit(exitCode);
