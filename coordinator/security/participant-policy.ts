/**
 * Which participant URLs the coordinator may call, and with which key.
 *
 * The coordinator POSTs signed calls to the URLs callers register, so a URL
 * is a target chosen by whoever can reach the API: without a list, a caller
 * could make the coordinator call any address (and sign the call). Each
 * entry of DTX_PARTICIPANTS is a URL prefix, optionally with the key of the
 * participants under it:
 *
 *   http://127.0.0.1:*\/            any port on loopback, the shared DTX_SECRET
 *   https://bank-a.internal/dtx/=k1  that mount point only, signed with key k1
 *
 * Pure: parsing and matching only; the service and the branch client use it.
 */
import { cutAt, listEntries } from '../setting-lists.ts';

/** A URL prefix: scheme, host, port (or any) and path. */
export interface UrlPrefix {
  protocol: 'http:' | 'https:';
  hostname: string;
  /** The port to match, or '*' for any. */
  port: string;
  /** Path prefix, ending with '/'. */
  path: string;
}

/** One DTX_PARTICIPANTS entry: a prefix and its key. */
export interface AllowedPrefix extends UrlPrefix {
  /** The entry as configured, without its key (safe to log). */
  text: string;
  /** Key for calls under this prefix; null means the shared DTX_SECRET. */
  key: string | null;
}

export type UrlRefusal = { code: 'INVALID_URL' | 'PARTICIPANT_NOT_ALLOWED'; message: string };

/** The column that records a branch's participant (`scheme://host:port`) holds this much. */
const PARTICIPANT_MAX_LENGTH = 255;

const DEFAULT_PORTS: Record<string, string> = { 'http:': '80', 'https:': '443' };

/**
 * A percent-encoded `/`, `\` or `.` in a path. URL normalisation leaves them
 * encoded, so `/dtx/..%2fadmin` lies under `/dtx/`; a participant's server
 * or a proxy before it may decode them and climb out of that prefix.
 */
const ENCODED_SEPARATOR = /%(?:2f|5c|2e)/i;

/** DTX_PARTICIPANTS: comma-separated `prefix[=key]`; problems are reported without echoing keys. */
export function parseAllowList(text: string, problems: string[]): AllowedPrefix[] {
  const entries: AllowedPrefix[] = [];
  for (const [index, raw] of listEntries(text).entries()) {
    const [prefix, key] = cutAt(raw, '=');
    const parsed = parsePrefix(prefix);
    if (!parsed) {
      problems.push(
        `DTX_PARTICIPANTS entry #${index + 1} must be an http(s) URL prefix such as http://host:port/path/ (port may be *), without credentials, query or fragment`,
      );
      continue;
    }
    if (key !== null && key.length < 16) {
      problems.push(`DTX_PARTICIPANTS entry #${index + 1} (${prefix}) has a key shorter than 16 characters`);
      continue;
    }
    entries.push({ ...parsed, text: prefix, key });
  }
  return entries;
}

/** A prefix as DTX_PARTICIPANTS (or DTX_API_SCOPES) writes it, parsed; null when it is not one. */
export function parsePrefix(prefix: string): UrlPrefix | null {
  // `*` is not a valid port for URL: swap it for a placeholder to parse the rest.
  const match = /^(https?):\/\/([^/:?#@]+)(?::(\d{1,5}|\*))?(\/[^?#]*)?$/i.exec(prefix);
  if (!match) return null;
  const [, scheme, host, port, path] = match as unknown as [string, string, string, string | undefined, string | undefined];
  let url: URL;
  try {
    url = new URL(`${scheme}://${host}${port && port !== '*' ? `:${port}` : ''}${path ?? '/'}`);
  } catch {
    return null;
  }
  const protocol = url.protocol as 'http:' | 'https:';
  return {
    protocol,
    hostname: url.hostname,
    port: port === '*' ? '*' : url.port || DEFAULT_PORTS[protocol]!,
    path: url.pathname.endsWith('/') ? url.pathname : `${url.pathname}/`,
  };
}

/**
 * Which participant URLs may be registered, and each one's signing key:
 * DTX_PARTICIPANTS and DTX_SECRET, as the engine and the branch client use them.
 */
export class ParticipantPolicy {
  /**
   * @param entries the allow-list; longest path first when several match
   * @param sharedKey DTX_SECRET (null: unsigned calls, development only)
   * @param allowAny development mode: any http(s) URL, signed with the shared key
   */
  constructor(
    private readonly entries: readonly AllowedPrefix[],
    private readonly sharedKey: string | null,
    private readonly allowAny: boolean,
  ) {}

  /** Checks a URL a caller registers; `field` names it in the refusal. */
  check(field: string, text: string): UrlRefusal | null {
    const url = parseTarget(text);
    if (!url) return { code: 'INVALID_URL', message: `${field} is not an absolute http(s) URL` };
    if (url.username || url.password) return { code: 'INVALID_URL', message: `${field} must not carry credentials` };
    if (`${url.protocol}//${url.host}`.length > PARTICIPANT_MAX_LENGTH) {
      return { code: 'INVALID_URL', message: `${field} is too long in its scheme, host and port (at most ${PARTICIPANT_MAX_LENGTH} characters)` };
    }
    if (ENCODED_SEPARATOR.test(url.pathname)) {
      return { code: 'INVALID_URL', message: `${field} must not hold an encoded "/", "\\" or "." (%2F, %5C, %2E) in its path` };
    }
    if (this.allowAny || this.#entryFor(url)) return null;
    return { code: 'PARTICIPANT_NOT_ALLOWED', message: `${field} is not under any participant prefix the coordinator allows (DTX_PARTICIPANTS)` };
  }

  /** The key to sign a call to `url` with; null when calls go unsigned (development mode without a secret). */
  keyFor(url: string | URL): string | null {
    const parsed = typeof url === 'string' ? parseTarget(url) : url;
    const entry = parsed ? this.#entryFor(parsed) : undefined;
    return entry?.key ?? this.sharedKey;
  }

  #entryFor(url: URL): AllowedPrefix | undefined {
    let best: AllowedPrefix | undefined;
    for (const entry of this.entries) {
      if (!matchesPrefix(entry, url)) continue;
      if (!best || entry.path.length > best.path.length) best = entry;
    }
    return best;
  }
}

function parseTarget(text: string): URL | null {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : null;
  } catch {
    return null;
  }
}

/** Whether `url` lies under `entry`: same scheme, host and port (or any port), path under its path. */
export function matchesPrefix(entry: UrlPrefix, url: URL): boolean {
  if (url.protocol !== entry.protocol || url.hostname !== entry.hostname) return false;
  if (entry.port !== '*' && (url.port || DEFAULT_PORTS[url.protocol]) !== entry.port) return false;
  return url.pathname.startsWith(entry.path) || `${url.pathname}/` === entry.path;
}
