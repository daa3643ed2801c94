/**
 * Signed webhooks from the coordinator (the alert hook): the
 * same HMAC-SHA256 with the shared secret as participant calls, over a
 * canonical string of its own, so that a webhook signature can never be
 * taken for a confirm/cancel signature or the reverse.
 *
 * ```
 * signed = "dtx-webhook-v1\n" + timestamp + "\n" + event + "\n" + delivery + "\n" + hex(sha256(body))
 * dtx-signature = "v1=" + hex(hmac_sha256(secret, signed))
 * ```
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { SignatureCheck } from './signature.ts';

/** Webhooks keep their own version: their canonical string never changed. */
const SIGNATURE_VERSION = 'v1';

/** Headers of a webhook POST. */
export const WEBHOOK_HEADERS = {
  /** What happened, e.g. `needs-attention`. */
  event: 'dtx-event',
  /** Id of this notification, the same on every retry of it: receivers deduplicate on it. */
  delivery: 'dtx-delivery',
  /** Sender's clock at this attempt, epoch ms. */
  timestamp: 'dtx-timestamp',
  /** `v1=` + hex HMAC, when the coordinator has a secret. */
  signature: 'dtx-signature',
} as const;

/** The events the coordinator sends webhooks for: a transaction was flagged as needing an operator. */
export type WebhookEvent = 'needs-attention';

/** Everything a webhook signature covers. */
export interface SignedWebhook {
  /** The `dtx-event` header. */
  event: string;
  /** The `dtx-delivery` header. */
  delivery: string;
  /** The `dtx-timestamp` header, epoch milliseconds. */
  timestamp: number;
  /** The exact body bytes. */
  body: string | Buffer;
}

const DOMAIN = 'dtx-webhook-v1';

function canonical(webhook: SignedWebhook): string {
  const bodyDigest = createHash('sha256').update(webhook.body).digest('hex');
  return [DOMAIN, webhook.timestamp, webhook.event, webhook.delivery, bodyDigest].join('\n');
}

/**
 * The `dtx-signature` value of a webhook.
 *
 * @param secret - the coordinator's DTX_SECRET
 * @param webhook - what the webhook carries
 * @returns `v1=` followed by the lower-case hex HMAC-SHA256
 */
export function signWebhook(secret: string, webhook: SignedWebhook): string {
  return `${SIGNATURE_VERSION}=${createHmac('sha256', secret).update(canonical(webhook)).digest('hex')}`;
}

/**
 * Check a received webhook: for a receiver written in TypeScript. Read the
 * raw body (before JSON parsing) and the four headers; refuse anything not ok.
 *
 * @param secret - the coordinator's DTX_SECRET
 * @param webhook - event, delivery and timestamp headers and the raw body, as received
 * @param signature - the `dtx-signature` header, if any
 * @param now - the current time, epoch milliseconds
 * @param maxSkewMs - the accepted distance between the webhook's timestamp and `now`
 * @returns `{ ok: true }`, or the reason of the refusal
 *
 * @example
 * ```ts
 * import { verifyWebhook, WEBHOOK_HEADERS } from '@dtx/protocol';
 *
 * const check = verifyWebhook(process.env.DTX_SECRET!, {
 *   event: String(headers[WEBHOOK_HEADERS.event]),
 *   delivery: String(headers[WEBHOOK_HEADERS.delivery]),
 *   timestamp: Number(headers[WEBHOOK_HEADERS.timestamp]),
 *   body: rawBody,
 * }, headers[WEBHOOK_HEADERS.signature] as string | undefined, Date.now(), 5 * 60_000);
 * if (!check.ok) throw new Error(`webhook refused: ${check.reason}`);
 * ```
 */
export function verifyWebhook(secret: string, webhook: SignedWebhook, signature: string | undefined, now: number, maxSkewMs: number): SignatureCheck {
  if (!signature) return { ok: false, reason: 'missing' };
  if (!Number.isFinite(webhook.timestamp) || !signature.startsWith(`${SIGNATURE_VERSION}=`)) return { ok: false, reason: 'malformed' };
  if (Math.abs(now - webhook.timestamp) > maxSkewMs) return { ok: false, reason: 'stale' };
  const expected = Buffer.from(signWebhook(secret, webhook));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return { ok: false, reason: 'mismatch' };
  return { ok: true };
}
