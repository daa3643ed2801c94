/**
 * A participant: the resources of one service, served behind the barrier.
 *
 * `handle` is the framework-free core: request in, reply out, never throws.
 * The Fastify plugin and the node:http handler (server/) only move bytes.
 */
import type { Knex } from 'knex';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { assertMysql2Client, runInBarrier, runInSqlBarrier, sqlOnKnex } from './barrier/barrier.ts';
import type { BarrierOptions, BarrierResult } from './barrier/barrier.ts';
import { cleanupBarrier, startBarrierCleanup } from './barrier/cleanup.ts';
import type { BarrierCleanupHandle } from './barrier/cleanup.ts';
import { assertTableName, DEFAULT_BARRIER_TABLE } from './barrier/input.ts';
import { createBarrierTable } from './barrier/migration.ts';
import { replyOfCheckBack, replyOfError, replyOfResult, replyOfXa } from './branch-reply.ts';
import { answerCheckBack } from './barrier/sender-row.ts';
import { BarrierInputError, BranchOngoingError, BranchRejectedError, ParticipantConfigError, SignatureError } from './errors.ts';
import { decodeCall, errorReply, parseJsonBody } from './incoming-call.ts';
import type { ParticipantReply, ParticipantRequest } from './incoming-call.ts';
import { MESSAGE_SENDER_BRANCH, verify } from '@dtx/protocol';
import { assertResourceName, type BranchHandler, type SqlBranchContext } from './resource.ts';
import type { Resource } from './resource.ts';
import { commitXa, prepareXa, rollbackXa, type XaBranchOptions } from './xa/xa-branch.ts';
import { recoverXa, startXaRecovery, type XaRecoveryHandle, type XaRecoveryOptions, type XaRecoveryPass, type XaRecoverySetting } from './xa/xa-recovery.ts';
import { createXaGidTable, DEFAULT_XA_GID_TABLE } from './xa/xa-tables.ts';

/** How {@link createParticipant} sets up one participant: its database, its resources and its key. */
export interface ParticipantOptions {
  /** The participant's own database: business tables and the barrier table. */
  knex: Knex;
  /**
   * What it serves, with distinct names: resources made by defineTcc / defineSqlTcc (TCC),
   * defineSaga / defineSqlSaga (saga steps), defineMessageReceiver / defineSqlMessageReceiver
   * (message receivers) and defineMessageSender (the check-back of the messages this service sends).
   */
  resources: readonly Resource[];
  /**
   * This participant's HMAC key: the coordinator signs its calls here with it
   * (its per-participant key, or the shared DTX_SECRET), and so do initiators
   * for tries. Required: without a key the participant refuses to start,
   * unless `insecureDevMode` is set. An empty string is refused too: it is
   * almost always an unset environment variable.
   */
  secret?: string | null;
  /**
   * Development only: with no `secret`, accept unsigned calls (a warning is
   * logged at start). Never set it where the participant is reachable by
   * anyone but you.
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
  /** Where refused calls, handler failures and barrier retries are logged. Default: a pino logger on stdout. */
  logger?: Logger;
  /** Clock in epoch milliseconds, for signature freshness and barrier timestamps. Default `Date.now`. */
  now?: () => number;
}

/** How much of the barrier table {@link Participant.cleanup} deletes. */
export interface ParticipantCleanupOptions {
  /**
   * Retention: rows of branches whose phase two finished longer ago than this are deleted.
   * Choose it longer than any delivery can be late (the coordinator's retry horizon).
   */
  olderThanMs: number;
  /** Branches per DELETE statement; bounds each statement's locks. Default 1000. */
  batchSize?: number;
}

/**
 * One participant, made by {@link createParticipant}: its barrier table's
 * lifecycle and the framework-free `handle` that the Fastify plugin and the
 * node:http handler put on the network.
 */
