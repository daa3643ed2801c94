/** MySQL error classification by errno, never by message text. */
const ER_DUP_ENTRY = 1062;
const ER_LOCK_WAIT_TIMEOUT = 1205;
const ER_LOCK_DEADLOCK = 1213;

function errnoOf(error: unknown): number | undefined {
  return typeof error === 'object' && error !== null && 'errno' in error ? Number((error as { errno: unknown }).errno) : undefined;
}

export function isDuplicateKey(error: unknown): boolean {
  return errnoOf(error) === ER_DUP_ENTRY;
}

/** Errors after which re-running the whole transaction is correct. */
export function isRetryableConflict(error: unknown): boolean {
  const errno = errnoOf(error);
  return errno === ER_LOCK_DEADLOCK || errno === ER_LOCK_WAIT_TIMEOUT;
}
