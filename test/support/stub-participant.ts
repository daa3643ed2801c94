/**
 * A bare HTTP endpoint standing in for a participant's confirm/cancel, for
 * tests of the coordinator alone: it records every call and answers each
 * with whatever the test's `answer` function decides — a status at once, or
 * later (the test holds the reply). It checks no signature and keeps no
 * barrier: what it answers is exactly what the coordinator sees.
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StubCall {
  /** `confirm` or `cancel`: the last path segment. */
  op: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

/** Answers a call: a status now, or a promise of one (the reply waits for it). */
export type StubAnswer = (call: StubCall, index: number) => number | Promise<number>;

export interface StubParticipant {
  /** Base of the stub's resource: `${resourceUrl}/confirm`, `${resourceUrl}/cancel`. */
  resourceUrl: string;
  calls: StubCall[];
  /** Replace how calls are answered (200 until set). */
  answer(fn: StubAnswer): void;
  close(): Promise<void>;
}

export async function startStubParticipant(): Promise<StubParticipant> {
  const calls: StubCall[] = [];
  let answer: StubAnswer = () => 200;
  const open = new Set<ServerResponse>();
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const path = request.url ?? '';
      const call: StubCall = { op: path.split('/').pop() ?? '', path, headers: request.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
      calls.push(call);
      open.add(response);
      void Promise.resolve(answer(call, calls.length - 1))
        .catch(() => 500)
        .then((status) => {
          open.delete(response);
          if (!response.destroyed) response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ stub: status }));
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    resourceUrl: `http://127.0.0.1:${port}/dtx/account`,
    calls,
    answer: (fn) => {
      answer = fn;
    },
    close: async () => {
      for (const response of open) response.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