export interface Participant {
  /** Create the barrier table if it does not exist. */
  migrate(): Promise<void>;
  /** Answer one call. Never throws; every failure is a non-2xx reply. */
  handle(request: ParticipantRequest): Promise<ParticipantReply>;
  /** Delete barrier rows of branches finished longer ago than `olderThanMs`; returns rows deleted. */
  cleanup(options: ParticipantCleanupOptions): Promise<number>;
  /** Run cleanup every `intervalMs` in the background (unref'd timer). */
  startCleanup(options: ParticipantCleanupOptions & { intervalMs: number }): BarrierCleanupHandle;
  /**
   * One pass over the XA branches left prepared in this participant's
   * database (`XA RECOVER`, dtx's xids only): each gets its transaction's
   * outcome applied, or is left prepared while undecided (and reported
   * once it has been in doubt longer than `inDoubtAfterMs`).
   */
  recoverXa(options: XaRecoveryOptions): Promise<XaRecoveryPass>;
  /** recoverXa now, then every `intervalMs` in the background (unref'd timer). */
  startXaRecovery(options: XaRecoveryOptions & { intervalMs: number }): XaRecoveryHandle;
}

interface NormalisedOptions {
  knex: Knex;
  resources: ReadonlyMap<string, Resource>;
  /** Null only in insecure development mode. */
  secret: string | null;
  /** Host and mount path of `publicUrl`, when given. */
  publicTarget: { host: string; basePath: string } | null;
  maxSkewMs: number;
  table: string;
  xaGidTable: string;
  xaLockWaitSeconds: number;
  logger: Logger;
  now: () => number;
}

/**
 * Check and default the options once, at start, so that a misconfigured
 * participant fails before it serves a call (createParticipant calls it).
 *
 * @throws ParticipantConfigError on duplicate or badly named resources, a
 *   missing or empty secret (outside insecureDevMode), a bad publicUrl,
 *   maxSkewMs or barrierTable, or plain-SQL resources on a non-mysql2 knex
 */
function normaliseParticipantOptions(options: ParticipantOptions): NormalisedOptions {
  const resources = new Map<string, Resource>();
  for (const resource of options.resources) {
    assertResourceName(resource.name);
    if (resources.has(resource.name)) {
      throw new ParticipantConfigError('resources', `two resources are named ${resource.name}`);
    }
    resources.set(resource.name, resource);
  }
  // Plain-SQL handlers need the mysql2 driver's connection: refuse at start, not on the first call.
  if ([...resources.values()].some((resource) => resource.transaction === 'sql')) assertMysql2Client(options.knex);
  const secret = options.secret ?? null;
  if (secret !== null && secret.length === 0) {
    throw new ParticipantConfigError('secret', 'secret is an empty string (an unset environment variable?)');
  }
  // Fail closed: a missing key never means "accept anything".
  if (secret === null && options.insecureDevMode !== true) {
    throw new ParticipantConfigError(
      'secret',
      'no secret: a participant refuses to start without its key (set insecureDevMode: true to accept unsigned calls in development)',
    );
  }
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
  return {
    knex: options.knex,
    resources,
    secret,
    publicTarget,
    maxSkewMs,
    table,
    xaGidTable,
    xaLockWaitSeconds,
    logger: (options.logger ?? pino({ name: 'dtx-participant' })).child({ component: 'dtx-participant' }),
    now: options.now ?? Date.now,
  };
}

/**
 * Create a participant: the resources of one service, served behind the
 * barrier in the service's own database, with every call's signature checked.
 * This is the entry point of the participant side; mount the result with
 * {@link dtxParticipantPlugin} (Fastify) or {@link createNodeHandler}
 * (node:http), and call `migrate()` once at start.
 *
 * @param options - database, resources and key; see {@link ParticipantOptions}
 * @returns the participant, not yet migrated nor mounted
 * @throws ParticipantConfigError when the options are wrong (no `secret` and no
 *   `insecureDevMode`, duplicate resource names...): at start, never per call
 *
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import knex from 'knex';
 * import { createParticipant, dtxParticipantPlugin } from '@dtx/participant-sdk';
 *
 * const db = knex({ client: 'mysql2', connection: process.env.BANK_DB_URL });
 * const participant = createParticipant({ knex: db, resources: [debit], secret: process.env.BANK_A_KEY });
 * await participant.migrate();                                                  // the barrier table
 * const app = Fastify();
 * await app.register(dtxParticipantPlugin, { participant, prefix: '/dtx' });   // POST /dtx/debit/{try,confirm,cancel}
 * await app.listen({ port: 4001 });
 * ```
 */
