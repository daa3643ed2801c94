/**
 * The processes of one scenario, each on fresh databases:
 *   a: coordinator + bank A + bank B
 *   b: bank A + bank B
 *   c: coordinator + empty participant
 *   c0: empty participant (c's floor: the load generator calls it directly)
 *   sa, sb, sc: as a, b, c (the banks and the empty participant serve sagas too)
 *   xa, xb, xc: as a, b, c (and XA too)
 */
import { COORDINATOR_NODE_ARGS } from '@dtx/coordinator/runtime';
import { pickFreePort } from '../tools/free-port.ts';
import { BenchProcess, logPath } from './bench-process.ts';
import type { MysqlProbe } from './mysql-probe.ts';
import type { Runtime, ScenarioName } from './options.ts';

/** Which processes a scenario's system runs. */
export interface SystemParts {
  coordinator: boolean;
  banks: boolean;
  emptyParticipant: boolean;
}

export function systemParts(scenario: ScenarioName): SystemParts {
  return {
    coordinator: scenario === 'a' || scenario === 'c' || scenario === 'sa' || scenario === 'sc' || scenario === 'xa' || scenario === 'xc',
    banks: scenario === 'a' || scenario === 'b' || scenario === 'sa' || scenario === 'sb' || scenario === 'xa' || scenario === 'xb',
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
  /** The banks' handler kind (BANK_HANDLERS): knex transactions or plain SQL. Default knex. */
  bankHandlers?: 'knex' | 'sql';
}

export interface BenchSystem {
  coordinator: { url: string; database: string; process: BenchProcess } | null;
  banks: { a: string; b: string; databases: string[] } | null;
  /** Base URL of the empty participant's resources (c, c0, sc, xc). */
  emptyParticipantUrl: string | null;
  processes: BenchProcess[];
  databases: string[];
  stop(): Promise<void>;
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
      const database = `${prefix}_coordinator`;
      await o.probe.freshDatabases([database]);
      databases.push(database);
      const port = await pickFreePort();
      const url = `http://127.0.0.1:${port}`;
      const coordinator = new BenchProcess({
        name: 'coordinator',
        entry: 'coordinator/main.ts',
        healthUrl: `${url}/health`,
        logFile: logPath(o.logDir, `${label}-coordinator`),
        runtime: o.runtime,
        // Started like `npm start`; extra flags from --coordinator-node-args come after, so they win.
        nodeArgs: [...COORDINATOR_NODE_ARGS, ...o.coordinatorNodeArgs],
        env: {
          DTX_MYSQL_URL: databaseUrl(o.mysqlUrl, database),
          DTX_REDIS_URL: o.redisUrl,
          DTX_REDIS_PREFIX: `dtxbench-${label}-${process.pid}`,
          DTX_PORT: String(port),
          DTX_SECRET: benchKeys(o.secret).coordinatorKey,
          DTX_API_TOKENS: `${BENCH_CALLER}:${benchApiToken(o.secret)}`,
          // The bench runs TCC, sagas and XA (no messages) at the banks and the empty participant.
          DTX_API_SCOPES: `${BENCH_CALLER}=tcc,saga,xa@http://127.0.0.1:*/dtx/`,
          DTX_PARTICIPANTS: 'http://127.0.0.1:*/dtx/',
          DTX_INSTANCE_ID: `bench-${label}`,
          DTX_LOG_LEVEL: o.coordinatorLogLevel,
          ...o.coordinatorEnv,
        },
      });
      processes.push(coordinator);
      system.coordinator = { url, database, process: coordinator };
    }

    await Promise.all(processes.map((p) => p.start()));
    return system;
  } catch (error) {
    await system.stop().catch(() => undefined);
    throw error;
  }
}
