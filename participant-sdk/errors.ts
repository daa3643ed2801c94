/**
 * Typed errors of the participant side of the SDK.
 *
 * Callers branch on the class (or on `code`), never on the message. Each error
 * carries the fields a caller needs to act on it. The initiator part of the SDK
 * defines its own errors elsewhere, on the same `DtxError` base.
 */
import type { SignatureCheck } from '@dtx/protocol';

/**
 * Base of every error the SDK throws on purpose, so that one `instanceof
 * DtxError` tells dtx's own failures from anything else.
 *
 * @example
 * ```ts
 * import { DtxError } from '@dtx/participant-sdk';
 *
 * try {
 *   await dtx.tcc(work);
 * } catch (error) {
 *   if (error instanceof DtxError) console.log(error.code); // e.g. INSUFFICIENT_FUNDS, COORDINATOR_UNAVAILABLE
 *   throw error;
 * }
 * ```
 */
export class DtxError extends Error {
  /** Stable, machine-readable reason (upper snake case); branch on it, never on the message. */
  readonly code: string;

  /**
   * @param code - the stable reason, see {@link DtxError.code}
   * @param message - for people and logs
   * @param options - `cause`: the error this one wraps
   */
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    // Subclasses get their own name without repeating it in every constructor.
    this.name = new.target.name;
  }
}

/**
 * The business said no (insufficient funds, unknown account...). A handler
 * throws it to make the SDK reply 409: for try/action the coordinator aborts
 * the transaction (a saga rolls back); for confirm/cancel/compensate it keeps
 * retrying and alerts an operator: those must not refuse.
 * The local DB transaction (business rows and barrier rows) is rolled back.
 */
export class BranchRejectedError extends DtxError {
  /** Anything JSON-serialisable that helps the caller; it is logged, not sent. */
  readonly details: unknown;

  /**
   * @param message - why the business said no; sent to the caller in the 409 body
   * @param options - `code`: the reply's code (default `REJECTED`; the initiator's
   *   TryRejectedError carries it as its `code`); `details`: logged only; `cause`: the wrapped error
   *
   * @example
   * ```ts
   * import { BranchRejectedError } from '@dtx/participant-sdk';
   *
   * if (changed === 0) throw new BranchRejectedError('insufficient funds', { code: 'INSUFFICIENT_FUNDS' });
   * ```
   */
  constructor(message: string, options: { code?: string; details?: unknown; cause?: unknown } = {}) {
    super(options.code ?? 'REJECTED', message, { cause: options.cause });
    this.details = options.details;
  }
}

/**
 * The branch is not finished yet (for example it waits on an external system).
 * The SDK replies 425 and the coordinator asks again at its normal interval.
 * The local DB transaction is rolled back, so the next call runs the handler again.
 */
export class BranchOngoingError extends DtxError {
  /**
   * @param message - for the participant's logs and the 425 body
   * @param options - `cause`: the wrapped error
   */
  constructor(message = 'the branch is still in progress', options: { cause?: unknown } = {}) {
    super('ONGOING', message, options);
  }
}

/**
 * Why a signature was refused: `missing`, `malformed`, `stale` (outside the allowed clock skew),
 * `mismatch`, or `unknown-caller` (no key here may sign this op for the call's `dtx-caller`: a try
 * from an initiator without a key in `initiatorKeys`).
 */
export type SignatureFailure = Extract<SignatureCheck, { ok: false }>['reason'] | 'unknown-caller';

/** A call whose signature is missing, malformed, too old, wrong, or by a signer with no key for its op. Replied 401. */
export class SignatureError extends DtxError {
  /** Which check failed; the code is `SIGNATURE_<REASON>`. */
  readonly reason: SignatureFailure;

  /**
   * @param reason - which check failed
   * @param message - for logs and the 401 body
   */
  constructor(reason: SignatureFailure, message = `signature ${reason}`) {
    super(`SIGNATURE_${reason.toUpperCase().replace('-', '_')}`, message);
    this.reason = reason;
  }
}

/**
 * A statement refused without being sent: an earlier statement of the same
 * branch call lost its local transaction (deadlock, lock wait timeout, lost
 * connection), so the database already rolled back everything the call did.
 * Whatever the handler does with this error, the call fails with `cause` and
 * is replayed or answered as unknown (barrier/lost-transaction.ts).
 */
export class TransactionLostError extends DtxError {
  /** @param cause - the statement's error that lost the transaction */
  constructor(cause: unknown) {
    super('TRANSACTION_LOST', 'the local transaction of this branch call was lost (rolled back by the database); no statement can run in it', { cause });
  }
}

/** Which barrier input was refused. */
export type BarrierInputField = 'gid' | 'branchId' | 'op' | 'table' | 'coordinator';

/**
 * A gid, branch id, op, table name or XA prepare's coordinator URL the
 * barrier refuses. Raised before any INSERT: MySQL's INSERT IGNORE would
 * otherwise truncate an over-long id into another branch's key and report it
 * as a duplicate. Replied 400.
 */
export class BarrierInputError extends DtxError {
  /** The refused input. */
  readonly field: BarrierInputField;
  /** The refused value, cut to 200 characters so that it is safe to log. */
  readonly value: string;

  /**
   * @param field - the refused input
   * @param value - its value (kept cut to 200 characters)
   * @param why - what was expected, for the message
   */
  constructor(field: BarrierInputField, value: unknown, why: string) {
    const shown = String(value).slice(0, 200);
    super('BAD_BARRIER_INPUT', `invalid ${field}: ${why}`);
    this.field = field;
    this.value = shown;
  }
}

/** The participant was set up wrongly (bad resource name, missing or empty key...). Thrown at start, never per call. */
export class ParticipantConfigError extends DtxError {
  /** The option at fault, e.g. `coordinatorKey`, `initiatorKeys`, `resources`, `knex`. */
  readonly option: string;

  /**
   * @param option - the option at fault
   * @param message - what is wrong with it
   */
  constructor(option: string, message: string) {
    super('PARTICIPANT_CONFIG', message);
    this.option = option;
  }
}
