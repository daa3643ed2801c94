/**
 * The running system one scenario acts on: the bank-transfer cluster with a
 * fault proxy on every link, the private database server (MariaDB or
 * PostgreSQL: the coordinators' log and both banks on it) and Redis it runs
 * on, and the harness's own view of the databases (through a separate
 * database user, so that killing the system's sessions never kills the
 * harness's: database-servers.ts).
 */
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import type { Violation } from '../../examples/bank-transfer/cluster/audit.ts';
import {
  ADVERSARY_CALLER,
  BANKS,
  clusterCredentials,
  startCluster,
  transferCaller,
  type BankName,
  type Cluster,
  type Endpoint,
  type LinkName,
} from '../../examples/bank-transfer/cluster/cluster.ts';
import type { ManagedProcess } from '../../examples/bank-transfer/cluster/managed-process.ts';
import type { TransferMode } from '../../examples/bank-transfer/cluster/transfer-load.ts';
import { seededRandom, type Random } from '../../examples/bank-transfer/cluster/random.ts';
import { pickFreePort } from '../../tools/free-port.ts';
import type { MariadbServer, PostgresServer, RedisServer } from '../../tools/servers.ts';
import { waitFor } from '../../tools/wait.ts';
import type { AdversaryIdentity } from './adversary-attempts.ts';
import { ADVERSARY_SCOPE } from './adversary.ts';
import { mysqlDatabaseServer, postgresDatabaseServer, type ChaosDatabaseServer, type DatabaseServerKind } from './database-servers.ts';
import { FaultProxy } from './fault-proxy.ts';
import { killClusterChildren } from './own-children.ts';

export interface ChaosServers {
  mariadb: MariadbServer;
  redis: RedisServer;
  /** Needed by the scenarios whose system runs on PostgreSQL only. */
  postgres?: PostgresServer;
}

/** The server of `kind` among `servers`, with what the harness does to it. */
export function databaseServer(servers: ChaosServers, kind: DatabaseServerKind): ChaosDatabaseServer {
  if (kind === 'mysql') return mysqlDatabaseServer(servers.mariadb);
  if (!servers.postgres) throw new Error('this scenario runs on PostgreSQL, and no PostgreSQL server was started');
  return postgresDatabaseServer(servers.postgres);
}

export interface WorldOptions {
  scenario: string;
  seed: number;
  servers: ChaosServers;
  /** Where the coordinators' log and both banks' databases are. Default MySQL (MariaDB). */
  database?: DatabaseServerKind;
  /** How the load's transfers run (the forced orderings follow it under FMT: orderings.ts). Default TCC. */
  mode?: TransferMode;
  coordinators: number;
  bankErrorRate: number;
  accountsPerBank: number;
  initialBalance: number;
  logDir: string;
}

/** Short timers, so that recovery happens within a chaos run (README: coordinator configuration). */
export const CHAOS_COORDINATOR_ENV: Record<string, string> = {
  DTX_LEASE_MS: '3000',
  DTX_BRANCH_TIMEOUT_MS: '1000',
  DTX_RETRY_BASE_MS: '100',
  DTX_RETRY_MAX_MS: '1000',
  DTX_RECONCILE_INTERVAL_MS: '300',
  DTX_SHUTDOWN_GRACE_MS: '2000',
  DTX_LOG_LEVEL: 'info',
};

async function healthy(url: string): Promise<boolean> {
  const response = await fetch(url, { signal: AbortSignal.timeout(2_000) }).catch(() => null);
  return response?.ok ?? false;
}

/** The run was interrupted (Ctrl-C): whatever the scenario was doing stops, nothing is restarted. */
export class ChaosAbortedError extends Error {
  override readonly name = 'ChaosAbortedError';
}

/** Start `part` until it answers its health check (a start can fail while its database is still down). */
export async function ensureUp(part: ManagedProcess, aborted: () => boolean, timeoutMs = 90_000): Promise<void> {
  await waitFor(
    async (bail) => {
      if (aborted()) bail(new ChaosAbortedError(`interrupted while starting ${part.name}`));
      if (await healthy(part.options.healthUrl)) return true;
      if (!part.running) await part.start().catch(() => undefined);
      return healthy(part.options.healthUrl);
    },
    { what: `${part.name} to be up again`, timeoutMs, intervalMs: 250 },
  );
}

