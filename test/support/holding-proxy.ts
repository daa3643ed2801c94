/**
 * An HTTP hop that holds a request, as a slow network would, then delivers
 * it late: for "the try arrives after its cancel" (anti-suspension).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';

export interface HoldingProxy {
  url: string;
  /** Let the held request through to the target. */
  release(): void;
  /** The target's reply to the first held request, once released. */
  forwarded: Promise<{ statusCode: number; body: string }>;
  close(): Promise<void>;
}

/**
 * An HTTP hop that holds every request until `release()`, then forwards it
 * unchanged (dtx headers, signature, body) to `target`, even if the caller
 * has given up meanwhile: a request delayed in the network. `forwarded` is
 * the target's reply to the first one.
 */
export async function startHoldingProxy(target: string): Promise<HoldingProxy> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let deliver!: (reply: { statusCode: number; body: string }) => void;
  let fail!: (error: unknown) => void;
  const forwarded = new Promise<{ statusCode: number; body: string }>((resolve, reject) => {
    deliver = resolve;
    fail = reject;
  });
  forwarded.catch(() => undefined);

  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      await released;
      // Host too, unchanged: a hop in the network, not a proxy that rewrites the request (the signature covers the host).
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) {
        if (typeof value === 'string' && (name.startsWith('dtx-') || name === 'content-type' || name === 'host')) headers[name] = value;
      }
      const response = await request(`${target}${req.url ?? ''}`, { method: 'POST', headers, body });
      const reply = { statusCode: response.statusCode, body: await response.body.text() };
      deliver(reply);
      if (!res.destroyed) res.writeHead(reply.statusCode, { 'content-type': 'application/json' }).end(reply.body);
    })().catch((error: unknown) => {
      fail(error);
      if (!res.destroyed) res.writeHead(502).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    release,
    forwarded,
    close: async () => {
      release();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
