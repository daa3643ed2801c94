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
  | 'PARTICIPANT_NOT_ALLOWED';

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
