/**
 * node:http adapter, for plain servers and Express/Connect apps:
 * `http.createServer(createNodeHandler(participant, { prefix: '/dtx' }))`.
 *
 * With Express, mount it before any body parser: the signature covers the
 * exact body bytes, which a JSON middleware would already have consumed.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { encodeReply } from '../branch-reply.ts';
import type { ParticipantReply } from '../incoming-call.ts';
import { errorReply } from '../incoming-call.ts';
import type { Participant } from '../participant.ts';

/** Options of {@link createNodeHandler}. */
export interface NodeHandlerOptions {
  /** Mount point, e.g. '/dtx'; requests outside it get 404. Default: none. */
  prefix?: string;
  /** Larger bodies get 413 without reaching the participant. Default 1 MiB. */
  maxBodyBytes?: number;
}

/**
 * A node:http request listener serving a participant at
 * `POST <prefix>/<resource>/<op>`: the way to run a participant without
 * Fastify (plain `http.createServer`, Express, Connect). It reads the exact
 * body bytes itself, so mount it before any body parser.
 *
 * @param participant - the participant to serve (createParticipant)
 * @param options - mount prefix and body limit
 * @returns a `(req, res)` listener; it always answers, never throws
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { createNodeHandler } from '@dtx/participant-sdk';
 *
 * const server = createServer(createNodeHandler(participant, { prefix: '/dtx' }));   // POST /dtx/debit/{try,confirm,cancel}
 * server.listen(4001);
 * ```
 */
export function createNodeHandler(participant: Participant, options: NodeHandlerOptions = {}): (req: IncomingMessage, res: ServerResponse) => void {
  const prefix = (options.prefix ?? '').replace(/\/+$/, '');
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;

  return (req, res) => {
    const pathname = (req.url ?? '/').split('?')[0] ?? '/';
    if (prefix !== '' && pathname !== prefix && !pathname.startsWith(`${prefix}/`)) {
      send(res, errorReply(404, 'NOT_FOUND', 'not a dtx path'));
      req.resume();
      return;
    }
    const path = pathname.slice(prefix.length) || '/';

    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBodyBytes) {
      tooLarge(req, res, maxBodyBytes);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > maxBodyBytes) {
        refused = true;
        tooLarge(req, res, maxBodyBytes);
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', () => {
      // The client went away; there is nobody to answer.
      refused = true;
    });
    req.on('end', () => {
      if (refused) return;
      participant
        .handle({ method: req.method ?? 'GET', path, fullPath: pathname, headers: req.headers, rawBody: Buffer.concat(chunks) })
        // handle() never rejects; this is a last guard so a reply is always sent.
        .catch(() => errorReply(500, 'HANDLER_ERROR', 'the participant failed'))
        .then((reply) => send(res, reply));
    });
  };
}

function tooLarge(req: IncomingMessage, res: ServerResponse, maxBodyBytes: number): void {
  res.setHeader('connection', 'close');
  send(res, errorReply(413, 'BODY_TOO_LARGE', `the body exceeds ${maxBodyBytes} bytes`));
  // Stop reading an unbounded body once the reply is out.
  res.on('finish', () => req.destroy());
}

function send(res: ServerResponse, reply: ParticipantReply): void {
  if (res.headersSent) return;
  const { statusCode, text } = encodeReply(reply);
  res.statusCode = statusCode;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(text));
  res.end(text);
}
