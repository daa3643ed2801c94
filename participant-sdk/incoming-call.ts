/**
 * Decoding an HTTP call from the coordinator into a branch call, without I/O.
 *
 * Framework-free: the Fastify plugin and the node:http handler both hand the
 * raw request here. Every refusal is a ready reply (JSON
 * `{code, message}`, 4xx, no stack trace).
 */
import { HEADERS, isBranchOp, type BranchOp, type ErrorReply } from '@dtx/protocol';
import { RESOURCE_OPS, type Resource } from './resource.ts';

/**
 * One HTTP call as {@link Participant.handle} takes it: what an adapter for a
 * server other than Fastify or node:http must hand over. The body must be the
 * exact bytes received, since the signature covers them.
 */
export interface ParticipantRequest {
  /** The HTTP method; anything but POST is answered 405. */
  method: string;
  /** The path after the mount prefix, e.g. `/transfer-out/try` (a query string is ignored). */
  path: string;
  /**
   * The whole path as received, mount prefix included (e.g. `/dtx/transfer-out/try`):
   * the signature covers it. Defaults to `path` (a participant mounted at the root).
   */
  fullPath?: string;
  /** The request headers (names in any case; Node's lower-cased ones as they are). */
  headers: Record<string, string | string[] | undefined>;
  /** The exact body bytes; the signature covers them. */
  rawBody: string | Buffer;
}

/**
 * What {@link Participant.handle} answers: the status code is the outcome
 * (200 success, 409 failure, 425 ongoing, anything else unknown); the body,
 * sent as JSON, only helps people and logs.
 */
export interface ParticipantReply {
  /** The HTTP status code to send. */
  statusCode: number;
  /** The JSON body to send: a SuccessBody, or `{ code, message }`. */
  body: unknown;
}

export interface DecodedCall {
  resource: Resource;
  op: BranchOp;
  /** As sent; the barrier validates them before any insert. */
  gid: string;
  branchId: string;
  /** NaN when absent or not an integer; only checked when a key is configured. */
  timestamp: number;
  signature: string | undefined;
  /** `/<resource>/<op>`, the path after the mount prefix. */
  path: string;
  /** The Host header as received (empty when absent); the signature covers it. */
  host: string;
  /** The whole path as received; the signature covers it. */
  fullPath: string;
  /** The dtx-coordinator header, or '' when absent; the signature covers it. */
  coordinator: string;
  /** The dtx-caller header, or '' when absent; the signature covers it. */
  caller: string;
  /** A try's or a prepare's dtx-registration header (the coordinator's registration proof), if any. */
  registration: string | undefined;
  rawBody: string | Buffer;
}

export type DecodeResult =
  { ok: true; call: DecodedCall } | { ok: false; reply: ParticipantReply & { body: ErrorReply }; context: { gid?: string; branchId?: string; op?: string } };

export function errorReply(statusCode: number, code: string, message: string): ParticipantReply & { body: ErrorReply } {
  return { statusCode, body: { code, message } };
}

/** Route `POST /<resource>/<op>` and read the dtx headers. */
export function decodeCall(request: ParticipantRequest, resources: ReadonlyMap<string, Resource>): DecodeResult {
  const headerErrors: string[] = [];
  const header = (name: string): string | undefined => {
    const value = headerValue(request.headers, name);
    if (Array.isArray(value)) {
      headerErrors.push(name);
      return undefined;
    }
    return value;
  };
  const gid = header(HEADERS.gid);
  const branchId = header(HEADERS.branchId);
  const headerOp = header(HEADERS.op);
  const context = { ...(gid !== undefined && { gid }), ...(branchId !== undefined && { branchId }), ...(headerOp !== undefined && { op: headerOp }) };
  const refuse = (statusCode: number, code: string, message: string): DecodeResult => ({
    ok: false,
    reply: errorReply(statusCode, code, message),
    context,
  });

  if (request.method.toUpperCase() !== 'POST') return refuse(405, 'METHOD_NOT_ALLOWED', 'dtx calls are POST');
  const segments = (request.path.split('?')[0] ?? '').split('/').filter((s) => s.length > 0);
  if (segments.length !== 2) return refuse(404, 'NOT_FOUND', 'expected POST /<resource>/<op>');
  const [resourceName, pathOp] = segments as [string, string];
  const resource = resources.get(resourceName);
  if (!resource) return refuse(404, 'UNKNOWN_RESOURCE', `no resource named ${JSON.stringify(resourceName.slice(0, 64))}`);
  if (!isBranchOp(pathOp) || !RESOURCE_OPS[resource.mode].includes(pathOp)) {
    return refuse(404, 'UNKNOWN_OP', `resource ${resource.name} has no op ${JSON.stringify(pathOp.slice(0, 16))}`);
  }

  if (headerErrors.length > 0) return refuse(400, 'DUPLICATE_HEADER', `header sent more than once: ${headerErrors.join(', ')}`);
  if (gid === undefined || branchId === undefined || headerOp === undefined) {
    const missing: string[] = [];
    if (gid === undefined) missing.push(HEADERS.gid);
    if (branchId === undefined) missing.push(HEADERS.branchId);
    if (headerOp === undefined) missing.push(HEADERS.op);
    return refuse(400, 'MISSING_HEADER', `missing header: ${missing.join(', ')}`);
  }
  // The path routes, the header is signed: they must agree, or a signed
  // cancel could be replayed against the try endpoint.
  if (headerOp !== pathOp) return refuse(400, 'OP_MISMATCH', `header ${HEADERS.op} does not match the path`);

  const timestampText = header(HEADERS.timestamp);
  return {
    ok: true,
    call: {
      resource,
      op: pathOp,
      gid,
      branchId,
      timestamp: timestampText !== undefined && /^\d{1,16}$/.test(timestampText) ? Number(timestampText) : Number.NaN,
      signature: header(HEADERS.signature),
      path: `/${resourceName}/${pathOp}`,
      host: header('host') ?? '',
      fullPath: (request.fullPath ?? request.path).split('?')[0] ?? '',
      coordinator: header(HEADERS.coordinator) ?? '',
      caller: header(HEADERS.caller) ?? '',
      registration: header(HEADERS.registration),
      rawBody: request.rawBody,
    },
  };
}

/** Parse the JSON body; an empty body is `null`. */
export function parseJsonBody(rawBody: string | Buffer): { ok: true; value: unknown } | { ok: false } {
  const text = typeof rawBody === 'string' ? rawBody : rawBody.toString('utf8');
  if (text.trim() === '') return { ok: true, value: null };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

// Node lower-cases header names; a framework-free caller might not.
function headerValue(headers: ParticipantRequest['headers'], name: string): string | string[] | undefined {
  if (name in headers) return headers[name];
  for (const key of Object.keys(headers)) if (key.toLowerCase() === name) return headers[key];
  return undefined;
}
