/**
 * The bank-transfer system as separate processes: N coordinators, two banks
 * (each with its own database), and one transfer service per coordinator.
 * The coordinators' log and the banks' databases are each on a MySQL/MariaDB
 * or PostgreSQL server, or embedded in their process (database-homes.ts);
 * phase two is retried through BullMQ on Redis or in each coordinator's
 * process. The demo runs it as is; the chaos suite passes `route` to put a
 * fault proxy on every link.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { COORDINATOR_NODE_ARGS } from '@dtx/coordinator/runtime';
import { freshDatabase, reachedBy, type DatabaseHome, type PartDatabase } from './database-homes.ts';
import { hostPort, withEndpoint, type Endpoint } from './endpoints.ts';
import { ManagedProcess } from './managed-process.ts';

export type { DatabaseHome } from './database-homes.ts';
export type { Endpoint } from './endpoints.ts';

export const BANKS = ['a', 'b'] as const;
export type BankName = (typeof BANKS)[number];

/**
 * A network link between two parts; the chaos suite can interpose on each.
 * `transfer-i->coordinator-i` is the initiators' way to coordinator i: the
 * transfer service's, and the banks' when they send transfers as messages.
 * A coordinator's link to its log is named by the log's server (none when the
 * log is embedded); its link to Redis exists with the BullMQ scheduler only.
 */
export type LinkName =
  | `coordinator-${number}->bank-${BankName}`
  | `coordinator-${number}->mysql`
  | `coordinator-${number}->postgres`
  | `coordinator-${number}->redis`
  | `transfer-${number}->coordinator-${number}`;

/**
 * Where phase two's retries and recovery are scheduled: a BullMQ queue on
 * Redis, shared by every coordinator, or timers in each coordinator's process
 * driven by the log's due work (no Redis).
 */
export type SchedulerSetting = { kind: 'bullmq'; redisUrl: string; redisPrefix: string } | { kind: 'in-process' };

export interface ClusterOptions {
  /** Where the coordinators' log is. Embedded: one coordinator only (its process is the log's only user). */
  log: DatabaseHome;
  /** Where the banks' databases are (XA transfers need them on MySQL/MariaDB). */
  banks: DatabaseHome;
  scheduler: SchedulerSetting;
  /** Each part's database is named under it: `<prefix>_coordinator`, `<prefix>_bank_a`… (a folder of that name when embedded). */
  databasePrefix: string;
  /** Root of the cluster's credentials: every key at the banks and every API token derive from it (clusterCredentials). */
  secret: string;
  coordinators: number;
  accountsPerBank: number;
  initialBalance: number;
  bankErrorRate: number;
  logDir: string;
  /** Extra coordinator environment (timers). */
  coordinatorEnv?: Record<string, string>;
  /** Where a part should connect to reach `target` over `link`; default: directly. */
  route?: (link: LinkName, target: Endpoint) => Promise<Endpoint>;
  freePort: () => Promise<number>;
  /**
   * One more initiator, for the chaos suite's adversary: an API token on every coordinator, scoped
   * to `modes` at `bank` only (every URL the coordinators reach it by), and its own initiator key at
   * every bank — what a legitimate but malicious service holds. Default: none.
   */
  adversary?: { modes: readonly string[]; bank: BankName };
}

export interface Cluster {
  coordinators: ManagedProcess[];
  banks: Record<BankName, ManagedProcess>;
  transfers: ManagedProcess[];
  /** The log's URL, as the audit reads it (audit.ts): on its server directly, never through a link. */
  coordinatorDbUrl: string;
  /** Each bank's database URL, likewise. */
  bankDbUrls: Record<BankName, string>;
  /** Each coordinator's own address (not through a link): its admin API (the `tools` viewer token, clusterCredentials). */
  coordinatorUrls: string[];
  transferUrls: string[];
  bankUrls: Record<BankName, string>;
  accountIds: string[];
  all(): ManagedProcess[];
  stop(): Promise<void>;
}

/** Transfer service `i`'s caller name on its coordinator (its API token's name), as the banks know it. */
export const transferCaller = (i: number) => `transfer-${i}`;