export class ChaosWorld {
  /** Faults injected, by kind (see schedule.ts `faultKind`), plus a few totals. */
  readonly tally = new Map<string, number>();
  /** Invariant violations seen directly by forced orderings (a late try that ran, …). */
  readonly findings: Violation[] = [];
  /** Fault actions that could not be carried out (the target was down, …); not violations. */
  readonly notes: string[] = [];
  readonly #locks = new Map<string, Promise<unknown>>();
  #aborted = false;
  #closing: Promise<void> | null = null;
  #gids = 0;
  #randoms = 0;

  private constructor(
    readonly options: WorldOptions,
    readonly cluster: Cluster,
    readonly proxies: Map<LinkName, FaultProxy>,
    readonly secret: string,
    /** The server the log and the banks' databases are on. */
    readonly database: ChaosDatabaseServer,
    /** The harness's pools (user `chaos`), never through a proxy. */
    readonly coordinatorDb: Knex,
    readonly bankDbs: Record<BankName, Knex>,
  ) {}

  static async create(options: WorldOptions): Promise<ChaosWorld> {
    const { redis } = options.servers;
    const database = databaseServer(options.servers, options.database ?? 'mysql');
    if (!database.server.running) await database.server.start();
    if (!redis.running) await redis.start();
    await database.ensureHarnessLogin();
    const home = { kind: database.kind, serverUrl: database.server.url };
    const proxies = new Map<LinkName, FaultProxy>();
    const secret = `chaos-${options.seed}-${randomBytes(4).toString('hex')}`;
    const databasePrefix = `chaos_${options.scenario.replace(/[^a-z0-9]+/g, '_')}_${options.seed}`;
    let cluster: Cluster;
    try {
      cluster = await startCluster({
        log: home,
        banks: home,
        scheduler: { kind: 'bullmq', redisUrl: redis.url, redisPrefix: `chaos:${options.scenario}:${options.seed}:${randomBytes(3).toString('hex')}` },
        databasePrefix,
        secret,
        coordinators: options.coordinators,
        accountsPerBank: options.accountsPerBank,
        initialBalance: options.initialBalance,
        bankErrorRate: options.bankErrorRate,
        logDir: options.logDir,
        coordinatorEnv: CHAOS_COORDINATOR_ENV,
        freePort: pickFreePort,
        adversary: ADVERSARY_SCOPE,
        route: async (link: LinkName, target: Endpoint) => {
          const proxy = await FaultProxy.start({ name: link, target, port: await pickFreePort() });
          proxies.set(link, proxy);
          return proxy.endpoint;
        },
      });
    } catch (error) {
      // startCluster does not hand back what it started before failing.
      killClusterChildren();
      await Promise.allSettled([...proxies.values()].map((p) => p.close()));
      throw error;
    }
    const bankDbs = { a: database.harnessPool(cluster.bankDbUrls.a), b: database.harnessPool(cluster.bankDbUrls.b) };
    return new ChaosWorld(options, cluster, proxies, secret, database, database.harnessPool(cluster.coordinatorDbUrl), bankDbs);
  }

  get seed(): number {
    return this.options.seed;
  }

  get scenario(): string {
    return this.options.scenario;
  }

  get servers(): ChaosServers {
    return this.options.servers;
  }

  get coordinatorDatabase(): string {
    return new URL(this.cluster.coordinatorDbUrl).pathname.slice(1);
  }

  get bankDatabases(): string[] {
    return BANKS.map((bank) => new URL(this.cluster.bankDbUrls[bank]).pathname.slice(1));
  }

  /** A fresh gid for a transaction the harness drives itself. */
  nextGid(kind: string): string {
    return `${this.scenario}-${this.seed}-${kind}-${++this.#gids}`;
  }

