/**
 * The initiator API: run a function inside a global TCC (or XA) transaction.
 *
 *   const outcome = await dtx.tcc(async (tx) => {
 *     await tx.try({ url: 'http://bank-a/dtx/debit', payload: { account, amount } });
 *     await tx.try({ url: 'http://bank-b/dtx/credit', payload: { account, amount } });
 *   });
 *
 * On return the transaction is submitted; on throw it is aborted and the
 * error rethrown. The outcome says whether phase two finished
 * (`confirmed`) or is still being retried by the coordinator (`confirming`).
 * `dtx.xa(...)` is the same with `tx.prepare`, `dtx.fmt(...)` with
 * `tx.execute`; sagas and messages have
 * their own builders (`dtx.saga()`, `dtx.message()`).
 */
import { v7 as uuidv7 } from 'uuid';
import type { Agent } from 'undici';
import { isValidGid } from '@dtx/protocol';
import { DtxError } from '../errors.ts';
import { CoordinatorClient, keepAliveAgent, type TransactionStatus } from './coordinator-client.ts';
import { CoordinatorRefusedError } from './errors.ts';
import { FMT_OPS, TCC_OPS, XA_OPS, type TwoPhaseOps } from './branch-target.ts';
import { FmtTransaction } from './fmt-transaction.ts';
import { TccTransaction } from './tcc-transaction.ts';
import type { TwoPhaseTransaction, TwoPhaseTransactionOptions } from './two-phase-transaction.ts';
import { XaTransaction } from './xa-transaction.ts';
import { Saga, type SagaOptions } from './saga.ts';
import { Message, type MessageOptions } from './message.ts';

/** How a {@link DtxClient} reaches the coordinator and signs its tries. */
export interface DtxClientOptions {
  /** Base URL of the coordinator. */
  coordinatorUrl: string;
  /**
   * This service's bearer token for the coordinator's /v1 API (one entry of
   * the coordinator's DTX_API_TOKENS). Null only against a coordinator in
   * insecure development mode.
   */
  apiToken: string | null;
  /**
   * This initiator's own key at the participants it tries (or prepares): one key for all, or a
   * function giving each try URL its key (null: unsigned, which participants refuse unless in
   * development mode). Each participant lists it in its `initiatorKeys` under this service's
   * caller name (its API token's name, which the coordinator tells the client at the begin). It
   * signs tries and prepares only: a participant accepts the coordinator's ops (confirm, cancel...)
   * only with the coordinator's key, which no initiator holds.
   */
  initiatorKey: string | null | ((tryUrl: string) => string | null);
  /** Timeout of one try call (default 10 s). */
  tryTimeoutMs?: number;
  /** Timeout of one coordinator call (default 15 s; submit waits for phase two). */
  coordinatorTimeoutMs?: number;
  /** Transport retries of a coordinator call (default 3). */
  coordinatorRetries?: number;
  /** Clock in epoch milliseconds, for the tries' signature timestamps. Default `Date.now`. */
  now?: () => number;
}

/** Options of one {@link DtxClient.tcc} transaction. */
export interface TccOptions {
  /** Choose the gid (default: a time-ordered UUID). */
  gid?: string;
  /** The coordinator aborts the transaction by itself if it is still trying after this long. */
  timeoutMs?: number;
  /** Reason recorded with the submit. */
  reason?: string;
  /**
   * Other services (their caller names on the coordinator) that may register branches into this
   * transaction: a participant whose try joins it with `dtx.join(gid, branchId)` to add branches of
   * its own. Only this service may submit or abort it.
   */
  joinableBy?: string[];
}

/**
 * How a {@link DtxClient.tcc} transaction ended, once submitted.
 *
 * @typeParam T - what the transaction's function returned
 */
export interface TccOutcome<T> {
  /** The transaction's id: query it on the coordinator, or hand it to an operator. */
  gid: string;
  /** `confirmed`, or `confirming` if phase two is still being retried by the coordinator. */
  status: TransactionStatus;
  /** What the function returned. */
  result: T;
}

