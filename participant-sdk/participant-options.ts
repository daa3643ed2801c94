/**
 * A participant's options, checked and defaulted once at start by a pure
 * function, so that a misconfigured participant fails before it serves a call.
 */
import type { Knex } from 'knex';
import { pino } from 'pino';
import type { Logger } from 'pino';
import type { BranchOp } from '@dtx/protocol';
import type { BarrierOptions } from './barrier/barrier.ts';
import type { BarrierDialect } from './barrier/dialect.ts';
import { barrierDialectOf } from './barrier/dialect-of.ts';
import { assertTableName, DEFAULT_BARRIER_TABLE } from './barrier/input.ts';
import { normaliseCallKeys, type CallKeys } from './call-keys.ts';
import { ParticipantConfigError } from './errors.ts';
import { assertResourceName, type Resource } from './resource.ts';
import { DEFAULT_XA_GID_TABLE } from './xa/xa-tables.ts';
import { DEFAULT_FMT_UNDO_TABLE } from './fmt/undo-log.ts';

/** How {@link createParticipant} sets up one participant: its database, its resources and its key. */
export interface ParticipantOptions {
  /**
   * The participant's own database: business tables and the barrier table. On knex's `mysql2`
   * client (MySQL, MariaDB) or `pg` client (PostgreSQL); XA resources need MySQL or MariaDB.
   */
  knex: Knex;
  /**
   * What it serves, with distinct names: resources made by defineTcc / defineSqlTcc (TCC),
   * defineSaga / defineSqlSaga (saga steps), defineMessageReceiver / defineSqlMessageReceiver
   * (message receivers) and defineMessageSender (the check-back of the messages this service sends).
   */
  resources: readonly Resource[];
  /**
   * The key the coordinator signs its calls here with: this participant's key in the coordinator's
   * `DTX_PARTICIPANTS` (or its shared `DTX_SECRET`). It verifies the coordinator's ops — confirm,
   * cancel, action, compensate, deliver, check, commit, rollback — and nothing else: never give it
   * to an initiator. Required: without it the participant refuses to start, unless
   * `insecureDevMode` is set. An empty string is refused too: it is almost always an unset
   * environment variable.
   */
  coordinatorKey?: string | null;
  /**
   * Who may call try (TCC) and prepare (XA) here: each initiator by its caller name (its API token's
   * name on the coordinator, which it sends as `dtx-caller`), with a key of its own that this
   * participant and that initiator share. These keys verify tries and prepares only. Required when
   * a resource is TCC or XA (unless `insecureDevMode` is set); none may equal `coordinatorKey`.
   */
  initiatorKeys?: Readonly<Record<string, string>>;
  /**
   * Development only: with no key for an op (no `coordinatorKey`; no `initiatorKeys` at all), accept
   * its calls unsigned (a warning is logged at start). Never set it where the participant is
   * reachable by anyone but you.
   */
  insecureDevMode?: boolean;
  /**
   * The URL the coordinator and initiators address this participant's mount
   * point by, e.g. `https://bank-a.internal/dtx`. Signatures cover the host
   * and path of a call; by default the participant checks them against the
   * Host header and the path it received, which is right unless a proxy in
   * between rewrites either. Setting it also pins the host: a call captured
   * on its way to another participant that shares the key is refused here.
   */
  publicUrl?: string;
  /** Accepted distance between the call's timestamp and now. Default 5 minutes. */
  maxSkewMs?: number;
  /** Name of the barrier table in `knex`'s database (optionally `schema.table`). Default `dtx_barrier`. */
  barrierTable?: string;
  /** XA resources: where the gids of xids too long to carry them are kept (created by `migrate()`). Default `dtx_xa_gid`. */
  xaGidTable?: string;
  /**
   * XA resources: InnoDB's lock wait bound, in seconds, for a branch's
   * statements (a prepare queued behind rows that another prepared branch
   * holds gives up after it). Default 5.
   */
  xaLockWaitSeconds?: number;
  /** FMT resources (defineFmt): how their rows are keyed, undone and locked. Required when one is served. */
  fmt?: FmtOptions;
  /** Where refused calls, handler failures and barrier retries are logged. Default: a pino logger on stdout. */
  logger?: Logger;
  /** Clock in epoch milliseconds, for signature freshness and barrier timestamps. Default `Date.now`. */
  now?: () => number;
}

