/**
 * A participant: the resources of one service, served behind the barrier.
 *
 * `handle` is the framework-free core: request in, reply out, never throws.
 * The Fastify plugin and the node:http handler (server/) only move bytes.
 */
import type { Logger } from 'pino';
import { knexBranchSql, runInKnexBarrier, runInPlainBarrier, type BarrierResult } from './barrier/barrier.ts';
import { cleanupBarrier, startBarrierCleanup } from './barrier/cleanup.ts';
import type { BarrierCleanupHandle } from './barrier/cleanup.ts';
import { replyOfCheckBack, replyOfError, replyOfResult, replyOfXa } from './branch-reply.ts';
import { answerCheckBackOn } from './barrier/sender-row.ts';
import { BarrierInputError, BranchOngoingError, BranchRejectedError, ParticipantConfigError, SignatureError } from './errors.ts';
import { decodeCall, errorReply, parseJsonBody } from './incoming-call.ts';
import type { DecodedCall, ParticipantReply, ParticipantRequest } from './incoming-call.ts';
import { MESSAGE_SENDER_BRANCH, verify } from '@dtx/protocol';
import { callerAllowed, type BranchHandler, type SqlBranchContext } from './resource.ts';
import { keyForCall, unregistered } from './call-keys.ts';
import { commitXa, prepareXa, rollbackXa, type XaBranchOptions } from './xa/xa-branch.ts';
import { finishXaBranch, type XaFinishOptions, type XaFinishResult } from './xa/xa-finish.ts';
import { recoverXa, startXaRecovery, type XaRecoveryHandle, type XaRecoveryOptions, type XaRecoveryPass, type XaRecoverySetting } from './xa/xa-recovery.ts';
import { createXaGidTable } from './xa/xa-tables.ts';
import { barrierOptionsOf, normaliseParticipantOptions, type ParticipantOptions } from './participant-options.ts';
import { createFmtParticipant, type FmtParticipant, type FmtResolution } from './fmt/fmt-participant.ts';
import type { FmtSession } from './fmt/fmt-session.ts';
import type { FmtDirtyAction } from './fmt/rollback.ts';

export type { ParticipantOptions } from './participant-options.ts';

/** How much of the barrier table (and of the XA gid table) {@link Participant.cleanup} deletes. */
export interface ParticipantCleanupOptions {
  /**
   * Retention: rows of branches finished longer ago than this are deleted (an XA branch
   * committed here: between one and two retentions after its prepare). Choose it longer than
   * any delivery can be late (the coordinator's retry horizon).
   */
  olderThanMs: number;
  /**
   * Off unless set: the rows of branches this participant cannot know are over (a try with no
   * confirm or cancel, a saga step's action with no compensate, as every step of a saga that
   * succeeded) are deleted once older than this; unset, they are kept for ever. At least
   * `olderThanMs`; choose it longer than any transaction can stay open plus the coordinator's
   * retry horizon. A cancel or compensate arriving later is answered as a null compensation
   * without running its handler: what the try or action did is never undone. A confirm arriving
   * later is refused `TRY_NOT_FOUND`; a try or action sent again runs again.
   */
  unfinishedOlderThanMs?: number;
  /** Branches per statement; bounds each statement's locks. Default 1000. */
  batchSize?: number;
}

/**
 * One participant, made by {@link createParticipant}: its barrier table's
 * lifecycle and the framework-free `handle` that the Fastify plugin and the
 * node:http handler put on the network.
 */
