/**
 * The processes of one scenario, each on fresh databases:
 *   a: coordinator + bank A + bank B
 *   b: bank A + bank B
 *   c: coordinator + empty participant
 *   c0: empty participant (c's floor: the load generator calls it directly)
 *   sa, sb, sc: as a, b, c (the banks and the empty participant serve sagas too)
 *   xa, xb, xc: as a, b, c (and XA too)
 *   fa, fh: coordinator + the FMT banks A and B (bench/fmt-bank.ts)
 *   fb: the FMT banks A and B (their plain routes: no dtx)
 * The coordinator's log is on the store the system is given (options.ts, --store).
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { COORDINATOR_NODE_ARGS } from '@dtx/coordinator/runtime';
import { pickFreePort } from '../tools/free-port.ts';
import { BenchProcess, logPath } from './bench-process.ts';
import { metricsLogReader, mysqlLogReader, postgresLogReader, type CoordinatorLogReader } from './coordinator-log.ts';
import type { MysqlProbe } from './mysql-probe.ts';
import { hasCoordinator, isFmtScenario, type LogStore, type Runtime, type ScenarioName } from './options.ts';
import type { PostgresProbe } from './postgres-probe.ts';

/** Which processes a scenario's system runs. */
export interface SystemParts {
  coordinator: boolean;
  banks: boolean;
  emptyParticipant: boolean;
}

export function systemParts(scenario: ScenarioName): SystemParts {
  return {
    coordinator: hasCoordinator(scenario),
    // The FMT scenarios' banks are bench/fmt-bank.ts (startSystem), the others' the example's.
    banks: ['a', 'b', 'sa', 'sb', 'xa', 'xb', 'fa', 'fb', 'fh'].includes(scenario),
    emptyParticipant: scenario === 'c' || scenario === 'c0' || scenario === 'sc' || scenario === 'xc',
  };
}

/** The bench's caller name on the coordinator (its API token's name), as the banks know it. */
export const BENCH_CALLER = 'bench';

/** The bench client's /v1 token, derived from the run's secret. */
export function benchApiToken(secret: string): string {
  return `${secret}.api`;
}

/**
 * The keys of a run, derived from its secret: the coordinator's (its DTX_SECRET, the banks'
 * DTX_COORDINATOR_KEY) and the bench's own initiator key at the banks (their DTX_INITIATOR_KEYS),
 * which signs its tries and prepares. A floor's direct calls play both roles, each with its key.
 */
export function benchKeys(secret: string): { caller: string; coordinatorKey: string; initiatorKey: string } {
  return { caller: BENCH_CALLER, coordinatorKey: secret, initiatorKey: `${secret}.initiator` };
}

export interface SystemOptions {
  scenario: ScenarioName;
  /** Names this system's databases, logs and queue prefix (default: the scenario), so that two systems of one scenario can run side by side. */
  label?: string;
  /** Server URL without a database part. */
  mysqlUrl: string;
  redisUrl: string;
  probe: MysqlProbe;
  runtime: Runtime;
  logDir: string;
  secret: string;
  accounts: readonly string[];
  initialBalance: number;
  coordinatorLogLevel: string;
  /** Extra node flags for the coordinator (profiling). */
  coordinatorNodeArgs: string[];
  /** Extra coordinator environment. */
  coordinatorEnv?: Record<string, string>;
  /** Extra node flags for the banks and the empty participant (profiling, GC traces). */
  participantNodeArgs?: string[];
  /** The banks' handler kind (BANK_HANDLERS): knex transactions or plain SQL. Default knex. Not for the FMT banks (plain SQL on FMT's knex transaction). */
  bankHandlers?: 'knex' | 'sql';
  /** The FMT banks' fmt.lockWaitMs; null or absent: the SDK's default. */
  fmtLockWaitMs?: number | null;
  /** Where the coordinator keeps its log (default mysql, on the server of `mysqlUrl`); the banks stay on MySQL. */
  logStore?: LogStore;
  /** The PostgreSQL server of a `postgres` log. */
  postgres?: PostgresProbe | null;
  /** The folder under which an `embedded` log gets a fresh data folder of its own. */
  embeddedRoot?: string | null;
}

export interface BenchSystem {
  coordinator: {
    url: string;
    store: LogStore;
    /** The log's database (MySQL or PostgreSQL), or its data folder (embedded). */
    database: string;
    /** How the bench reads the log around each step. */
    log: CoordinatorLogReader;
    process: BenchProcess;
  } | null;
  banks: { a: string; b: string; databases: string[] } | null;
  /** Base URL of the empty participant's resources (c, c0, sc, xc). */
  emptyParticipantUrl: string | null;
  processes: BenchProcess[];
  /** The MySQL databases of the system (banks, and a log on MySQL): the caller drops them after stop(). */
  databases: string[];
  stop(): Promise<void>;
  /** After stop(): removes a log kept elsewhere than on MySQL (its PostgreSQL database, its embedded folder). */
  removeLog(): Promise<void>;
}