/** How a participant runs its FMT resources. */
export interface FmtOptions {
  /**
   * This database's name in the coordinator's global row locks: every participant writing the
   * same database must give the same name, and different databases different names (e.g.
   * `bank-a`). 1..128 characters.
   */
  resource: string;
  /** The undo records' table (created by `migrate()`). Default `dtx_fmt_undo`. */
  undoTable?: string;
  /** How long an execute (or a locking read) waits for a row another global transaction holds, before it is refused with FMT_LOCK_CONFLICT. Default 2,000 ms. */
  lockWaitMs?: number;
  /** Rows one statement may change (its undo record's size); more is refused before it runs. Default 1,000. */
  maxRowsPerStatement?: number;
  /** Bound of one request to the coordinator (a lock). Default 5,000 ms. */
  requestTimeoutMs?: number;
  /**
   * For {@link Participant.withGlobalLock} (local writes that respect global locks, outside any
   * global transaction): the coordinator's URL and an API token of this service there.
   */
  coordinator?: { url: string; apiToken?: string | null };
  /** How long committed branches' undo records wait to be deleted in one batch. Default 1,000 ms. */
  undoFlushMs?: number;
}

/** The options as createParticipant runs on them. */
export interface NormalisedOptions {
  knex: Knex;
  /** The barrier's statements for `knex`'s database, chosen once from its client. */
  dialect: BarrierDialect;
  resources: ReadonlyMap<string, Resource>;
  keys: CallKeys;
  /** Host and mount path of `publicUrl`, when given. */
  publicTarget: { host: string; basePath: string } | null;
  maxSkewMs: number;
  table: string;
  xaGidTable: string;
  xaLockWaitSeconds: number;
  /** Set when FMT resources are served. */
  fmt: (Required<Omit<FmtOptions, 'coordinator'>> & { coordinator: FmtOptions['coordinator'] | null }) | null;
  logger: Logger;
  now: () => number;
}

/**
 * Check and default the options once, at start, so that a misconfigured
 * participant fails before it serves a call (createParticipant calls it).
 *
 * @throws ParticipantConfigError on duplicate or badly named resources, a
 *   missing or empty key (outside insecureDevMode), an initiator key equal to the
 *   coordinator's, a bad publicUrl,
 *   maxSkewMs or barrierTable, a knex on another client than mysql2 or pg, or
 *   XA resources on a pg knex
 */