/** The caller of the harness's own calls: audits, and the chaos suite playing initiator. */
export const TOOLS_CALLER = 'tools';

/** The chaos suite's adversary, when the cluster has one (ClusterOptions.adversary). */
export const ADVERSARY_CALLER = 'adversary';

/**
 * The cluster's credentials, derived from one root secret: the coordinators'
 * key per bank (so that neither bank can forge calls to the other), each
 * initiator's own key per bank (so that no initiator holds a key that could
 * forge a coordinator's call), and an API token per caller.
 */
export function clusterCredentials(secret: string) {
  return {
    /** The coordinators' key at a bank (their DTX_PARTICIPANTS entry for it): it verifies their ops only. */
    bankKey: (bank: BankName) => `${secret}.bank-${bank}`,
    /** An initiator's own key at a bank, by its caller name: it verifies that initiator's tries and prepares only. */
    initiatorKey: (caller: string, bank: BankName) => `${secret}.${caller}-at-bank-${bank}`,
    apiToken: (transfer: number) => `${secret}.transfer-${transfer}`,
    /** A bank's token on every coordinator: it prepares and submits its outgoing transfers' messages. */
    bankApiToken: (bank: BankName) => `${secret}.bank-${bank}-sender`,
    /** The `tools` caller's token, valid on every coordinator: audits and the chaos suite's own calls. */
    toolsToken: `${secret}.tools`,
    /** The `tools` viewer token of every coordinator's admin API: how far the transactions are, without reading the log. */
    toolsAdminToken: `${secret}.tools-viewer`,
    /** The adversary's token, valid on every coordinator of a cluster started with one. */
    adversaryToken: `${secret}.${ADVERSARY_CALLER}`,
  };
}

