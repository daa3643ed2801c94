/**
 * HMAC signatures on dtx calls (brief §7).
 *
 * The signed string binds the shared secret to the gid, branch, op, a
 * timestamp and a digest of the body, so a captured call cannot be replayed
 * for another branch or op, nor after `maxSkewMs`, nor with another payload.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { BranchOp } from './wire.ts';

export interface SignedCall {
  gid: string;
  branchId: string;
  op: BranchOp;
  /** Milliseconds since the epoch, as sent in the timestamp header. */
  timestamp: number;
  /** The exact request body bytes (an empty string for no body). */
  body: string | Buffer;
}

export const SIGNATURE_VERSION = 'v1';

function canonical(call: SignedCall): string {
  const bodyDigest = createHash('sha256').update(call.body).digest('hex');
  return [SIGNATURE_VERSION, call.timestamp, call.gid, call.branchId, call.op, bodyDigest].join('\n');
}

/** The signature header value for a call. */
export function sign(secret: string, call: SignedCall): string {
  const mac = createHmac('sha256', secret).update(canonical(call)).digest('hex');
  return `${SIGNATURE_VERSION}=${mac}`;
}

export type SignatureCheck =
  | { ok: true }
  | { ok: false; reason: 'missing' | 'malformed' | 'stale' | 'mismatch' };

/**
 * Verify a call's signature. `now` is injected so the freshness window can
 * be tested; `maxSkewMs` bounds both clock skew and replay.
 */
export function verify(
  secret: string,
  call: SignedCall,
  signature: string | undefined,
  now: number,
  maxSkewMs: number,
): SignatureCheck {
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
