import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { canonicalCall, sign, SIGNATURE_VERSION, verify, type SignedCall } from '../../protocol/signature.ts';

const SECRET = 'unit-secret';
const NOW = 1_700_000_000_000;
const SKEW = 30_000;

const call: SignedCall = {
  method: 'POST',
  host: 'bank-a.internal:4001',
  path: '/dtx/debit/confirm',
  coordinator: '',
  caller: 'orders',
  gid: 'gid-1',
  branchId: 'b1',
  op: 'confirm',
  timestamp: NOW,
  body: '{"amount":10}',
};

describe('the worked example of docs/protocol.md', () => {
  // Any implementation, in any language, must reproduce these exact values.
  const example: SignedCall = {
    method: 'POST',
    host: 'bank-a.internal:4001',
    path: '/dtx/debit/confirm',
    gid: 'order-1001',
    branchId: '01',
    op: 'confirm',
    timestamp: 1767225600000,
    coordinator: '',
    // A confirm carries the caller that registered the branch, as the coordinator authenticated it.
    caller: 'orders',
    body: '{"account":"alice","amount":30}',
  };

  it('signs the documented string to the documented header', () => {
    expect(canonicalCall(example)).toBe(
      'v3\n1767225600000\nPOST\nbank-a.internal:4001\n/dtx/debit/confirm\norder-1001\n01\nconfirm\n\norders\n749caff66effec4a3e4516264f8ca6ca2e36933678585fea51a485f60856336c',
    );
    expect(sign('example-key-0123456789', example)).toBe('v3=17a53f13dbdde60d5d1f37739323a046b0cb88ec68c8be32ac1fd63cb7c6f8d0');
  });

  it('is the example docs/protocol.md shows', () => {
    const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');
    expect(doc).toContain('v3=17a53f13dbdde60d5d1f37739323a046b0cb88ec68c8be32ac1fd63cb7c6f8d0');
    expect(doc).toContain('749caff66effec4a3e4516264f8ca6ca2e36933678585fea51a485f60856336c');
  });

  it('upper-cases the method and lower-cases the host before signing', () => {
    expect(sign('k', { ...example, method: 'post', host: 'BANK-A.internal:4001' })).toBe(sign('k', example));
  });
});

describe('sign', () => {
  it('is versioned hex HMAC-SHA256, deterministic', () => {
    const signature = sign(SECRET, call);
    expect(signature).toMatch(new RegExp(`^${SIGNATURE_VERSION}=[0-9a-f]{64}$`));
    expect(sign(SECRET, call)).toBe(signature);
  });

  it('depends on the secret', () => {
    expect(sign('other', call)).not.toBe(sign(SECRET, call));
  });

  it('treats a Buffer body like the same string body', () => {
    expect(sign(SECRET, { ...call, body: Buffer.from(call.body as string) })).toBe(sign(SECRET, call));
  });
});

