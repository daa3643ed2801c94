import { describe, expect, it } from 'vitest';
import { sign } from '../../protocol/signature.ts';
import { signWebhook, verifyWebhook, type SignedWebhook } from '../../protocol/webhook.ts';

const SECRET = 'unit-secret';
const NOW = 1_700_000_000_000;
const SKEW = 30_000;
const webhook: SignedWebhook = { event: 'needs-attention', delivery: '0b5f3c1e-1111-4222-8333-944455556666', timestamp: NOW, body: '{"gid":"g1"}' };

describe('webhook signatures', () => {
  it('are versioned hex HMAC-SHA256 and round-trip', () => {
    const signature = signWebhook(SECRET, webhook);
    expect(signature).toMatch(/^v1=[0-9a-f]{64}$/);
    expect(verifyWebhook(SECRET, webhook, signature, NOW + 1_000, SKEW)).toEqual({ ok: true });
  });

  it('bind the body, the event, the delivery id and the timestamp', () => {
    const signature = signWebhook(SECRET, webhook);
    for (const changed of [
      { ...webhook, body: '{"gid":"g2"}' },
      { ...webhook, event: 'other' },
      { ...webhook, delivery: 'another-delivery' },
      { ...webhook, timestamp: NOW + 1 },
    ]) {
      expect(verifyWebhook(SECRET, changed, signature, NOW, SKEW)).toEqual({ ok: false, reason: 'mismatch' });
    }
    expect(verifyWebhook('other-secret', webhook, signature, NOW, SKEW)).toEqual({ ok: false, reason: 'mismatch' });
  });

  it('refuse missing, malformed and stale signatures', () => {
    const signature = signWebhook(SECRET, webhook);
    expect(verifyWebhook(SECRET, webhook, undefined, NOW, SKEW)).toEqual({ ok: false, reason: 'missing' });
    expect(verifyWebhook(SECRET, webhook, signature.slice(3), NOW, SKEW)).toEqual({ ok: false, reason: 'malformed' });
    expect(verifyWebhook(SECRET, { ...webhook, timestamp: Number.NaN }, signature, NOW, SKEW)).toEqual({ ok: false, reason: 'malformed' });
    expect(verifyWebhook(SECRET, webhook, signature, NOW + SKEW + 1, SKEW)).toEqual({ ok: false, reason: 'stale' });
  });

  it('can never be mistaken for a participant call signature over the same values', () => {
    // A captured alert must not be replayable as a confirm, whatever gid/branch/op an attacker picks.
    const call = {
      method: 'POST',
      host: 'h',
      path: '/p',
      coordinator: '',
      caller: '',
      gid: webhook.event,
      branchId: webhook.delivery,
      op: 'confirm' as const,
      timestamp: NOW,
      body: webhook.body,
    };
    expect(sign(SECRET, call)).not.toBe(signWebhook(SECRET, webhook));
  });
});
