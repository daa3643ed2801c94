/**
 * What reaches the API before any route: JSON bodies, and requests that
 * Node's HTTP parser refuses. Every refusal is a JSON `{code, message}` 4xx,
 * like the API's own.
 */
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import type { Socket } from 'node:net';

/**
 * Deepest nesting a body may have. Generous for any real payload; it keeps
 * everything downstream that walks a value recursively (the payload
 * scanner, serialisation of a transaction's view) far from the stack limit.
 */
export const MAX_JSON_DEPTH = 256;

/** The nesting depth of a JSON text, in one pass without recursion (strings skipped). */
export function jsonDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c /* \ */) i++;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      depth++;
      if (depth > deepest) deepest = depth;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      depth--;
    }
  }
  return deepest;
}

function clientError(statusCode: number, code: string, message: string): Error {
  return Object.assign(new Error(message), { statusCode, code });
}

/**
 * JSON bodies, kept as text too (`request.rawJson`) for what must travel
 * byte for byte. An empty body sent with a JSON content type counts as no
 * body (many HTTP clients send the header anyway). Other content types are
 * 415: text/plain is not read as a string that then fails the schema.
 */
export function installJsonBodies(app: FastifyInstance): void {
  app.removeContentTypeParser('application/json');
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') return done(null, undefined);
    if (jsonDepth(text) > MAX_JSON_DEPTH) {
      return done(clientError(400, 'JSON_TOO_DEEP', `the body nests deeper than ${MAX_JSON_DEPTH} levels`), undefined);
    }
    request.rawJson = text;
    try {
      done(null, JSON.parse(text));
    } catch {
      done(clientError(400, 'FST_ERR_CTP_INVALID_JSON_BODY', 'body is not valid JSON'), undefined);
    }
  });
}

const HTTP_ERRORS: Record<string, { status: number; code: string; message: string }> = {
  HPE_HEADER_OVERFLOW: { status: 431, code: 'HEADERS_TOO_LARGE', message: 'the request headers are too large' },
  HPE_REQUEST_TIMEOUT: { status: 408, code: 'REQUEST_TIMEOUT', message: 'the request took too long to arrive' },
};

/**
 * For Fastify's `clientErrorHandler`: a request Node's HTTP parser could
 * not read (bad framing, bad header, oversized headers) gets a JSON answer
 * and the connection is closed, since its stream position is unknown.
 */
export const clientErrorHandler: NonNullable<FastifyServerOptions['clientErrorHandler']> = (error, socket: Socket) => {
  if ((error as { code?: string }).code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const known = HTTP_ERRORS[(error as { code?: string }).code ?? ''] ?? { status: 400, code: 'BAD_HTTP_REQUEST', message: 'the request is not valid HTTP/1.1' };
  const body = JSON.stringify({ code: known.code, message: known.message });
  socket.end(
    `HTTP/1.1 ${known.status} ${known.status === 431 ? 'Request Header Fields Too Large' : known.status === 408 ? 'Request Timeout' : 'Bad Request'}\r\n` +
      `content-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
};

/** An `Expect` header other than 100-continue: 417 in the API's shape (Node answers it with no body). */
export function answerExpectations(app: FastifyInstance): void {
  app.server.on('checkExpectation', (_request, response) => {
    const body = JSON.stringify({ code: 'EXPECTATION_FAILED', message: 'only "Expect: 100-continue" is supported' });
    response.writeHead(417, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' }).end(body);
  });
}
