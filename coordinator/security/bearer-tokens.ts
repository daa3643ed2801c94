/**
 * Bearer tokens, looked up in constant time: every configured token is
 * compared (as a SHA-256 digest, so lengths never differ), so timing does
 * not tell which one nearly matched. Tokens are never logged.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (text: string) => createHash('sha256').update(text).digest();

const SCHEME = 'bearer';
const SPACE = 0x20;
/** What `.` in a pattern never matched: a token has never spanned a line break, and still does not. */
const LINE_BREAK = /[\n\r\u2028\u2029]/;

/**
 * The token of an `authorization: Bearer <token>` header, or null: the scheme
 * `bearer` in any case (RFC 9110 §11.1), one or more spaces, then the token,
 * trailing spaces not part of it; anything else is no bearer token.
 *
 * One pass over the header with no backtracking: it is read before any
 * authentication, so its cost must stay linear in its length whatever a
 * caller sends (a backtracking pattern spent a quarter of a second of CPU on
 * a 16 KiB run of spaces between two characters).
 */
export function bearerToken(authorization: string | undefined): string | null {
  if (authorization === undefined || authorization.length <= SCHEME.length) return null;
  for (let i = 0; i < SCHEME.length; i++) {
    // ASCII case folding only: setting bit 0x20 lower-cases these letters and maps no other character onto them.
    if ((authorization.charCodeAt(i) | 0x20) !== SCHEME.charCodeAt(i)) return null;
  }
  let start = SCHEME.length;
  if (authorization.charCodeAt(start) !== SPACE) return null;
  while (start < authorization.length && authorization.charCodeAt(start) === SPACE) start++;
  let end = authorization.length;
  while (end > start && authorization.charCodeAt(end - 1) === SPACE) end--;
  if (start === end) return null;
  const token = authorization.slice(start, end);
  return LINE_BREAK.test(token) ? null : token;
}

export class BearerTokens<T> {
  readonly #entries: { digest: Buffer; holder: T }[];

  constructor(entries: readonly { token: string; holder: T }[]) {
    this.#entries = entries.map((e) => ({ digest: digest(e.token), holder: e.holder }));
  }

  get size(): number {
    return this.#entries.length;
  }

  /** The holder of the token in an `authorization: Bearer <token>` header, or null. */
  identify(authorization: string | undefined): T | null {
    const token = bearerToken(authorization);
    if (token === null) return null;
    const given = digest(token);
    let found: T | null = null;
    for (const entry of this.#entries) {
      if (timingSafeEqual(entry.digest, given)) found = entry.holder;
    }
    return found;
  }
}
