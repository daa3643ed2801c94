/**
 * An HTTP server that records every request it gets (method, path, headers,
 * exact body) and answers as told: a stand-in for a participant someone
 * controls, to see exactly what the coordinator sends.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CapturedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Answer {
  status: number;
  body?: string;
  /** Write `body` again and again, never ending the reply (a participant that floods the caller). */
  endless?: boolean;
}

export interface CaptureServer {
  url: string;
  requests: CapturedRequest[];
  answer(answer: Answer): void;
  stop(): Promise<void>;
}

export async function startCaptureServer(): Promise<CaptureServer> {
  const requests: CapturedRequest[] = [];
  let answer: Answer = { status: 200, body: '{"ok":true,"result":null}' };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      if (!answer.endless) {
        res.end(answer.body ?? '');
        return;
      }
      const chunk = answer.body ?? 'x'.repeat(64 * 1024);
      // Writes as fast as the reader takes it, until the reader goes away.
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      res.on('close', () => res.removeAllListeners('drain'));
      pump();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    answer: (next) => {
      answer = next;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