/** Starts the parts side by side, and throws the first failure only once none of them is still starting. */
async function allStarted(parts: readonly ManagedProcess[]): Promise<void> {
  const results = await Promise.allSettled(parts.map((part) => part.start()));
  const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed) throw failed.reason;
}

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  if (options.log.kind === 'embedded' && options.coordinators > 1) {
    throw new Error(`an embedded log has one user, its coordinator's process: ${options.coordinators} coordinators need a log on a server`);
  }
  const route = options.route ?? (async (_link: LinkName, target: Endpoint) => target);
  const credentials = clusterCredentials(options.secret);
  await mkdir(options.logDir, { recursive: true });
  const log = await freshDatabase(options.log, `${options.databasePrefix}_coordinator`);
  const bankDbs = {} as Record<BankName, PartDatabase>;
  for (const bank of BANKS) bankDbs[bank] = await freshDatabase(options.banks, `${options.databasePrefix}_bank_${bank}`);
  const { scheduler } = options;

  const accountIds = Array.from({ length: options.accountsPerBank }, (_, i) => `acct-${i + 1}`);
  const bankUrls = {} as Record<BankName, string>;
  for (const bank of BANKS) bankUrls[bank] = `http://127.0.0.1:${await options.freePort()}`;

  // Every link first: the banks need the coordinators' URLs, and the coordinators the banks'.
  /** Per coordinator: where it reaches each bank (directly, or through the link's proxy). */
  const bankEndpoints: Record<BankName, Endpoint>[] = [];
  /** Per coordinator: its port, where it reaches its log and its scheduler (through their links), and where the initiators reach it. */
  const links: { port: number; logUrl: string; schedulerEnv: Record<string, string>; initiators: Endpoint }[] = [];
  for (let i = 0; i < options.coordinators; i++) {
    const port = await options.freePort();
    const logUrl = log.server ? reachedBy(log, await route(`coordinator-${i}->${log.server.kind}`, log.server.endpoint)) : log.url;
    const schedulerEnv: Record<string, string> =
      scheduler.kind === 'bullmq'
        ? {
            DTX_SCHEDULER: 'bullmq',
            DTX_REDIS_URL: withEndpoint(scheduler.redisUrl, await route(`coordinator-${i}->redis`, hostPort(scheduler.redisUrl))),
            DTX_REDIS_PREFIX: scheduler.redisPrefix,
          }
        : { DTX_SCHEDULER: 'in-process' };
    const endpoints = {} as Record<BankName, Endpoint>;
    for (const bank of BANKS) endpoints[bank] = await route(`coordinator-${i}->bank-${bank}`, hostPort(bankUrls[bank]));
    bankEndpoints.push(endpoints);
    const initiators = await route(`transfer-${i}->coordinator-${i}`, { host: '127.0.0.1', port });
    links.push({ port, logUrl, schedulerEnv, initiators });
  }
  const initiatorUrl = (i: number) => `http://${links[i]!.initiators.host}:${links[i]!.initiators.port}`;
  /** Who may try and prepare at the banks: every transfer service, the harness playing initiator, and the adversary if any. */
  const initiators = [...links.map((_, i) => transferCaller(i)), TOOLS_CALLER, ...(options.adversary ? [ADVERSARY_CALLER] : [])];

  const banks = {} as Record<BankName, ManagedProcess>;
  for (const bank of BANKS) {
    banks[bank] = new ManagedProcess({
      name: `bank-${bank}`,
      entry: 'examples/bank-transfer/bank/main.ts',
      healthUrl: `${bankUrls[bank]}/health`,
      logFile: join(options.logDir, `bank-${bank}.log`),
      env: {
        BANK_NAME: `bank-${bank}`,
        BANK_DB_URL: bankDbs[bank].url,
        BANK_PORT: new URL(bankUrls[bank]).port,
        BANK_ACCOUNTS: accountIds.map((id) => `${id}:${options.initialBalance}`).join(','),
        BANK_ERROR_RATE: String(options.bankErrorRate),
        BANK_LOG_LEVEL: 'warn',
        // One bank of each handler kind, so that the demo and every chaos scenario exercise both.
        BANK_HANDLERS: bank === BANKS[0] ? 'knex' : 'sql',
        BANK_COORDINATORS: links.map((_, i) => `coordinator-${i}=${initiatorUrl(i)}`).join(','),
        DTX_API_TOKEN: credentials.bankApiToken(bank),
        DTX_COORDINATOR_KEY: credentials.bankKey(bank),
        DTX_INITIATOR_KEYS: initiators.map((caller) => `${caller}=${credentials.initiatorKey(caller, bank)}`).join(','),
      },
    });
  }

  const coordinators: ManagedProcess[] = [];
  const transfers: ManagedProcess[] = [];
  const transferUrls: string[] = [];
  // No shared key: every participant a coordinator may call has its own. Each bank directly (tools
  // register direct URLs) and through every coordinator's link to it: a coordinator finishing
  // another's transaction calls the URLs that one registered.
  const bankPrefix = (endpoint: Endpoint) => `http://${endpoint.host}:${endpoint.port}/dtx/`;
  const prefixesOf = (bank: BankName) => [...new Set([`${bankUrls[bank]}/dtx/`, ...bankEndpoints.map((endpoints) => bankPrefix(endpoints[bank]))])];
  const participants = BANKS.flatMap((bank) => prefixesOf(bank).map((prefix) => `${prefix}=${credentials.bankKey(bank)}`)).join(',');
  /**
   * What each caller of coordinator `i` may reach: its transfer service TCC, sagas, XA and FMT at the banks
   * as that coordinator reaches them; each bank its messages (its check-back, the payee's credit) there
   * too; the harness every mode at every bank URL (it registers the direct ones); the adversary, if
   * any, its modes at its one bank, however that bank is reached.
   */
  const { adversary } = options;
  const scopes = (i: number) => {
    const reached = BANKS.map((bank) => bankPrefix(bankEndpoints[i]![bank])).join(',');
    return [
      `${transferCaller(i)}=tcc,saga,xa,fmt@${reached}`,
      ...BANKS.map((bank) => `bank-${bank}=msg@${reached}`),
      `${TOOLS_CALLER}=*@${BANKS.flatMap(prefixesOf).join(',')}`,
      ...(adversary ? [`${ADVERSARY_CALLER}=${adversary.modes.join(',')}@${prefixesOf(adversary.bank).join(',')}`] : []),
    ].join(';');
  };
  for (const [i, { port, logUrl, schedulerEnv }] of links.entries()) {
    coordinators.push(
      new ManagedProcess({
        name: `coordinator-${i}`,
        entry: 'coordinator/main.ts',
        nodeArgs: COORDINATOR_NODE_ARGS,
        healthUrl: `http://127.0.0.1:${port}/health`,
        logFile: join(options.logDir, `coordinator-${i}.log`),
        env: {
          DTX_LOG_URL: logUrl,
          // The log's older name, emptied: one inherited from the environment must not name another log.
          DTX_MYSQL_URL: '',
          ...schedulerEnv,
          DTX_PORT: String(port),
          DTX_PARTICIPANTS: participants,
          DTX_API_TOKENS: [
            `${transferCaller(i)}:${credentials.apiToken(i)}`,
            ...BANKS.map((bank) => `bank-${bank}:${credentials.bankApiToken(bank)}`),
            `${TOOLS_CALLER}:${credentials.toolsToken}`,
            ...(adversary ? [`${ADVERSARY_CALLER}:${credentials.adversaryToken}`] : []),
          ].join(','),
          DTX_API_SCOPES: scopes(i),
          DTX_ADMIN_TOKENS: `${TOOLS_CALLER}:viewer:${credentials.toolsAdminToken}`,
          DTX_INSTANCE_ID: `coordinator-${i}`,
          DTX_LOG_LEVEL: 'info',
          ...options.coordinatorEnv,
        },
      }),
    );
  }
  // The banks and the first coordinator start side by side: none calls another while it starts (and an
  // embedded database's set-up is seconds of CPU each). The first coordinator applies the log's migrations;
  // the others then find them applied.
  await allStarted([...BANKS.map((bank) => banks[bank]), ...coordinators.slice(0, 1)]);
  await allStarted(coordinators.slice(1));

  for (let i = 0; i < options.coordinators; i++) {
    const port = await options.freePort();
    const forCoordinator = BANKS.map((bank) => `${bank}=http://${bankEndpoints[i]![bank].host}:${bankEndpoints[i]![bank].port}`);
    transferUrls.push(`http://127.0.0.1:${port}`);
    transfers.push(
      new ManagedProcess({
        name: `transfer-${i}`,
        entry: 'examples/bank-transfer/transfer/main.ts',
        healthUrl: `http://127.0.0.1:${port}/health`,
        logFile: join(options.logDir, `transfer-${i}.log`),
        env: {
          DTX_COORDINATOR_URL: initiatorUrl(i),
          TRANSFER_COORDINATOR_NAME: `coordinator-${i}`,
          TRANSFER_BANKS: BANKS.map((bank) => `${bank}=${bankUrls[bank]}`).join(','),
          TRANSFER_BANKS_FOR_COORDINATOR: forCoordinator.join(','),
          TRANSFER_PORT: String(port),
          TRANSFER_LOG_LEVEL: 'warn',
          // Its own key at each bank, never the coordinators'.
          TRANSFER_BANK_KEYS: BANKS.map((bank) => `${bank}=${credentials.initiatorKey(transferCaller(i), bank)}`).join(','),
          DTX_API_TOKEN: credentials.apiToken(i),
        },
      }),
    );
  }
  await Promise.all(transfers.map((t) => t.start()));

  const all = () => [...transfers, ...coordinators, ...BANKS.map((b) => banks[b])];
  return {
    coordinators,
    banks,
    transfers,
    coordinatorDbUrl: log.url,
    bankDbUrls: { a: bankDbs.a.url, b: bankDbs.b.url },
    coordinatorUrls: links.map(({ port }) => `http://127.0.0.1:${port}`),
    transferUrls,
    bankUrls,
    accountIds,
    all,
    stop: async () => {
      await Promise.allSettled(all().map((p) => p.stop()));
    },
  };
}
