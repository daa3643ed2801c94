/**
 * The initiator's transport retries of coordinator calls, on the shared
 * retry helper: 5xx and transport failures are retried, a `retry-after` on a
 * 503 is honoured, a 4xx refusal is final.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CoordinatorClient } from '../../participant-sdk/initiator/coordinator-client.ts';
import { CoordinatorRefusedError, CoordinatorUnavailableError } from '../../participant-sdk/initiator/errors.ts';

type Reply = { status: number; body: unknown; headers?: Record<string, string> };

let server: Server;
let url = '';
let replies: Reply[] = [];
let arrivals: number[] = [];
const dispatcher = new Agent({ keepAliveTimeout: 1_000 });

beforeAll(async () => {
  server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      arrivals.push(Date.now());
      const reply = replies.shift() ?? { status: 500, body: { code: 'NO_REPLY_SCRIPTED', message: 'x' } };
      response.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
      response.end(JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(() => {
  replies = [];
  arrivals = [];
});

afterAll(async () => {
  await dispatcher.close();
  await new Promise((resolve) => server.close(resolve));
});

const client = (retries: number) => new CoordinatorClient({ url, timeoutMs: 2_000, retries, dispatcher, apiToken: null });
const ok = { status: 200, body: { gid: 'g1', status: 'confirmed' } };

describe('CoordinatorClient retries', () => {
  it('retries a 5xx and returns the success that follows', async () => {
    replies = [{ status: 500, body: { code: 'INTERNAL', message: 'boom' } }, ok];
    await expect(client(3).submit('g1')).resolves.toEqual(ok.body);
    expect(arrivals).toHaveLength(2);
  });

  it('waits at least the retry-after of a 503 before the next attempt', async () => {
    replies = [{ status: 503, body: { code: 'LOG_UNAVAILABLE', message: 'down' }, headers: { 'retry-after': '1' } }, ok];
    await expect(client(3).submit('g1')).resolves.toEqual(ok.body);
    expect(arrivals).toHaveLength(2);
    // The backoff alone is at most 200 ms here: the wait is the coordinator's second.
    expect(arrivals[1]! - arrivals[0]!).toBeGreaterThanOrEqual(950);
  });

  it('never retries a 4xx refusal', async () => {
    replies = [{ status: 409, body: { code: 'CONFLICT', message: 'no', status: 'cancelled' } }, ok];
    const error = await client(3)
      .submit('g1')
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(CoordinatorRefusedError);
    expect(error).toMatchObject({ httpStatus: 409, status: 'cancelled' });
    expect(arrivals).toHaveLength(1);
  });

  it('gives up after retries + 1 attempts with CoordinatorUnavailableError carrying the 503 code', async () => {
    const unavailable = { status: 503, body: { code: 'QUEUE_UNAVAILABLE', message: 'down' } };
    replies = [unavailable, unavailable, unavailable, ok];
    const error = await client(2)
      .submit('g1')
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(CoordinatorUnavailableError);
    expect(error).toMatchObject({ replyCode: 'QUEUE_UNAVAILABLE' });
    expect((error as Error).message).toContain('HTTP 503');
    expect(arrivals).toHaveLength(3);
  });

  it('makes one attempt with retries 0', async () => {
    replies = [{ status: 502, body: {} }, ok];
    const error = await client(0)
      .query('g1')
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(CoordinatorUnavailableError);
    expect(error).toMatchObject({ replyCode: null });
    expect(arrivals).toHaveLength(1);
  });
});
