/** PostgreSQL error classification by SQLSTATE (the `code` both node-postgres and PGlite set), never by message text. */

const UNIQUE_VIOLATION = '23505';
const SERIALIZATION_FAILURE = '40001';
const DEADLOCK_DETECTED = '40P01';

/** The SQLSTATE of a server error, or undefined for anything else (a socket error's code is not one). */
export function sqlstateOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, severity } = error as { code?: unknown; severity?: unknown };
  // Both drivers set `severity` on an error the server sent; a Node socket error has none.
  return typeof code === 'string' && typeof severity === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

export function isUniqueViolation(error: unknown): boolean {
  return sqlstateOf(error) === UNIQUE_VIOLATION;
}

/** Errors after which running the whole transaction again is correct: the server rolled it back for a conflict. */
export function isRetryableConflict(error: unknown): boolean {
  const state = sqlstateOf(error);
  return state === SERIALIZATION_FAILURE || state === DEADLOCK_DETECTED;
}

/**
 * Whether the server ended the session with this error (sent as FATAL): a
 * connection exception (class 08), an operator's or the server's shutdown,
 * a crash or a session timeout (57P01–57P05), an idle transaction ended
 * (25P03). The connection must not be used again, though node-postgres
 * learns that it closed only a moment after the error.
 */
export function endsSession(error: unknown): boolean {
  const state = sqlstateOf(error);
  return state !== undefined && (state.startsWith('08') || state.startsWith('57P') || state === '25P03');
}
