/**
 * Bearer tokens, looked up in constant time: every configured token is
 * compared (as a SHA-256 digest, so lengths never differ), so timing does
 * not tell which one nearly matched. Tokens are never logged.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (text: string) => createHash('sha256').update(text).digest();

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
    // The scheme name is case-insensitive (RFC 9110 §11.1).
    const match = /^bearer +(.+?) *$/i.exec(authorization ?? '');
    if (!match?.[1]) return null;
    const given = digest(match[1]);
    let found: T | null = null;
    for (const entry of this.#entries) {
      if (timingSafeEqual(entry.digest, given)) found = entry.holder;
    }
    return found;
  }
}