export function createParticipant(options: ParticipantOptions): Participant {
  const o = normaliseParticipantOptions(options);
  if (o.secret === null)
    o.logger.warn('INSECURE DEVELOPMENT MODE: no secret, unsigned calls are accepted; never run this way where others can reach the participant');

  /** When each prepared XA branch was first found in doubt by the recovery, kept across its passes. */
  const xaInDoubtSince = new Map<string, number>();

  async function handle(request: ParticipantRequest): Promise<ParticipantReply> {
    const decoded = decodeCall(request, o.resources);
    if (!decoded.ok) {
      o.logger.warn({ ...cut(decoded.context), code: decoded.reply.body.code }, 'call refused');
      return decoded.reply;
    }
    const { call } = decoded;
    const log = o.logger.child({ gid: call.gid, branchId: call.branchId, op: call.op, resource: call.resource.name });

    if (o.secret !== null) {
      const { gid, branchId, op, timestamp, coordinator, rawBody: body } = call;
      const target = o.publicTarget ? { host: o.publicTarget.host, path: `${o.publicTarget.basePath}${call.path}` } : { host: call.host, path: call.fullPath };
      const check = verify(
        o.secret,
        { method: request.method, ...target, gid, branchId, op, timestamp, coordinator, body },
        call.signature,
        o.now(),
        o.maxSkewMs,
      );
      if (!check.ok) {
        log.warn({ reason: check.reason }, 'call refused: bad signature');
        return replyOfError(new SignatureError(check.reason));
      }
    }

    const payload = parseJsonBody(call.rawBody);
    if (!payload.ok) {
      log.warn('call refused: body is not JSON');
      return errorReply(400, 'BAD_JSON', 'the body is not valid JSON');
    }

    // A message sender has no handler: its check-back is answered from its barrier row.
    if (call.resource.mode === 'msg-sender') return answerCheck(call.gid, call.branchId, log);

    const rawPayload = typeof call.rawBody === 'string' ? call.rawBody : call.rawBody.toString('utf8');
    const context = { gid: call.gid, branchId: call.branchId, op: call.op, payload: payload.value, rawPayload, log };
    if (call.resource.mode === 'xa') return handleXa(call.resource.handlers.prepare!, context, log);

    // Resolved by decodeCall: the resource answers this op.
    const handler = call.resource.handlers[call.op]!;
    const barrier: BarrierOptions = {
      table: o.table,
      gid: call.gid,
      branchId: call.branchId,
      op: call.op,
      now: o.now,
      onRetry: (error, attempt) => log.warn({ err: error, attempt }, 'barrier transaction retried after a lock conflict'),
    };
    let result: BarrierResult<unknown>;
    try {
      result =
        call.resource.transaction === 'sql'
          ? await runInSqlBarrier(o.knex, barrier, (sql) => handler({ ...context, sql }))
          : await runInBarrier(o.knex, barrier, (trx) => handler({ ...context, trx, sql: sqlOnKnex(trx) }));
    } catch (error) {
      logFailure(log, error);
      return replyOfError(error);
    }
    if (result.kind === 'ran') log.debug('branch handler ran');
    // The protocol never sends these: a forged or misdirected call, or a bug; worth a look.
    else if (result.kind === 'refused') log.warn({ barrier: result.kind, refusal: result.refusal }, `call refused by the barrier: ${result.refusal}`);
    else log.info({ barrier: result.kind }, `branch handler skipped: ${result.kind}`);
    return replyOfResult(result);
  }

  /** An XA resource's call: its prepare runs the handler in an XA branch; commit and rollback are the SDK's (xa/xa-branch.ts). */
  async function handleXa(prepare: BranchHandler, context: Omit<SqlBranchContext<unknown>, 'sql'>, log: Logger): Promise<ParticipantReply> {
    const branch: XaBranchOptions = {
      gid: context.gid,
      branchId: context.branchId,
      table: o.table,
      gidTable: o.xaGidTable,
      now: o.now,
      lockWaitSeconds: o.xaLockWaitSeconds,
      onRetry: (error, attempt) => log.warn({ err: error, attempt }, 'XA branch retried after a lock conflict'),
    };
    try {
      const outcome =
        context.op === 'prepare'
          ? await prepareXa(o.knex, branch, (sql) => prepare({ ...context, sql }))
          : context.op === 'commit'
            ? await commitXa(o.knex, branch)
            : await rollbackXa(o.knex, branch);
      if (outcome.kind === 'refused' || outcome.kind === 'suspended') log.warn({ xa: outcome }, `XA call refused: ${outcome.kind}`);
      else log.debug({ xa: outcome.kind }, 'XA call answered');
      return replyOfXa(outcome);
    } catch (error) {
      logFailure(log, error);
      return replyOfError(error);
    }
  }

  /**
   * The check-back of a message this process sent: 200 when its local
   * transaction committed, 409 when it never did (and now never will).
   */
  async function answerCheck(gid: string, branchId: string, log: Logger): Promise<ParticipantReply> {
    try {
      // The coordinator asks about the sender's part of the message only; any other branch id is a
      // misrouted call, and answering it "never committed" would drop a message that committed.
      if (branchId !== MESSAGE_SENDER_BRANCH) throw new BarrierInputError('branchId', branchId, `a check-back is about branch ${MESSAGE_SENDER_BRANCH}`);
      const answer = await answerCheckBack(o.knex, {
        table: o.table,
        gid,
        now: o.now,
        onRetry: (error, attempt) => log.warn({ err: error, attempt }, 'check-back retried after a lock conflict'),
      });
      log.info({ answer }, `check-back answered: ${answer}`);
      return replyOfCheckBack(answer);
    } catch (error) {
      logFailure(log, error);
      return replyOfError(error);
    }
  }

  return {
    migrate: async () => {
      await createBarrierTable(o.knex, o.table);
      if ([...o.resources.values()].some((resource) => resource.mode === 'xa')) await createXaGidTable(o.knex, o.xaGidTable);
    },
    handle: async (request) => {
      try {
        return await handle(request);
      } catch (error) {
        // Only a bug in this file gets here; still answer, and never success.
        o.logger.error({ err: error }, 'participant failed to handle a call');
        return replyOfError(error);
      }
    },
    cleanup: (c) => cleanupBarrier(o.knex, { table: o.table, now: o.now, ...c }),
    startCleanup: (c) =>
      startBarrierCleanup(o.knex, {
        table: o.table,
        now: o.now,
        ...c,
        onRun: (deleted) => o.logger.debug({ deleted }, 'barrier cleanup ran'),
        onError: (error) => o.logger.error({ err: error }, 'barrier cleanup failed'),
      }),
    recoverXa: (r) => recoverXa(o.knex, { ...xaRecoverySetting(), ...r }),
    startXaRecovery: (r) => startXaRecovery(o.knex, { ...xaRecoverySetting(), ...r }),
  };

  function xaRecoverySetting(): XaRecoverySetting {
    return { table: o.table, gidTable: o.xaGidTable, lockWaitSeconds: o.xaLockWaitSeconds, now: o.now, logger: o.logger, inDoubtSince: xaInDoubtSince };
  }
}

function logFailure(log: Logger, error: unknown): void {
  if (error instanceof BranchRejectedError) {
    log.info({ code: error.code, details: error.details }, `branch rejected: ${error.message}`);
  } else if (error instanceof BranchOngoingError) {
    log.info(`branch ongoing: ${error.message}`);
  } else if (error instanceof BarrierInputError) {
    log.warn({ field: error.field }, `call refused: ${error.message}`);
  } else {
    log.error({ err: error }, 'branch handler failed');
  }
}

// Refused calls may carry anything in their headers; log a bounded prefix.
function cut(context: { gid?: string; branchId?: string; op?: string }): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(context)) if (value !== undefined) out[key] = value.slice(0, 200);
  return out;
}
