/**
 * A minimal HTTP/1.1 client over a plain socket, for the fuzz: it sends the
 * exact bytes it is given (duplicate headers, control characters, lying
 * content lengths, huge header blocks), which fetch and node:http refuse to
 * produce, and reads one reply back.
 */
import { connect } from 'node:net';

export interface RawReply {
  status: number;
  /** Header names lower-cased; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
}

export type RawOutcome =
  | { kind: 'reply'; reply: RawReply; ms: number }
  /** The server closed the connection without a complete reply. */
  | { kind: 'closed'; ms: number; partial: string }
  | { kind: 'timeout'; ms: number; partial: string };

export interface RawRequest {
  port: number;
  bytes: Buffer;
  /** A reply to HEAD has no body whatever its content-length says. */
  head: boolean;
  timeoutMs: number;
}

/** Sends `bytes` and parses the first final (non-1xx) reply. */
export function sendRaw(request: RawRequest): Promise<RawOutcome> {
  const started = performance.now();
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: request.port });
    let received = Buffer.alloc(0);
    let settled = false;
    const finish = (outcome: RawOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const elapsed = () => Math.round(performance.now() - started);
    const partial = () => received.subarray(0, 300).toString('latin1');
    const timer = setTimeout(() => finish({ kind: 'timeout', ms: elapsed(), partial: partial() }), request.timeoutMs);

    // No half-close after the request: Node's HTTP server drops a request
    // whose client half-closed. A body shorter than declared ends in the timeout.
    socket.on('connect', () => socket.write(request.bytes));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const reply = parseReply(received, request.head, false);
      if (reply) finish({ kind: 'reply', reply, ms: elapsed() });
    });
    socket.on('error', () => {
      // A reset after a complete reply is still that reply.
      const reply = parseReply(received, request.head, true);
      finish(reply ? { kind: 'reply', reply, ms: elapsed() } : { kind: 'closed', ms: elapsed(), partial: partial() });
    });
    socket.on('close', () => {
      const reply = parseReply(received, request.head, true);
      finish(reply ? { kind: 'reply', reply, ms: elapsed() } : { kind: 'closed', ms: elapsed(), partial: partial() });
    });
  });
}

/** The first final reply in `data`, or null while it is incomplete. `ended`: no more bytes will come. */
export function parseReply(data: Buffer, head: boolean, ended: boolean): RawReply | null {
  let offset = 0;
  for (;;) {
    const headerEnd = data.indexOf('\r\n\r\n', offset);
    if (headerEnd < 0) return null;
    const lines = data.subarray(offset, headerEnd).toString('latin1').split('\r\n');
    const match = /^HTTP\/\d\.\d (\d{3})/.exec(lines[0] ?? '');
    if (!match) return null;
    const status = Number(match[1]);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    const bodyStart = headerEnd + 4;
    // Interim replies (100 Continue) come before the real one.
    if (status >= 100 && status < 200) {
      offset = bodyStart;
      continue;
    }
    if (head || status === 204 || status === 304) return { status, headers, body: Buffer.alloc(0) };
    if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const body = dechunk(data.subarray(bodyStart));
      return body ? { status, headers, body } : null;
    }
    const length = headers['content-length'];
    if (length !== undefined) {
      const size = Number(length);
      if (data.length - bodyStart < size) return null;
      return { status, headers, body: data.subarray(bodyStart, bodyStart + size) };
    }
    return ended ? { status, headers, body: data.subarray(bodyStart) } : null;
  }
}

function dechunk(data: Buffer): Buffer | null {
  const parts: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', offset);
    if (lineEnd < 0) return null;
    const size = Number.parseInt(data.subarray(offset, lineEnd).toString('latin1'), 16);
    if (!Number.isFinite(size)) return null;
    if (size === 0) return Buffer.concat(parts);
    const start = lineEnd + 2;
    if (data.length < start + size + 2) return null;
    parts.push(data.subarray(start, start + size));
    offset = start + size + 2;
  }
}