function databaseUrl(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

export async function startSystem(o: SystemOptions): Promise<BenchSystem> {
  const label = o.label ?? o.scenario;
  const parts = systemParts(o.scenario);
  const prefix = `bench_${label}`;
  const processes: BenchProcess[] = [];
  const databases: string[] = [];
  const system: BenchSystem = {
    coordinator: null,
    banks: null,
    emptyParticipantUrl: null,
    processes,
    databases,
    removeLog: async () => {},
    stop: async () => {
      // Participants last: the coordinator may still be finishing a round.
      const coordinators = processes.filter((p) => p.name === 'coordinator');
      await Promise.all(coordinators.map((p) => p.stop()));
      await Promise.all(processes.filter((p) => p.name !== 'coordinator').map((p) => p.stop()));
    },
  };

  try {
    if (parts.banks) {
      const dbs = { a: `${prefix}_bank_a`, b: `${prefix}_bank_b` };
      await o.probe.freshDatabases([dbs.a, dbs.b]);
      databases.push(dbs.a, dbs.b);
      const urls: Record<'a' | 'b', string> = { a: '', b: '' };
      const accountsEnv = o.accounts.map((id) => `${id}:${o.initialBalance}`).join(',');
      for (const bank of ['a', 'b'] as const) {
        const port = await pickFreePort();
        urls[bank] = `http://127.0.0.1:${port}`;
        if (isFmtScenario(o.scenario)) {
          processes.push(fmtBank(o, label, bank, port, databaseUrl(o.mysqlUrl, dbs[bank])));
          continue;
        }
        processes.push(
          new BenchProcess({
            name: `bank-${bank}`,
            entry: 'examples/bank-transfer/bank/main.ts',
            healthUrl: `${urls[bank]}/health`,
            logFile: logPath(o.logDir, `${label}-bank-${bank}`),
            runtime: o.runtime,
            nodeArgs: o.participantNodeArgs ?? [],
            env: {
              BANK_NAME: `bank-${bank}`,
              BANK_DB_URL: databaseUrl(o.mysqlUrl, dbs[bank]),
              BANK_PORT: String(port),
              BANK_ACCOUNTS: accountsEnv,
              BANK_ERROR_RATE: '0',
              BANK_LOG_LEVEL: 'warn',
              BANK_HANDLERS: o.bankHandlers ?? 'knex',
              DTX_COORDINATOR_KEY: benchKeys(o.secret).coordinatorKey,
              DTX_INITIATOR_KEYS: `${BENCH_CALLER}=${benchKeys(o.secret).initiatorKey}`,
            },
          }),
        );
      }
      system.banks = { a: `${urls.a}/dtx`, b: `${urls.b}/dtx`, databases: [dbs.a, dbs.b] };
    }

    if (parts.emptyParticipant) {
      const port = await pickFreePort();
      system.emptyParticipantUrl = `http://127.0.0.1:${port}/dtx`;
      processes.push(
        new BenchProcess({
          name: 'empty-participant',
          entry: 'bench/empty-participant.ts',
          healthUrl: `http://127.0.0.1:${port}/health`,
          logFile: logPath(o.logDir, `${label}-empty-participant`),
          runtime: o.runtime,
          nodeArgs: o.participantNodeArgs ?? [],
          env: { EMPTY_PORT: String(port) },
        }),
      );
    }

    if (parts.coordinator) {
      const port = await pickFreePort();
      const url = `http://127.0.0.1:${port}`;
      const place = await placeLog(o, `${prefix}_coordinator`, url);
      if (place.store === 'mysql') databases.push(place.database);
      system.removeLog = place.remove;
      const coordinator = new BenchProcess({
        name: 'coordinator',
        entry: 'coordinator/main.ts',
        healthUrl: `${url}/health`,
        logFile: logPath(o.logDir, `${label}-coordinator`),
        runtime: o.runtime,
        // Started like `npm start`; extra flags from --coordinator-node-args come after, so they win.
        nodeArgs: [...COORDINATOR_NODE_ARGS, ...o.coordinatorNodeArgs],
        env: {
          ...place.env,
          DTX_REDIS_URL: o.redisUrl,
          DTX_REDIS_PREFIX: `dtxbench-${label}-${process.pid}`,
          DTX_PORT: String(port),
          DTX_SECRET: benchKeys(o.secret).coordinatorKey,
          DTX_API_TOKENS: `${BENCH_CALLER}:${benchApiToken(o.secret)}`,
          // The bench runs TCC, sagas, XA and FMT (no messages) at the banks and the empty participant.
          DTX_API_SCOPES: `${BENCH_CALLER}=tcc,saga,xa,fmt@http://127.0.0.1:*/dtx/`,
          DTX_PARTICIPANTS: 'http://127.0.0.1:*/dtx/',
          DTX_INSTANCE_ID: `bench-${label}`,
          DTX_LOG_LEVEL: o.coordinatorLogLevel,
          ...o.coordinatorEnv,
        },
      });
      processes.push(coordinator);
      system.coordinator = { url, store: place.store, database: place.database, log: place.log, process: coordinator };
    }

    await Promise.all(processes.map((p) => p.start()));
    return system;
  } catch (error) {
    await system.stop().catch(() => undefined);
    await system.removeLog().catch(() => undefined);
    throw error;
  }
}

/**
 * One FMT bank (bench/fmt-bank.ts) on its fresh database: the accounts the system was given, each
 * with the opening balance; its name in the global row locks is `bank-a` / `bank-b`.
 */
function fmtBank(o: SystemOptions, label: string, bank: 'a' | 'b', port: number, dbUrl: string): BenchProcess {
  if (o.accounts.some((id, i) => id !== `acct-${i + 1}`)) {
    throw new Error('the FMT banks open acct-1 … acct-N: give them accounts named so, in order');
  }
  return new BenchProcess({
    name: `bank-${bank}`,
    entry: 'bench/fmt-bank.ts',
    healthUrl: `http://127.0.0.1:${port}/health`,
    logFile: logPath(o.logDir, `${label}-bank-${bank}`),
    runtime: o.runtime,
    nodeArgs: o.participantNodeArgs ?? [],
    env: {
      FMT_BANK_NAME: `bank-${bank}`,
      FMT_BANK_DB_URL: dbUrl,
      FMT_BANK_PORT: String(port),
      FMT_BANK_ACCOUNTS: String(o.accounts.length),
      FMT_BANK_BALANCE: String(o.initialBalance),
      ...(o.fmtLockWaitMs ? { FMT_LOCK_WAIT_MS: String(o.fmtLockWaitMs) } : {}),
      DTX_COORDINATOR_KEY: benchKeys(o.secret).coordinatorKey,
      DTX_INITIATOR_KEYS: `${BENCH_CALLER}=${benchKeys(o.secret).initiatorKey}`,
    },
  });
}

/** A coordinator's log, made fresh: the environment that points the coordinator at it, how to read it, how to remove it. */
interface LogPlace {
  store: LogStore;
  database: string;
  env: Record<string, string>;
  log: CoordinatorLogReader;
  remove(): Promise<void>;
}

async function placeLog(o: SystemOptions, database: string, coordinatorUrl: string): Promise<LogPlace> {
  const store = o.logStore ?? 'mysql';
  switch (store) {
    case 'mysql':
      await o.probe.freshDatabases([database]);
      // Dropped with the banks' databases (BenchSystem.databases).
      return { store, database, env: { DTX_MYSQL_URL: databaseUrl(o.mysqlUrl, database) }, log: mysqlLogReader(o.probe, database), remove: async () => {} };
    case 'postgres': {
      const postgres = o.postgres;
      if (!postgres) throw new Error('a log on PostgreSQL needs the PostgreSQL server (SystemOptions.postgres)');
      await postgres.freshDatabase(database);
      return {
        store,
        database,
        env: { DTX_LOG_URL: postgres.databaseUrl(database) },
        log: postgresLogReader(postgres, database),
        remove: () => postgres.dropDatabase(database),
      };
    }
    case 'embedded': {
      if (!o.embeddedRoot) throw new Error('an embedded log needs a folder to live under (SystemOptions.embeddedRoot)');
      const folder = join(o.embeddedRoot, database);
      await rm(folder, { recursive: true, force: true });
      await mkdir(folder, { recursive: true });
      return {
        store,
        database: folder,
        // PGlite on disk in the coordinator's process, recovery on in-process timers: nothing but the coordinator.
        env: { DTX_LOG_URL: `embedded:${folder}`, DTX_SCHEDULER: 'in-process' },
        log: metricsLogReader(coordinatorUrl),
        remove: () => rm(folder, { recursive: true, force: true }),
      };
    }
  }
}
