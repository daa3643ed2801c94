/**
 * The pure parts of the participant side: barrier decisions, lock-retry
 * classification and request decoding.
 */
import { describe, expect, it } from 'vitest';
import { forwardRowExisted, planBarrier } from '../../participant-sdk/barrier/decision.ts';
import { isRetryableLockError, lockRetryDelay, withLockRetry } from '../../participant-sdk/barrier/lock-retry.ts';
import { decodeCall, parseJsonBody } from '../../participant-sdk/incoming-call.ts';
import { HEADERS } from '../../participant-sdk/protocol/wire.ts';
import { defineTcc } from '../../participant-sdk/resource.ts';
import type { Resource } from '../../participant-sdk/resource.ts';

describe('barrier decisions', () => {
  it('plans undo ops to claim the undone op first', () => {
    expect(planBarrier('cancel')).toEqual({ kind: 'undo', op: 'cancel', undoes: 'try' });
    expect(planBarrier('compensate')).toEqual({ kind: 'undo', op: 'compensate', undoes: 'action' });
    expect(planBarrier('confirm')).toEqual({ kind: 'forward', op: 'confirm' });
  });

  it('reads an existing forward row by who inserted it', () => {
    expect(forwardRowExisted('try', 'try')).toBe('duplicate');
    expect(forwardRowExisted('try', 'cancel')).toBe('suspended');
    expect(forwardRowExisted('action', 'compensate')).toBe('suspended');
    expect(forwardRowExisted('confirm', 'confirm')).toBe('duplicate');
  });
});

describe('lock retry', () => {
  it('recognises deadlocks and lock wait timeouts by errno or code only', () => {
    expect(isRetryableLockError({ errno: 1213 })).toBe(true);
    expect(isRetryableLockError({ code: 'ER_LOCK_WAIT_TIMEOUT' })).toBe(true);
    expect(isRetryableLockError(new Error('Deadlock found when trying to get lock'))).toBe(false);
    expect(isRetryableLockError({ errno: 1062, code: 'ER_DUP_ENTRY' })).toBe(false);
  });

  it('bounds attempts and jitters delays within the doubling cap', async () => {
    expect(lockRetryDelay(3, 10, () => 0.999)).toBeLessThan(40);
    expect(lockRetryDelay(3, 10, () => 0)).toBe(0);
    let calls = 0;
    const deadlock = Object.assign(new Error('x'), { errno: 1213 });
    const run = withLockRetry(
      async () => {
        calls++;
        throw deadlock;
      },
      { maxAttempts: 3, baseDelayMs: 1, random: () => 0 },
    );
    await expect(run).rejects.toBe(deadlock);
    expect(calls).toBe(3);
  });
});

describe('decodeCall', () => {
  const resource = defineTcc({ name: 'transfer-out', try: () => 1, confirm: () => {}, cancel: () => {} });
  const resources = new Map<string, Resource>([[resource.name, resource]]);
  const headers = { [HEADERS.gid]: 'g1', [HEADERS.branchId]: '01', [HEADERS.op]: 'try', [HEADERS.timestamp]: '1700000000000' };
  const decode = (path: string, h: Record<string, string | string[] | undefined> = headers, method = 'POST') =>
    decodeCall({ method, path, headers: h, rawBody: '{}' }, resources);

  it('routes POST /<resource>/<op> and reads the headers', () => {
    const result = decode('/transfer-out/try?x=1');
    expect(result.ok && result.call).toMatchObject({ op: 'try', gid: 'g1', branchId: '01', timestamp: 1700000000000 });
  });

  it('refuses with the right status', () => {
    const status = (r: ReturnType<typeof decode>) => (r.ok ? 200 : r.reply.statusCode);
    expect(status(decode('/transfer-out/try', headers, 'GET'))).toBe(405);
    expect(status(decode('/other/try'))).toBe(404);
    expect(status(decode('/transfer-out/action'))).toBe(404);
    expect(status(decode('/transfer-out/try/extra'))).toBe(404);
    expect(status(decode('/transfer-out/confirm'))).toBe(400); // header op is try
    expect(status(decode('/transfer-out/try', { ...headers, [HEADERS.gid]: undefined }))).toBe(400);
    expect(status(decode('/transfer-out/try', { ...headers, [HEADERS.gid]: ['a', 'b'] }))).toBe(400);
  });

  it('reads a malformed timestamp as NaN so that verification calls it malformed', () => {
    const result = decode('/transfer-out/try', { ...headers, [HEADERS.timestamp]: '12e3' });
    expect(result.ok && Number.isNaN(result.call.timestamp)).toBe(true);
  });

  it('parses an empty body as null and refuses invalid JSON', () => {
    expect(parseJsonBody('')).toEqual({ ok: true, value: null });
    expect(parseJsonBody(Buffer.from('{"a":1}'))).toEqual({ ok: true, value: { a: 1 } });
    expect(parseJsonBody('{')).toEqual({ ok: false });
  });
});
