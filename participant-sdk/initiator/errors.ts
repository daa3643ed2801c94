/**
 * Typed errors of the initiator API. Each carries the gid, so a caller can
 * always find the transaction again (query it, or hand it to an operator).
 */
import { DtxError } from '../errors.ts';

/** The first-phase call an initiator sends itself: TCC's try, XA's prepare, FMT's execute. */
export type FirstOp = 'try' | 'prepare' | 'execute';

/**
 * A participant refused a try (an XA branch: its prepare) with HTTP 409: the
 * transaction was aborted. `code` is the participant's (BranchRejectedError's
 * `code`, e.g. `INSUFFICIENT_FUNDS`).
 */
export class TryRejectedError extends DtxError {
  /**
   * @param gid - the aborted transaction
   * @param branchId - the refused branch
   * @param code - the participant's reply code
   * @param message - the participant's reply message
   * @param op - the refused call: `try` (TCC), `prepare` (XA) or `execute` (FMT)
   */
  constructor(
    readonly gid: string,
    readonly branchId: string,
    code: string,
    message: string,
    readonly op: FirstOp = 'try',
  ) {
    super(code, `${op} of branch ${branchId} in ${gid} was rejected: ${message}`);
  }
}

/** A try (an XA branch: its prepare) ended without a clear answer (error status, timeout, connection error): the transaction was aborted. */
export class TryFailedError extends DtxError {
  /**
   * @param gid - the aborted transaction
   * @param branchId - the branch whose try failed
   * @param httpStatus - the reply's status, or null when there was no reply
   * @param message - what happened
   * @param options - `cause`: the transport error; `op`: the failed call, `try` (default), `prepare` or `execute`
   */
  constructor(
    readonly gid: string,
    readonly branchId: string,
    readonly httpStatus: number | null,
    message: string,
    options?: { cause?: unknown; op?: FirstOp },
  ) {
    super('TRY_FAILED', `${options?.op ?? 'try'} of branch ${branchId} in ${gid} failed: ${message}`, options);
  }
}

/** The coordinator refused a call (4xx with `{code, message}`), e.g. submit after the deadline. */
export class CoordinatorRefusedError extends DtxError {
  /**
   * @param gid - the transaction concerned, when there is one
   * @param httpStatus - the 4xx status
   * @param code - the coordinator's reply code, e.g. `ILLEGAL_STATE`
   * @param message - the coordinator's reply message
   * @param status - the transaction's status when the coordinator said it
   */
  constructor(
    readonly gid: string | null,
    readonly httpStatus: number,
    code: string,
    message: string,
    /** The transaction's status when the coordinator said it. */
    readonly status: string | null,
  ) {
    super(code, message);
  }
}

/**
 * The coordinator could not be reached or answered 5xx, even after retries.
 * For a submit the outcome is unknown: the decision may or may not be
 * logged; query the transaction by `gid` before doing anything else.
 */
export class CoordinatorUnavailableError extends DtxError {
  /** The coordinator's own code when it answered 503 (`LOG_UNAVAILABLE`, `QUEUE_UNAVAILABLE`), else null. */
  readonly replyCode: string | null;

  /**
   * @param gid - the transaction concerned, when there is one
   * @param message - what failed
   * @param options - `cause`: the last failure; `replyCode`: the 503's code
   */
  constructor(
    readonly gid: string | null,
    message: string,
    options?: { cause?: unknown; replyCode?: string | null },
  ) {
    super('COORDINATOR_UNAVAILABLE', message, options);
    this.replyCode = options?.replyCode ?? null;
  }
}

/**
 * A transactional message's local transaction was refused: the message was
 * dropped before it could commit (the coordinator's check-back found no
 * committed transaction and said so, or the message was already aborted).
 * Nothing of the work committed; nothing is delivered. Send a new message
 * (another gid) to try again.
 */
export class MessageAbortedError extends DtxError {
  /**
   * @param gid - the dropped message
   * @param message - what happened
   */
  constructor(
    readonly gid: string,
    message: string,
  ) {
    super('MESSAGE_ABORTED', message);
  }
}

/**
 * A transactional message whose local transaction already committed, sent
 * again with the same gid: the work was not run again (it would apply
 * twice). The message itself is delivered once the coordinator has it
 * submitted (it was submitted again on the way; else the check-back does it).
 */
export class MessageAlreadyCommittedError extends DtxError {
  /**
   * @param gid - the message
   * @param message - what happened
   */
  constructor(
    readonly gid: string,
    message: string,
  ) {
    super('MESSAGE_ALREADY_COMMITTED', message);
  }
}