/**
 * An XA transaction's status on the coordinator: `preparing` until submit or
 * abort; `committing` / `rolling-back` while phase two runs (and is
 * retried); `committed` / `rolled-back` when done.
 */
export type XaStatus = 'preparing' | 'committing' | 'rolling-back' | 'committed' | 'rolled-back';

/**
 * How a {@link DtxClient.xa} transaction ended, once submitted.
 *
 * @typeParam T - what the transaction's function returned
 */
export interface XaOutcome<T> {
  /** The transaction's id: query it on the coordinator, or hand it to an operator. */
  gid: string;
  /** `committed`, or `committing` if phase two is still being retried by the coordinator. */
  status: XaStatus;
  /** What the function returned. */
  result: T;
}

/**
 * An FMT transaction's status on the coordinator: `executing` until submit
 * or abort; `committing` / `rolling-back` while phase two runs (and is
 * retried); `committed` / `rolled-back` when done.
 */
export type FmtStatus = 'executing' | 'committing' | 'rolling-back' | 'committed' | 'rolled-back';

/**
 * How a {@link DtxClient.fmt} transaction ended, once submitted.
 *
 * @typeParam T - what the transaction's function returned
 */
export interface FmtOutcome<T> {
  /** The transaction's id: query it on the coordinator, or hand it to an operator. */
  gid: string;
  /** `committed`, or `committing` if phase two is still being retried by the coordinator. */
  status: FmtStatus;
  /** What the function returned. */
  result: T;
}

/**
 * The initiator client: runs a function inside a global TCC transaction on
 * the coordinator, registering each branch before calling its try, then
 * submitting (function returned) or aborting (function threw). One client per
 * process: it keeps HTTP connections alive; `close()` it on shutdown.
 *
 * @example
 * ```ts
 * import { DtxClient } from '@dtx/participant-sdk';
 *
 * const dtx = new DtxClient({
 *   coordinatorUrl: 'http://127.0.0.1:36789',
 *   apiToken: process.env.DTX_API_TOKEN ?? null,            // this service's entry in the coordinator's DTX_API_TOKENS
 *   initiatorKey: process.env.ORDERS_INITIATOR_KEY ?? null,  // its own key at the participants it tries (or a function: try URL → key)
 * });
 * ```
 */
export class DtxClient {
  readonly #agent: Agent = keepAliveAgent();
  readonly #coordinator: CoordinatorClient;