export interface Participant {
  /** Create the barrier table if it does not exist, or add the columns it lacks (and the XA gid table, for XA resources). */
  migrate(): Promise<void>;
  /** Answer one call. Never throws; every failure is a non-2xx reply. */
  handle(request: ParticipantRequest): Promise<ParticipantReply>;
  /**
   * Delete the rows no call can still need: barrier rows of branches finished longer ago than
   * `olderThanMs`, the XA gid rows that go with them, and (only with `unfinishedOlderThanMs`) rows
   * of branches with no phase two here. A prepared XA branch keeps its rows. Returns the rows
   * deleted, both tables together.
   */
  cleanup(options: ParticipantCleanupOptions): Promise<number>;
  /** Run cleanup every `intervalMs` in the background (unref'd timer). */
  startCleanup(options: ParticipantCleanupOptions & { intervalMs: number }): BarrierCleanupHandle;
  /**
   * One pass over the XA branches left prepared in this participant's
   * database (`XA RECOVER`, dtx's xids only): each gets the outcome the
   * coordinator it was prepared through gives, or is left prepared while
   * that coordinator has none to give, or none the recovery may trust (and
   * reported once it has been in doubt longer than `inDoubtAfterMs`).
   */
  recoverXa(options: XaRecoveryOptions): Promise<XaRecoveryPass>;
  /** recoverXa now, then every `intervalMs` in the background (unref'd timer). */
  startXaRecovery(options: XaRecoveryOptions & { intervalMs: number }): XaRecoveryHandle;
  /**
   * Finish one XA branch by hand, for a branch the recovery leaves prepared
   * because no coordinator it asks can tell its outcome. Runs the same
   * commit or rollback the coordinator sends, so a late prepare, commit or
   * rollback of the branch is answered as after the coordinator's. Commit
   * only a branch whose transaction committed, roll back only one whose
   * transaction did not: its other branches follow the coordinator's
   * decision.
   *
   * @throws RangeError on another outcome; BarrierInputError on an id that
   *   cannot be an xid; BranchOngoingError while its prepare is still running
   *
   * @example
   * ```ts
   * const result = await participant.finishXa({ gid: 'xfer-42', branchId: 'debit', outcome: 'rollback' });
   * console.log(result.kind); // 'rolled-back', or 'duplicate' if it was already
   * ```
   */
  finishXa(options: XaFinishOptions): Promise<XaFinishResult>;
  /**
   * Resolve an FMT branch whose rollback was refused for a dirty write (409
   * `FMT_DIRTY_WRITE`, the transaction flagged needs-attention): `restore-before`
   * puts every row the branch wrote back as it was before the branch (the later
   * changes are lost), `keep-current` keeps the rows as they are now; either way
   * the undo records go, and the coordinator's next rollback of the branch (retry
   * it from the admin API) answers success.
   */
  resolveFmt(options: { gid: string; branchId: string; action: FmtDirtyAction }): Promise<FmtResolution>;
  /**
   * Run local work outside any global transaction whose writes (through the
   * session: `sql`, `query`, `selectForUpdate`) first wait until no global
   * transaction holds their rows (`fmt.coordinator` must be set): a plain
   * write that must not slip under an FMT transaction, which would later find
   * it and refuse to roll back (a dirty write).
   * @throws FmtLockConflictError when a row stays held past `fmt.lockWaitMs` (nothing is committed)
   */
  withGlobalLock<T>(work: (session: FmtSession) => Promise<T>): Promise<T>;
  /** Deletes the undo records of FMT branches committed and not yet cleaned up (they are batched); call it before the process ends. */
  close(): Promise<void>;
}

/**
 * Create a participant: the resources of one service, served behind the
 * barrier in the service's own database, with every call's signature checked.
 * This is the entry point of the participant side; mount the result with
 * {@link dtxParticipantPlugin} (Fastify) or {@link createNodeHandler}
 * (node:http), and call `migrate()` once at start.
 *
 * @param options - database, resources and keys; see {@link ParticipantOptions}
 * @returns the participant, not yet migrated nor mounted
 * @throws ParticipantConfigError when the options are wrong (no `coordinatorKey` and no
 *   `insecureDevMode`, TCC resources without `initiatorKeys`, duplicate resource names...): at
 *   start, never per call
 *
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import knex from 'knex';
 * import { createParticipant, dtxParticipantPlugin } from '@dtx/participant-sdk';
 *
 * const db = knex({ client: 'mysql2', connection: process.env.BANK_DB_URL });
 * const participant = createParticipant({
 *   knex: db,
 *   resources: [debit],
 *   coordinatorKey: process.env.BANK_A_COORDINATOR_KEY,                 // its DTX_PARTICIPANTS key on the coordinator
 *   initiatorKeys: { orders: process.env.BANK_A_ORDERS_KEY ?? '' },     // the initiators that may call debit/try
 * });
 * await participant.migrate();                                                  // the barrier table
 * const app = Fastify();
 * await app.register(dtxParticipantPlugin, { participant, prefix: '/dtx' });   // POST /dtx/debit/{try,confirm,cancel}
 * await app.listen({ port: 4001 });
 * ```
 */
