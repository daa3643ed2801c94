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
  | 'UNSUPPORTED_MODE';

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