  /** @param options - coordinator URL, this service's token and its key at the participants it tries */
  constructor(private readonly options: DtxClientOptions) {
    this.#coordinator = new CoordinatorClient({
      url: options.coordinatorUrl,
      timeoutMs: options.coordinatorTimeoutMs ?? 15_000,
      retries: options.coordinatorRetries ?? 3,
      dispatcher: this.#agent,
      apiToken: options.apiToken,
    });
  }

  /** The coordinator API, for queries and for initiators that drive the protocol by hand. */
  get coordinator(): CoordinatorClient {
    return this.#coordinator;
  }

  /** The coordinator's base URL as given (`coordinatorUrl`): what this client's tries and prepares send as `dtx-coordinator`. */
  get coordinatorUrl(): string {
    return this.options.coordinatorUrl;
  }

  /**
   * Run `work` inside a global TCC transaction: the initiator's entry point.
   * Each `tx.try` / `tx.tryAll` in it registers its branches with the
   * coordinator (the first also begins the transaction), then calls their
   * tries. If `work` returns, the transaction is submitted (confirm all); if it
   * throws, the transaction is aborted (cancel all) and the error rethrown.
   *
   * @typeParam T - what `work` returns
   * @param work - the business flow; gets the transaction to register branches on
   * @param options - gid, try-phase deadline, submit reason
   * @returns the gid, the status after submit (`confirmed`, or `confirming`
   *   while the coordinator still retries phase two) and `work`'s result
   * @throws TryRejectedError when a participant refused a try (409), after the abort;
   *   TryFailedError when a try ended without a clear answer, after the abort;
   *   whatever `work` throws, after the abort; CoordinatorRefusedError /
   *   CoordinatorUnavailableError when the coordinator refuses or cannot be
   *   reached (for a submit the outcome is then unknown: query the gid);
   *   DtxError `INVALID_GID` on a malformed `options.gid`
   *
   * @example
   * ```ts
   * import { TryRejectedError } from '@dtx/participant-sdk';
   *
   * try {
   *   const outcome = await dtx.tcc(async (tx) => {
   *     await tx.tryAll([
   *       { url: 'http://bank-a:4001/dtx/debit', payload: { account: 'alice', amount: 30 } },
   *       { url: 'http://bank-b:4002/dtx/credit', payload: { account: 'bob', amount: 30 } },
   *     ]);
   *   }, { timeoutMs: 30_000 });
   *   console.log(outcome.gid, outcome.status);   // 'confirmed' (or 'confirming' while phase two is retried)
   * } catch (error) {
   *   if (error instanceof TryRejectedError) console.log('refused:', error.code);   // all cancelled
   *   else throw error;
   * }
   * ```
   */
  async tcc<T>(work: (tx: TccTransaction) => Promise<T>, options: TccOptions = {}): Promise<TccOutcome<T>> {
    return this.#runTwoPhase(TCC_OPS, (transaction) => new TccTransaction(transaction), work, options);
  }

  /**
   * Run `work` inside a global XA transaction: each `tx.prepare` /
   * `tx.prepareAll` in it registers its branches with the coordinator (the
   * first also begins the transaction), then calls their prepare, where each
   * participant's XA resource (defineXa) runs its SQL and XA PREPAREs it. If
   * `work` returns, the transaction is submitted and every branch XA
   * COMMITted; if it throws, every branch is rolled back and the error rethrown.
   *
   * @typeParam T - what `work` returns
   * @param work - the business flow; gets the transaction to add branches on
   * @param options - gid, prepare-phase deadline (a branch prepared holds its locks until then at most), submit reason
   * @returns the gid, the status after submit (`committed`, or `committing`
   *   while the coordinator still retries phase two) and `work`'s result
   * @throws TryRejectedError (`op: 'prepare'`) when a participant refused (409), after
   *   the abort; TryFailedError when a prepare ended without a clear answer, after the
   *   abort; whatever `work` throws, after the abort; CoordinatorRefusedError /
   *   CoordinatorUnavailableError as for {@link DtxClient.tcc}; DtxError `INVALID_GID`
   *
   * @example
   * ```ts
   * const outcome = await dtx.xa(async (tx) => {
   *   await tx.prepareAll([
   *     { url: 'http://bank-a:4001/dtx/xa-debit', payload: { account: 'alice', amount: 30 } },
   *     { url: 'http://bank-b:4002/dtx/xa-credit', payload: { account: 'bob', amount: 30 } },
   *   ]);
   * }, { timeoutMs: 10_000 });
   * console.log(outcome.gid, outcome.status);   // 'committed' (or 'committing' while phase two is retried)
   * ```
   */
  async xa<T>(work: (tx: XaTransaction) => Promise<T>, options: TccOptions = {}): Promise<XaOutcome<T>> {
    return this.#runTwoPhase(XA_OPS, (transaction) => new XaTransaction(transaction), work, options);
  }

  /**
   * Run `work` inside a global FMT transaction: each `tx.execute` /
   * `tx.executeAll` in it registers its branches with the coordinator (the
   * first also begins the transaction), then calls their execute, where each
   * participant's FMT resource (defineFmt) runs its ordinary SQL and commits
   * it locally, keeping undo records of the rows it changed and holding their
   * global locks. If `work` returns, the transaction is submitted (the rows'
   * global locks are released, the undo records dropped); if it throws, every
   * branch's rows are restored from its undo records and the error rethrown.
   *
   * @typeParam T - what `work` returns
   * @param work - the business flow; gets the transaction to add branches on
   * @param options - gid, execute-phase deadline (rows stay globally locked until then at most), submit reason
   * @returns the gid, the status after submit (`committed`, or `committing`
   *   while the coordinator still retries phase two) and `work`'s result
   * @throws TryRejectedError (`op: 'execute'`) when a participant refused (409), after
   *   the abort; TryFailedError when an execute ended without a clear answer, after the
   *   abort; whatever `work` throws, after the abort; CoordinatorRefusedError /
   *   CoordinatorUnavailableError as for {@link DtxClient.tcc}; DtxError `INVALID_GID`
   *
   * @example
   * ```ts
   * const outcome = await dtx.fmt(async (tx) => {
   *   await tx.executeAll([
   *     { url: 'http://bank-a:4001/dtx/fmt-debit', payload: { account: 'alice', amount: 30 } },
   *     { url: 'http://bank-b:4002/dtx/fmt-credit', payload: { account: 'bob', amount: 30 } },
   *   ]);
   * });
   * console.log(outcome.gid, outcome.status);   // 'committed' (or 'committing' while phase two is retried)
   * ```
   */
  async fmt<T>(work: (tx: FmtTransaction) => Promise<T>, options: TccOptions = {}): Promise<FmtOutcome<T>> {
    return this.#runTwoPhase(FMT_OPS, (transaction) => new FmtTransaction(transaction), work, options);
  }

  /** `tcc()`, `xa()` and `fmt()`: begin with the first registration, run `work`, submit on return, abort on throw. */
  async #runTwoPhase<X extends TwoPhaseTransaction, T, S extends string>(
    ops: TwoPhaseOps,
    create: (options: TwoPhaseTransactionOptions) => X,
    work: (tx: X) => Promise<T>,
    options: TccOptions,
  ): Promise<{ gid: string; status: S; result: T }> {
    const gid = options.gid ?? uuidv7();
    if (!isValidGid(gid)) throw new DtxError('INVALID_GID', `gid ${JSON.stringify(gid)} must be 1-128 characters of [A-Za-z0-9_.-]`);
    const tx = create(this.#transactionOptions(gid, ops, { begun: false, branchPrefix: '', timeoutMs: options.timeoutMs, joinableBy: options.joinableBy }));
    let result: T;
    try {
      result = await work(tx);
    } catch (error) {
      await this.#abortAfter(tx, error);
      throw error;
    }
    await tx.ensureBegun();
    const submitted = await this.#coordinator.submit<S>(gid, { mode: ops.mode, ...(options.reason ? { reason: options.reason } : {}) });
    return { gid, status: submitted.status, result };
  }

  /**
   * Join a transaction begun elsewhere (a participant's try that needs
   * branches of its own): branches registered through it belong to `gid`.
   * Their ids are prefixed by `parentBranchId` so they never collide. The
   * transaction's initiator must have named this service in `joinableBy`
   * (else the coordinator refuses the registration: `403 NOT_OWNER`).
   *
   * @param gid - the transaction to join (a handler's `ctx.gid`)
   * @param parentBranchId - the joining branch's id (a handler's `ctx.branchId`)
   * @returns the transaction, to call `try` / `tryAll` on; it is neither submitted nor aborted from here
   */
  join(gid: string, parentBranchId: string): TccTransaction {
    return new TccTransaction(
      this.#transactionOptions(gid, TCC_OPS, { begun: true, branchPrefix: parentBranchId, timeoutMs: undefined, joinableBy: undefined }),
    );
  }

  /** Close the client's keep-alive connections; call it once, on shutdown. */
  async close(): Promise<void> {
    await this.#agent.close();
  }

  #transactionOptions(
    gid: string,
    ops: TwoPhaseOps,
    extra: { begun: boolean; branchPrefix: string; timeoutMs: number | undefined; joinableBy: readonly string[] | undefined },
  ): TwoPhaseTransactionOptions {
    return {
      gid,
      ops,
      coordinator: this.#coordinator,
      coordinatorUrl: this.options.coordinatorUrl,
      dispatcher: this.#agent,
      keyFor: typeof this.options.initiatorKey === 'function' ? this.options.initiatorKey : constantKey(this.options.initiatorKey),
      tryTimeoutMs: this.options.tryTimeoutMs ?? 10_000,
      now: this.options.now ?? Date.now,
      ...extra,
    };
  }

  /**
   * Start putting a saga together: add its steps with `.step(...)`, then
   * `.submit()`. The coordinator runs each step's action (in order, or as
   * their `dependsOn` allow) and, if one is refused, runs out of retries or
   * the deadline passes, compensates every step that ran, in reverse order.
   *
   * @param options - gid (default: a time-ordered UUID), the actions' deadline, the submit reason
   * @returns the saga to add steps to
   * @throws DtxError `INVALID_GID` on a malformed `options.gid`
   *
   * @example
   * ```ts
   * const outcome = await dtx
   *   .saga({ timeoutMs: 30_000 })
   *   .step('debit', { url: 'http://bank-a:4001/dtx/debit', payload: { account: 'alice', amount: 30 } })
   *   .step('credit', { url: 'http://bank-b:4002/dtx/credit', payload: { account: 'bob', amount: 30 } })
   *   .submit();
   * console.log(outcome.gid, outcome.status);   // 'succeeded', or 'compensated' if a step was refused
   * ```
   */
  saga(options: Partial<SagaOptions> = {}): Saga {
    const gid = options.gid ?? uuidv7();
    if (!isValidGid(gid)) throw new DtxError('INVALID_GID', `gid ${JSON.stringify(gid)} must be 1-128 characters of [A-Za-z0-9_.-]`);
    return new Saga(this.#coordinator, { ...options, gid });
  }

  /**
   * Start putting a transactional message together: add its receivers with
   * `.deliver(...)`, then `.commitWith(knex, work)`, which prepares it on the
   * coordinator, runs `work` in a local transaction with the message's sender
   * row, and submits it. The receivers get it exactly when that transaction
   * committed: a sender that dies before the submit is asked by the
   * coordinator at `checkUrl` (its defineMessageSender resource) after
   * `timeoutMs`.
   *
   * @param options - the check-back URL (required), gid (default: a time-ordered UUID),
   *   how long the coordinator waits for the submit, the earliest delivery time, a reason
   * @returns the message to add receivers to
   * @throws DtxError `INVALID_GID` on a malformed `options.gid`
   *
   * @example
   * ```ts
   * const outcome = await dtx
   *   .message({ checkUrl: 'http://orders:4003/dtx/orders-outbox/check', timeoutMs: 10_000 })
   *   .deliver('points', { url: 'http://loyalty:4004/dtx/award-points', payload: { account: 'alice', points: 30 } })
   *   .deliver('receipt', { deliverUrl: 'http://mailer:4005/hooks/receipt', payload: { account: 'alice' } })
   *   .commitWith(db, async (trx) => trx('orders').insert({ account: 'alice', total: 30 }));
   * console.log(outcome.gid, outcome.status);   // 'submitted', or 'prepared' if the submit did not get through
   * ```
   */
  message(options: Omit<MessageOptions, 'gid'> & { gid?: string }): Message {
    const gid = options.gid ?? uuidv7();
    if (!isValidGid(gid)) throw new DtxError('INVALID_GID', `gid ${JSON.stringify(gid)} must be 1-128 characters of [A-Za-z0-9_.-]`);
    return new Message(this.#coordinator, { ...options, gid }, this.options.now ?? Date.now);
  }

  /**
   * Abort after the function threw. If nothing was registered there is
   * nothing to abort. If the abort cannot be sent, the coordinator aborts
   * by itself at the deadline, so the original error is still what the
   * caller gets.
   */
  async #abortAfter(tx: TwoPhaseTransaction, cause: unknown): Promise<void> {
    if (!tx.begun) return;
    const reason = (cause instanceof Error ? cause.message : String(cause)).slice(0, 500);
    try {
      await this.#coordinator.abort(tx.gid, { mode: tx.mode, reason, waitMs: 0 });
    } catch (error) {
      if (error instanceof CoordinatorRefusedError && error.code === 'ILLEGAL_STATE') return;
      // Left to the coordinator's deadline; the caller still gets the original error.
    }
  }
}

function constantKey(key: string | null): (url: string) => string | null {
  return () => key;
}
