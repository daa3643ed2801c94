/**
 * Typed refusals of the transaction API. The API layer maps `code` to an
 * HTTP status; nothing branches on `message`.
 */
export type RefusalCode =
  | 'NOT_FOUND'
  | 'ILLEGAL_STATE'
  | 'GID_CONFLICT'
  | 'BRANCH_CONFLICT'
  | 'DEADLINE_PASSED'
  | 'UNSUPPORTED_MODE'
  /** A branch whose operations are not those of the transaction's mode. */
  | 'INVALID_OPERATIONS'
  /** A saga's steps that cannot run: a step twice, a prerequisite that is not a step, a cycle, an option out of range. */
  | 'INVALID_STEPS'
  /** A branch URL that does not parse as an absolute http(s) URL, carries credentials or has an over-long host. */
  | 'INVALID_URL'
  /** A branch URL outside every participant prefix the coordinator allows. */
  | 'PARTICIPANT_NOT_ALLOWED'
  /** A mode or a branch URL outside what the caller's token may reach (DTX_API_SCOPES). */
  | 'OUT_OF_SCOPE'
  /** A transaction begun by another caller: only its own caller decides it, or registers in it unless named to join. */
  | 'NOT_OWNER'
  /** A branch the transaction does not have (a row lock asked for it). */
  | 'NOT_REGISTERED';

export class TransactionRefusedError extends Error {
  override readonly name = 'TransactionRefusedError';
  constructor(
    readonly code: RefusalCode,
    message: string,
    readonly gid: string,
    readonly status?: string,
  ) {
    super(message);
  }
}
