/**
 * Global row locks (FMT): the participant that executed a branch asks the
 * coordinator to lock the rows it changed, before its local commit, with
 *
 *   POST <coordinator>/v1/transactions/<gid>/branches/<branch-id>/locks
 *   {"keys":[{"resource":"bank-a","table":"accounts","pk":["alice"]}, …]}
 *
 * signed with the key the coordinator signs its calls to that participant
 * with (only the two of them hold it): the coordinator checks the signature
 * with the key of the branch's registered URL, so only the branch's own
 * participant locks rows for it.
 *
 * ```
 * signed    = "dtx-row-locks" LF timestamp LF gid LF branch-id LF hex(sha256(body))
 * signature = "v1=" + hex(hmac_sha256(utf8(key), utf8(signed)))
 * ```
 * sent as `dtx-signature`, with the timestamp in `dtx-timestamp`.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { SignatureCheck } from './signature.ts';

/** One row of a participant's database: `resource` names the database (the participant's choice), `pk` the primary key's values in column order. */
export interface RowKey {
  resource: string;
  table: string;
  pk: readonly (string | number | null)[];
}

/** Bounds of a lock request (the coordinator refuses beyond them with 400). */
export const ROW_LOCK_LIMITS = {
  keysPerRequest: 1_000,
  resourceMaxLength: 128,
  /** A schema-qualified name (`database.table`) fits. */
  tableMaxLength: 256,
  /** Of the key's canonical JSON (`["alice"]`). */
  pkMaxLength: 1_024,
} as const;

/** The canonical text of a row's primary key, as the coordinator keys its lock: the JSON array of its values. */
export function canonicalPk(pk: RowKey['pk']): string {
  return JSON.stringify(pk);
}

/** What a lock request's signature covers. */
export interface RowLockRequest {
  gid: string;
  branchId: string;
  /** Epoch milliseconds, as sent in `dtx-timestamp`. */
  timestamp: number;
  /** The exact body bytes. */
  body: string | Buffer;
}

const ROW_LOCK_SIGNATURE_VERSION = 'v1';

/** The exact string that is signed (exported for the protocol's worked example and its test). */
export function canonicalRowLockRequest(request: RowLockRequest): string {
  const digest = createHash('sha256').update(request.body).digest('hex');
  return ['dtx-row-locks', request.timestamp, request.gid, request.branchId, digest].join('\n');
}

/** The `dtx-signature` of a lock request, with the key the coordinator signs its calls to this participant with. */
export function signRowLockRequest(key: string, request: RowLockRequest): string {
  return `${ROW_LOCK_SIGNATURE_VERSION}=${createHmac('sha256', key).update(canonicalRowLockRequest(request)).digest('hex')}`;
}

/** Whether `signature` is the participant's for `request`, within `maxSkewMs` of `now`. Constant-time. */
export function verifyRowLockRequest(key: string, request: RowLockRequest, signature: string | undefined, now: number, maxSkewMs: number): SignatureCheck {
  if (!signature) return { ok: false, reason: 'missing' };
  if (!Number.isFinite(request.timestamp) || !signature.startsWith(`${ROW_LOCK_SIGNATURE_VERSION}=`)) return { ok: false, reason: 'malformed' };
  if (Math.abs(now - request.timestamp) > maxSkewMs) return { ok: false, reason: 'stale' };
  const expected = Buffer.from(signRowLockRequest(key, request));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given) ? { ok: true } : { ok: false, reason: 'mismatch' };
}