describe('verify', () => {
  it('round trip: a signed call verifies', () => {
    expect(verify(SECRET, call, sign(SECRET, call), NOW, SKEW)).toEqual({ ok: true });
  });

  it('round trip with an empty body and every op', () => {
    for (const op of ['try', 'confirm', 'cancel', 'action', 'compensate'] as const) {
      const c: SignedCall = { ...call, op, body: '' };
      expect(verify(SECRET, c, sign(SECRET, c), NOW, SKEW)).toEqual({ ok: true });
    }
  });

  it('accepts a timestamp exactly at the skew limit, either side', () => {
    const signature = sign(SECRET, call);
    expect(verify(SECRET, call, signature, NOW + SKEW, SKEW)).toEqual({ ok: true });
    expect(verify(SECRET, call, signature, NOW - SKEW, SKEW)).toEqual({ ok: true });
  });

  it.each<[string, Partial<SignedCall>]>([
    ['method', { method: 'PUT' }],
    ['host (another participant)', { host: 'bank-b.internal:4001' }],
    ['port', { host: 'bank-a.internal:4002' }],
    ['path (another resource)', { path: '/dtx/credit/confirm' }],
    ['path (another mount)', { path: '/other/debit/confirm' }],
    ['coordinator header', { coordinator: 'http://evil.example' }],
    ['caller header (another initiator)', { caller: 'billing' }],
    ['caller header (dropped)', { caller: '' }],
    ['gid', { gid: 'gid-2' }],
    ['branch', { branchId: 'b2' }],
    ['op', { op: 'cancel' }],
    ['timestamp', { timestamp: NOW + 1 }],
    ['body', { body: '{"amount":11}' }],
    ['body (empty)', { body: '' }],
  ])('any change of %s → mismatch', (_what, change) => {
    const signature = sign(SECRET, call);
    expect(verify(SECRET, { ...call, ...change }, signature, NOW, SKEW)).toEqual({ ok: false, reason: 'mismatch' });
  });

  it('another secret → mismatch', () => {
    expect(verify(SECRET, call, sign('forged', call), NOW, SKEW)).toEqual({ ok: false, reason: 'mismatch' });
  });

  it('a tampered hex digit or a truncated signature → mismatch', () => {
    const signature = sign(SECRET, call);
    const last = signature.at(-1) === '0' ? '1' : '0';
    expect(verify(SECRET, call, signature.slice(0, -1) + last, NOW, SKEW)).toEqual({ ok: false, reason: 'mismatch' });
    expect(verify(SECRET, call, signature.slice(0, -2), NOW, SKEW)).toEqual({ ok: false, reason: 'mismatch' });
    expect(verify(SECRET, call, `${signature}00`, NOW, SKEW)).toEqual({ ok: false, reason: 'mismatch' });
    expect(verify(SECRET, call, `${SIGNATURE_VERSION}=`, NOW, SKEW)).toEqual({ ok: false, reason: 'mismatch' });
  });

  it('moving characters between gid and branch id → mismatch', () => {
    const a: SignedCall = { ...call, gid: 'x', branchId: 'y-z' };
    const b: SignedCall = { ...call, gid: 'x-y', branchId: 'z' };
    expect(verify(SECRET, b, sign(SECRET, a), NOW, SKEW)).toEqual({ ok: false, reason: 'mismatch' });
  });

  it('stale beyond the skew, in the past or the future → stale', () => {
    const signature = sign(SECRET, call);
    expect(verify(SECRET, call, signature, NOW + SKEW + 1, SKEW)).toEqual({ ok: false, reason: 'stale' });
    expect(verify(SECRET, call, signature, NOW - SKEW - 1, SKEW)).toEqual({ ok: false, reason: 'stale' });
  });

  it('missing signature → missing', () => {
    expect(verify(SECRET, call, undefined, NOW, SKEW)).toEqual({ ok: false, reason: 'missing' });
    expect(verify(SECRET, call, '', NOW, SKEW)).toEqual({ ok: false, reason: 'missing' });
  });

  it('malformed signature or timestamp → malformed', () => {
    const signature = sign(SECRET, call);
    expect(verify(SECRET, call, 'garbage', NOW, SKEW)).toEqual({ ok: false, reason: 'malformed' });
    // The previous version's prefix: a v2 signer (which signed no caller) is refused as malformed, never checked.
    expect(verify(SECRET, call, `v2=${signature.slice(3)}`, NOW, SKEW)).toEqual({ ok: false, reason: 'malformed' });
    expect(verify(SECRET, call, signature.slice(3), NOW, SKEW)).toEqual({ ok: false, reason: 'malformed' });
    expect(verify(SECRET, { ...call, timestamp: Number.NaN }, signature, NOW, SKEW)).toEqual({ ok: false, reason: 'malformed' });
    expect(verify(SECRET, { ...call, timestamp: Number.POSITIVE_INFINITY }, signature, NOW, SKEW)).toEqual({ ok: false, reason: 'malformed' });
  });

  it('a non-ASCII signature of the right length does not throw', () => {
    const signature = sign(SECRET, call);
    const weird = `${SIGNATURE_VERSION}=${'é'.repeat(signature.length - 3)}`;
    expect(verify(SECRET, call, weird, NOW, SKEW)).toEqual({ ok: false, reason: 'mismatch' });
  });
});