export function normaliseParticipantOptions(options: ParticipantOptions): NormalisedOptions {
  const resources = new Map<string, Resource>();
  for (const resource of options.resources) {
    assertResourceName(resource.name);
    if (resources.has(resource.name)) {
      throw new ParticipantConfigError('resources', `two resources are named ${resource.name}`);
    }
    resources.set(resource.name, resource);
  }
  // The barrier's statements exist for MySQL/MariaDB and PostgreSQL only: refuse at start, not on the first call.
  const dialect = barrierDialectOf(options.knex);
  const xa = [...resources.values()].find((resource) => resource.mode === 'xa');
  if (xa && !dialect.supportsXa) {
    throw new ParticipantConfigError(
      'resources',
      `resource ${xa.name}: XA resources (defineXa) need MySQL or MariaDB (knex's mysql2 client); this participant's database is PostgreSQL: use TCC, a saga or messages there`,
    );
  }
  const keys = normaliseCallKeys({
    coordinatorKey: options.coordinatorKey,
    initiatorKeys: options.initiatorKeys,
    insecureDevMode: options.insecureDevMode,
    takesInitiatorCalls: [...resources.values()].some((resource) => resource.mode === 'tcc' || resource.mode === 'xa' || resource.mode === 'fmt'),
  });
  let publicTarget: NormalisedOptions['publicTarget'] = null;
  if (options.publicUrl !== undefined) {
    let parsed: URL | null = null;
    try {
      parsed = new URL(options.publicUrl);
    } catch {
      // reported below
    }
    if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || parsed.search || parsed.hash) {
      throw new ParticipantConfigError('publicUrl', 'publicUrl must be an absolute http(s) URL without query or fragment');
    }
    publicTarget = { host: parsed.host, basePath: parsed.pathname.replace(/\/+$/, '') };
  }
  const maxSkewMs = options.maxSkewMs ?? 5 * 60_000;
  if (!(maxSkewMs > 0)) throw new ParticipantConfigError('maxSkewMs', 'maxSkewMs must be > 0');
  const table = options.barrierTable ?? DEFAULT_BARRIER_TABLE;
  try {
    assertTableName(table);
  } catch (error) {
    throw new ParticipantConfigError('barrierTable', error instanceof Error ? error.message : String(error));
  }
  const xaGidTable = options.xaGidTable ?? DEFAULT_XA_GID_TABLE;
  try {
    assertTableName(xaGidTable);
  } catch (error) {
    throw new ParticipantConfigError('xaGidTable', error instanceof Error ? error.message : String(error));
  }
  const xaLockWaitSeconds = options.xaLockWaitSeconds ?? 5;
  if (!Number.isInteger(xaLockWaitSeconds) || xaLockWaitSeconds < 1)
    throw new ParticipantConfigError('xaLockWaitSeconds', 'xaLockWaitSeconds must be a whole number of seconds, at least 1');
  const fmt = [...resources.values()].some((resource) => resource.mode === 'fmt') ? normaliseFmt(options.fmt) : null;
  return {
    fmt,
    knex: options.knex,
    dialect,
    resources,
    keys,
    publicTarget,
    maxSkewMs,
    table,
    xaGidTable,
    xaLockWaitSeconds,
    logger: (options.logger ?? pino({ name: 'dtx-participant' })).child({ component: 'dtx-participant' }),
    now: options.now ?? Date.now,
  };
}

function normaliseFmt(options: FmtOptions | undefined): NonNullable<NormalisedOptions['fmt']> {
  if (!options || typeof options.resource !== 'string' || options.resource.length === 0 || options.resource.length > 128) {
    throw new ParticipantConfigError(
      'fmt',
      "FMT resources need fmt.resource: this database's name in the coordinator's row locks (1-128 characters, the same for every participant writing this database)",
    );
  }
  const undoTable = options.undoTable ?? DEFAULT_FMT_UNDO_TABLE;
  try {
    assertTableName(undoTable);
  } catch (error) {
    throw new ParticipantConfigError('fmt', `fmt.undoTable: ${error instanceof Error ? error.message : String(error)}`);
  }
  const positive = (name: keyof FmtOptions, value: number) => {
    if (!Number.isInteger(value) || value < 1) throw new ParticipantConfigError('fmt', `fmt.${name} must be a positive whole number`);
    return value;
  };
  return {
    resource: options.resource,
    undoTable,
    lockWaitMs: positive('lockWaitMs', options.lockWaitMs ?? 2_000),
    maxRowsPerStatement: positive('maxRowsPerStatement', options.maxRowsPerStatement ?? 1_000),
    requestTimeoutMs: positive('requestTimeoutMs', options.requestTimeoutMs ?? 5_000),
    undoFlushMs: positive('undoFlushMs', options.undoFlushMs ?? 1_000),
    coordinator: options.coordinator ?? null,
  };
}

/** The barrier options of one call on this participant: its table and clock, its retries logged on `log`. */
export function barrierOptionsOf(o: NormalisedOptions, call: { gid: string; branchId: string; op: BranchOp }, log: Logger): BarrierOptions {
  return {
    table: o.table,
    gid: call.gid,
    branchId: call.branchId,
    op: call.op,
    now: o.now,
    onRetry: (error, attempt) => log.warn({ err: error, attempt }, 'barrier transaction retried after a lock conflict'),
  };
}
