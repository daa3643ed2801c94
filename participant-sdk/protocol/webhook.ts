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

export type WebhookEvent = 'needs-attention';

export interface SignedWebhook {
  event: string;
  delivery: string;
  timestamp: number;
  /** The exact body bytes. */
  body: string | Buffer;
}

const DOMAIN = 'dtx-webhook-v1';

function canonical(webhook: SignedWebhook): string {
  const bodyDigest = createHash('sha256').update(webhook.body).digest('hex');
  return [DOMAIN, webhook.timestamp, webhook.event, webhook.delivery, bodyDigest].join('\n');
}

/** The `dtx-signature` value of a webhook. */
export function signWebhook(secret: string, webhook: SignedWebhook): string {
  return `${SIGNATURE_VERSION}=${createHmac('sha256', secret).update(canonical(webhook)).digest('hex')}`;
}

/**
 * Check a received webhook: for a receiver written in TypeScript. Read the
 * raw body (before JSON parsing) and the four headers; refuse anything not ok.
 */
export function verifyWebhook(
  secret: string,
  webhook: SignedWebhook,
  signature: string | undefined,
  now: number,
  maxSkewMs: number,
): SignatureCheck {
  if (!signature) return { ok: false, reason: 'missing' };
  if (!Number.isFinite(webhook.timestamp) || !signature.startsWith(`${SIGNATURE_VERSION}=`)) return { ok: false, reason: 'malformed' };
  if (Math.abs(now - webhook.timestamp) > maxSkewMs) return { ok: false, reason: 'stale' };
  const expected = Buffer.from(signWebhook(secret, webhook));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return { ok: false, reason: 'mismatch' };
  return { ok: true };
}
