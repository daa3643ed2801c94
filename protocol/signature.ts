/**
 * HMAC signatures on dtx calls to participants (try from the initiator;
 * confirm, cancel and the other phase-two ops from the coordinator).
 *
 * The signed string binds the key to everything that says where a call goes,
 * what it asks and for whom: method, host, path (resource and op), gid,
 * branch, op, the coordinator header, the caller header (the service the
 * call acts for), a timestamp and a digest of the exact body bytes.
 * A captured call therefore cannot be replayed against another resource,
 * another op or (with per-participant keys, or a participant that pins its
 * public URL) another participant, nor with another payload, nor after
 * `maxSkewMs`.
 *
 * ```
 * signed    = "v3" LF timestamp LF METHOD LF host LF path LF gid LF branch-id LF op LF coordinator LF caller LF hex(sha256(body))
 * signature = "v3=" + hex(hmac_sha256(utf8(key), utf8(signed)))        (lower-case hex)
 * ```
 * docs/protocol.md works one example through; a unit test checks it.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { BranchOp } from './wire.ts';

/** Everything a participant call's signature covers (see the module comment for the canonical string). */
export interface SignedCall {
  /** HTTP method, upper-cased when signed (always POST today). */
  method: string;
  /** The URL's authority as sent in the Host header: `host[:port]`, lower-cased when signed; the port only when not the scheme's default. */
  host: string;
  /** The URL's path, as sent (percent-encoding kept), without the query. */
  path: string;
  /** The `dtx-gid` header. */
  gid: string;
  /** The `dtx-branch-id` header. */
  branchId: string;
  /** The `dtx-op` header. */
  op: BranchOp;
  /** Milliseconds since the epoch, as sent in the timestamp header. */
  timestamp: number;
  /** The `dtx-coordinator` header, or an empty string when the call carries none. */
  coordinator: string;
  /** The `dtx-caller` header (the service the call acts for), or an empty string when the call carries none. */
  caller: string;
  /** The exact request body bytes (an empty string for no body). */
  body: string | Buffer;
}

/** Version prefix of participant call signatures (`v3=<hex>`); a new canonical string gets a new version. */
export const SIGNATURE_VERSION = 'v3';

/** The exact string that is signed (exported for the protocol's worked example and its test). */
export function canonicalCall(call: SignedCall): string {
  const bodyDigest = createHash('sha256').update(call.body).digest('hex');
  return [
    SIGNATURE_VERSION,
    call.timestamp,
    call.method.toUpperCase(),
    call.host.toLowerCase(),
    call.path,
    call.gid,
    call.branchId,
    call.op,
    call.coordinator,
    call.caller,
    bodyDigest,
  ].join('\n');
}

/**
 * The `dtx-signature` header value for a call: for anything that calls a
 * participant itself (the coordinator and the initiator use callHeaders, which
 * calls this).
 *
 * @param secret - the participant's key
 * @param call - what the call carries
 * @returns `v3=` followed by the lower-case hex HMAC-SHA256
 */
export function sign(secret: string, call: SignedCall): string {
  const mac = createHmac('sha256', secret).update(canonicalCall(call)).digest('hex');
  return `${SIGNATURE_VERSION}=${mac}`;
}

/** The result of {@link verify} / verifyWebhook: ok, or why not. */
export type SignatureCheck = { ok: true } | { ok: false; reason: 'missing' | 'malformed' | 'stale' | 'mismatch' };

/**
 * Verify a call's signature. `now` is injected so the freshness window can
 * be tested; `maxSkewMs` bounds both clock skew and replay.
 * The comparison is constant-time.
 *
 * @param secret - the participant's key
 * @param call - what the call carried, as received
 * @param signature - the `dtx-signature` header, if any
 * @param now - the current time, epoch milliseconds
 * @param maxSkewMs - the accepted distance between the call's timestamp and `now`
 * @returns `{ ok: true }`, or the reason of the refusal
 */
export function verify(secret: string, call: SignedCall, signature: string | undefined, now: number, maxSkewMs: number): SignatureCheck {
  if (!signature) return { ok: false, reason: 'missing' };
  if (!Number.isFinite(call.timestamp) || !signature.startsWith(`${SIGNATURE_VERSION}=`)) {
    return { ok: false, reason: 'malformed' };
  }
  if (Math.abs(now - call.timestamp) > maxSkewMs) return { ok: false, reason: 'stale' };
  const expected = Buffer.from(sign(secret, call));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
    return { ok: false, reason: 'mismatch' };
  }
  return { ok: true };
}

/** The host and path a signature covers, from the URL a call is sent to. */
export function signedTarget(url: string | URL): { host: string; path: string } {
  const parsed = typeof url === 'string' ? new URL(url) : url;
  return { host: parsed.host, path: parsed.pathname };
}
