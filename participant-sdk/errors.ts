/**
 * Typed errors of the participant side of the SDK.
 *
 * Callers branch on the class (or on `code`), never on the message. Each error
 * carries the fields a caller needs to act on it. The initiator part of the SDK
 * defines its own errors elsewhere, on the same `DtxError` base.
 */
import type { SignatureCheck } from './protocol/signature.ts';

/** Base of every error the SDK throws on purpose. `code` is stable and machine-readable. */
export class DtxError extends Error {
  readonly code: string;

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
 * the transaction; for confirm/cancel it keeps retrying and alerts an operator.
 * The local DB transaction (business rows and barrier rows) is rolled back.
 */
export class BranchRejectedError extends DtxError {
  /** Anything JSON-serialisable that helps the caller; it is logged, not sent. */
  readonly details: unknown;

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
  constructor(message = 'the branch is still in progress', options: { cause?: unknown } = {}) {
    super('ONGOING', message, options);
  }
}

export type SignatureFailure = Extract<SignatureCheck, { ok: false }>['reason'];

/** A call whose signature is missing, malformed, too old or wrong. Replied 401. */
export class SignatureError extends DtxError {
  readonly reason: SignatureFailure;

  constructor(reason: SignatureFailure, message = `signature ${reason}`) {
    super(`SIGNATURE_${reason.toUpperCase()}`, message);
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
  constructor(cause: unknown) {
    super('TRANSACTION_LOST', 'the local transaction of this branch call was lost (rolled back by the database); no statement can run in it', { cause });
  }
}

/** Which barrier input was refused. */
export type BarrierInputField = 'gid' | 'branchId' | 'op' | 'table';

/**
 * A gid, branch id, op or table name the barrier refuses. Raised before any
 * INSERT: MySQL's INSERT IGNORE would otherwise truncate an over-long id into
 * another branch's key and report it as a duplicate. Replied 400.
 */
export class BarrierInputError extends DtxError {
  readonly field: BarrierInputField;
  /** The refused value, cut to 200 characters so that it is safe to log. */
  readonly value: string;

  constructor(field: BarrierInputField, value: unknown, why: string) {
    const shown = String(value).slice(0, 200);
    super('BAD_BARRIER_INPUT', `invalid ${field}: ${why}`);
    this.field = field;
    this.value = shown;
  }
}

/** The participant was set up wrongly (bad resource name, empty secret...). Thrown at start, never per call. */
export class ParticipantConfigError extends DtxError {
  readonly option: string;

  constructor(option: string, message: string) {
    super('PARTICIPANT_CONFIG', message);
    this.option = option;
  }
}
