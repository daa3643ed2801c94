/**
 * Free text as the PostgreSQL log keeps it. PostgreSQL's text types refuse
 * the NUL character (U+0000), which a participant's reply quoted in an error
 * or a caller's reason may hold and which MySQL keeps: the write would fail,
 * again on every retry. It becomes U+FFFD, and the text is clipped as on
 * every log.
 */
import { clip } from '../../domain/transaction.ts';

/** `text` clipped to `max` characters (none: kept whole), every NUL replaced by U+FFFD; null stays null. */
export function storable(text: string | null, max?: number): string | null {
  const clipped = max === undefined ? text : clip(text, max);
  return clipped === null ? null : clipped.replaceAll('\u0000', '\uFFFD');
}

/** The lengths the log clips free text to (the same on every store). */
export const TEXT_LIMITS = { reason: 512, actor: 128, message: 1024 } as const;