export function createParticipant(options: ParticipantOptions): Participant {
  const o = normaliseParticipantOptions(options);
  if (o.keys.insecure)
    o.logger.warn(
      'INSECURE DEVELOPMENT MODE: calls with no key configured for their op are accepted unsigned; never run this way where others can reach the participant',
    );

  /** When each prepared XA branch was first found in doubt by the recovery, kept across its passes. */
  const xaInDoubtSince = new Map<string, number>();

  async function handle(request: ParticipantRequest): Promise<ParticipantReply> {
    const decoded = decodeCall(request, o.resources);
    if (!decoded.ok) {
      o.logger.warn({ ...cut(decoded.context), code: decoded.reply.body.code }, 'call refused');
      return decoded.reply;
    }
    const { call } = decoded;
    const authenticated = authenticate(request.method, call);
    const log = o.logger.child({ gid: call.gid, branchId: call.branchId, op: call.op, resource: call.resource.name, caller: call.caller.slice(0, 64) });
    if (!authenticated.ok) {
      log.warn({ code: authenticated.error.code }, 'call refused: not authenticated for this op');
      return replyOfError(authenticated.error);
    }
    const { caller } = authenticated;
    if (!callerAllowed(call.resource, call.op, caller)) {
      log.warn('call refused: caller not allowed for this resource');
      return errorReply(409, 'CALLER_NOT_ALLOWED', `${caller ?? 'an anonymous caller'} may not call ${call.op} on ${call.resource.name}`);
    }
    if (unregistered(o.keys, call)) {
      log.warn('call refused: no registration proof of this branch for this caller');
      return errorReply(
        409,
        'NOT_REGISTERED',
        `the coordinator has no registration of branch ${call.branchId} for ${caller ?? 'an anonymous caller'} (dtx-registration missing or wrong)`,
      );
    }

    const payload = parseJsonBody(call.rawBody);
    if (!payload.ok) {
      log.warn('call refused: body is not JSON');
      return errorReply(400, 'BAD_JSON', 'the body is not valid JSON');
    }

    // A message sender has no handler: its check-back is answered from its barrier row.
    if (call.resource.mode === 'msg-sender') return answerCheck(call.gid, call.branchId, log);

    const rawPayload = typeof call.rawBody === 'string' ? call.rawBody : call.rawBody.toString('utf8');
    const context = { gid: call.gid, branchId: call.branchId, op: call.op, caller, payload: payload.value, rawPayload, log };
    if (call.resource.mode === 'xa') return handleXa(call.resource.handlers.prepare!, context, call.coordinator, log);
    if (call.resource.mode === 'fmt') return fmtOnly().handle(call, call.resource.handlers.execute!, context, log);

    // Resolved by decodeCall: the resource answers this op.
    const handler = call.resource.handlers[call.op]!;
    const barrier = barrierOptionsOf(o, call, log);
    let result: BarrierResult<unknown>;
    try {
      result =
        call.resource.transaction === 'sql'
          ? await runInPlainBarrier(o.dialect, o.knex, barrier, (sql) => handler({ ...context, sql }))
          : await runInKnexBarrier(o.dialect, o.knex, barrier, (trx) => handler({ ...context, trx, sql: knexBranchSql(o.dialect, trx) }));
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

  /**
   * Checks the call's signature with the one key that may sign its op for its caller
   * (call-keys.ts): the coordinator's for phase-two and check-back ops, the initiator's own for
   * try and prepare. Then `dtx-caller` is authenticated: the caller it names is handed to handlers.
   */
  function authenticate(method: string, call: DecodedCall): { ok: true; caller: string | null } | { ok: false; error: SignatureError } {
    const signer = keyForCall(o.keys, call.op, call.caller);
    if (signer.kind === 'refuse') {
      return { ok: false, error: new SignatureError(signer.reason, `no key here lets ${JSON.stringify(call.caller.slice(0, 64))} sign a ${call.op}`) };
    }
    if (signer.kind === 'verify') {
      const { gid, branchId, op, timestamp, coordinator, caller, rawBody: body } = call;
      const target = o.publicTarget ? { host: o.publicTarget.host, path: `${o.publicTarget.basePath}${call.path}` } : { host: call.host, path: call.fullPath };
      const check = verify(signer.key, { method, ...target, gid, branchId, op, timestamp, coordinator, caller, body }, call.signature, o.now(), o.maxSkewMs);
      if (!check.ok) return { ok: false, error: new SignatureError(check.reason) };
    }
    return { ok: true, caller: call.caller === '' ? null : call.caller };
  }

  /**
   * An XA resource's call: its prepare runs the handler in an XA branch; commit and rollback are
   * the SDK's (xa/xa-branch.ts). `coordinator` is the call's `dtx-coordinator` header ('' when
   * absent): a prepare records it with the branch, for the recovery to ask that coordinator.
   */
  async function handleXa(
    prepare: BranchHandler,
    context: Omit<SqlBranchContext<unknown>, 'sql'>,
    coordinator: string,
    log: Logger,
  ): Promise<ParticipantReply> {
    const branch: XaBranchOptions = {
      gid: context.gid,
      branchId: context.branchId,
      coordinator: coordinator === '' ? null : coordinator,
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
      const answer = await answerCheckBackOn(o.dialect, o.knex, {
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

  const servesXa = [...o.resources.values()].some((resource) => resource.mode === 'xa');

  /** FMT's runtime, when an FMT resource is served. */
  const fmt = o.fmt ? createFmtParticipant(o, o.fmt) : null;
  const fmtOnly = (): FmtParticipant => {
    if (!fmt) throw new ParticipantConfigError('fmt', 'no FMT resource is served');
    return fmt;
  };

  return {
    migrate: async () => {
      await o.dialect.createTable(o.knex, o.table);
      if (servesXa) await createXaGidTable(o.knex, o.xaGidTable);
      await fmt?.migrate();
    },
    resolveFmt: (options) => fmtOnly().resolve(options),
    withGlobalLock: (work) => fmtOnly().withGlobalLock(work),
    close: async () => {
      await fmt?.close();
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
    cleanup: async (c) => {
      // First: the barrier rows it deletes are what tells a committed branch's leftover undo records.
      await fmt?.sweep();
      return cleanupBarrier(o.knex, { ...cleanupTables(), now: o.now, ...c });
    },
    startCleanup: (c) =>
      startBarrierCleanup(o.knex, {
        ...cleanupTables(),
        now: o.now,
        ...c,
        onRun: (deleted) => o.logger.debug({ deleted }, 'barrier cleanup ran'),
        onError: (error) => o.logger.error({ err: error }, 'barrier cleanup failed'),
      }),
    recoverXa: (r) => recoverXa(o.knex, { ...xaRecoverySetting(), ...r }),
    startXaRecovery: (r) => startXaRecovery(o.knex, { ...xaRecoverySetting(), ...r }),
    finishXa: async (f) => {
      const log = o.logger.child({ gid: f.gid, branchId: f.branchId });
      const branch: XaBranchOptions = {
        gid: f.gid,
        branchId: f.branchId,
        table: o.table,
        gidTable: o.xaGidTable,
        now: o.now,
        lockWaitSeconds: o.xaLockWaitSeconds,
      };
      const result = await finishXaBranch(o.knex, branch, f.outcome);
      if (result.kind === 'refused') log.warn({ outcome: f.outcome, refusal: result.refusal }, `XA branch not finished by hand: ${result.refusal}`);
      else log.info({ outcome: f.outcome, xa: result.kind }, 'XA branch finished by hand');
      return result;
    },
  };

  function xaRecoverySetting(): XaRecoverySetting {
    return { table: o.table, gidTable: o.xaGidTable, lockWaitSeconds: o.xaLockWaitSeconds, now: o.now, logger: o.logger, inDoubtSince: xaInDoubtSince };
  }

  /** The tables the cleanup deletes from: the barrier table, and the XA gid table migrate() creates for XA resources. */
  function cleanupTables(): { table: string; xaGidTable?: string } {
    return servesXa ? { table: o.table, xaGidTable: o.xaGidTable } : { table: o.table };
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
