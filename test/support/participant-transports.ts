/**
 * The two ways a participant is served over HTTP — the SDK's Fastify plugin
 * (through Fastify's inject) and its node:http handler (a real server on a
 * free loopback port) — behind one `post`, so an HTTP suite runs every case
 * on both.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { createNodeHandler, dtxParticipantPlugin, type NodeHandlerOptions, type Participant } from '../../participant-sdk/index.ts';

export interface Reply {
  status: number;
  contentType: string;
  body: Record<string, unknown>;
}

export interface Transport {
  post(path: string, headers: Record<string, string>, body: string): Promise<Reply>;
  close(): Promise<void>;
}

/** The participant behind the Fastify plugin at `prefix`; `extend` adds the host application's own routes. */
export async function fastifyTransport(participant: Participant, options: { prefix: string; extend?: (app: FastifyInstance) => void }): Promise<Transport> {
  const app = Fastify();
  await app.register(dtxParticipantPlugin, { participant, prefix: options.prefix });
  options.extend?.(app);
  await app.ready();
  return {
    async post(path, headers, body) {
      const res = await app.inject({ method: 'POST', url: path, headers, payload: body });
      return { status: res.statusCode, contentType: String(res.headers['content-type']), body: res.json() };
    },
    close: () => app.close(),
  };
}

/** The participant behind the node:http handler, on a real server. */
export async function nodeTransport(participant: Participant, options: NodeHandlerOptions): Promise<Transport> {
  const server: Server = createServer(createNodeHandler(participant, options));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    async post(path, headers, body) {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', headers, body });
      return { status: res.status, contentType: String(res.headers.get('content-type')), body: (await res.json()) as Record<string, unknown> };
    },
    close: () => new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve()))),
  };
}