  /** A seeded random source for one action: the n-th call gets the same one in every run of this seed. */
  random(): Random {
    return seededRandom(this.seed * 7_919 + ++this.#randoms);
  }

  count(kind: string, n = 1): void {
    this.tally.set(kind, (this.tally.get(kind) ?? 0) + n);
  }

  note(text: string): void {
    this.notes.push(text);
  }

  /** Faults on one target run one after the other (a restart may outlast its window). */
  exclusive<T>(target: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(target) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(work);
    this.#locks.set(target, next);
    return next;
  }

  /** The schedule's waits; cut short once the run is aborted (Ctrl-C). */
  sleep(ms: number): Promise<void> {
    if (this.#aborted) return Promise.resolve();
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  abort(): void {
    this.#aborted = true;
  }

  get aborted(): boolean {
    return this.#aborted;
  }

  throwIfAborted(): void {
    if (this.#aborted) throw new ChaosAbortedError(`${this.scenario} was interrupted`);
  }

  /** Start a stopped or crashed process again, until healthy (gives up if the run is interrupted). */
  ensureUp(part: ManagedProcess): Promise<void> {
    return ensureUp(part, () => this.#aborted);
  }

  /** Base URL of a coordinator that answers, directly (not through a proxy), or null. */
  async coordinatorUrl(): Promise<string | null> {
    for (const coordinator of this.cluster.coordinators) {
      if (await healthy(coordinator.options.healthUrl)) return new URL(coordinator.options.healthUrl).origin;
    }
    return null;
  }

  /** Each coordinator's own address, not through a proxy. */
  coordinatorUrls(): string[] {
    return this.cluster.coordinators.map((coordinator) => new URL(coordinator.options.healthUrl).origin);
  }

  /**
   * What the adversary holds: its API token and its own initiator key at each bank, derived here
   * so that it never sees the cluster's root secret (nor any other key or token); and what any
   * service would know — the banks' addresses, the other initiators' names, the accounts.
   */
  adversaryIdentity(): AdversaryIdentity {
    const credentials = clusterCredentials(this.secret);
    const [ownBank, otherBank] = ADVERSARY_SCOPE.bank === 'a' ? (['a', 'b'] as const) : (['b', 'a'] as const);
    return {
      caller: ADVERSARY_CALLER,
      token: credentials.adversaryToken,
      keys: { a: credentials.initiatorKey(ADVERSARY_CALLER, 'a'), b: credentials.initiatorKey(ADVERSARY_CALLER, 'b') },
      modes: ADVERSARY_SCOPE.modes,
      ownBank,
      otherBank,
      bankUrls: this.cluster.bankUrls,
      otherInitiators: this.cluster.transfers.map((_, i) => transferCaller(i)),
      accountIds: this.cluster.accountIds,
    };
  }

  /** Which bank a registered confirm/cancel URL points at (directly or through a proxy). */
  bankOfUrl(url: string): BankName | null {
    const port = Number(new URL(url).port);
    for (const bank of BANKS) if (Number(new URL(this.cluster.bankUrls[bank]).port) === port) return bank;
    for (const [link, proxy] of this.proxies) {
      const bank = /->bank-(a|b)$/.exec(link)?.[1] as BankName | undefined;
      if (bank && proxy.endpoint.port === port) return bank;
    }
    return null;
  }

  /** After the faults: every link back to pass, every server and process running and healthy. */
  async heal(): Promise<void> {
    this.throwIfAborted();
    await Promise.all([...this.proxies.values()].map((p) => p.setMode('pass')));
    const { redis } = this.servers;
    const { server } = this.database;
    await Promise.all([server.running ? undefined : server.start(), redis.running ? undefined : redis.start()]);
    await Promise.all(this.cluster.all().map((p) => this.ensureUp(p)));
  }

  /** Stops every process and proxy and closes the harness's pools; once, however often it is called. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.abort();
      await this.cluster.stop();
      await Promise.allSettled([...this.proxies.values()].map((p) => p.close()));
      await Promise.allSettled([this.coordinatorDb.destroy(), this.bankDbs.a.destroy(), this.bankDbs.b.destroy()]);
    })();
    return this.#closing;
  }
}
