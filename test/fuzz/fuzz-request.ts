/**
 * One generated request, as data: readable in a counterexample, turned into
 * exact bytes only when it is sent. Values that depend on the running world
 * (ports, tokens, the gid of the transaction under test) are placeholders
 * such as `{{GID}}`, filled in by render().
 */
import { toStringMethod } from 'fast-check';
import { registrationProof } from '../../protocol/registration-proof.ts';
import { sign } from '../../protocol/signature.ts';
import { BRANCH_OPS, HEADERS, isInitiatorOp, isValidGid, type BranchOp } from '../../protocol/wire.ts';

export type Target = 'coordinator' | 'participant-fastify' | 'participant-node';

/** One documented refusal, code included. */
export interface Refusal {
  status: number;
  code: string;
}

/**
 * What the answer must be beyond the general rules (below 500, errors as
 * JSON {code, message}, nothing written by a refusal):
 * - refused: a 4xx (the input breaks the documented contract);
 * - unauthenticated / forbidden: 401 / 403;
 * - api-unauthenticated: 401 when /v1 authentication is on;
 * - a Refusal: exactly that status and code (a request of one caller against another's
 *   transaction, or outside its scope: NOT_OWNER, OUT_OF_SCOPE, GID_CONFLICT, NOT_FOUND).
 */
export type Expectation = 'refused' | 'unauthenticated' | 'forbidden' | 'api-unauthenticated' | Refusal;

/** Raw JSON text inside a generated value (numbers JSON.stringify cannot write, duplicate keys…). */
export class RawJson {
  readonly parts: readonly (string | Repeat)[];
  constructor(...parts: (string | Repeat)[]) {
    this.parts = parts;
  }
  get text(): string {
    return this.parts.map((p) => (typeof p === 'string' ? p : p.text.repeat(p.count))).join('');
  }
  [toStringMethod](): string {
    return `raw(${this.parts.map((p) => (typeof p === 'string' ? JSON.stringify(p.length > 60 ? `${p.slice(0, 60)}…` : p) : p[toStringMethod]())).join(' + ')})`;
  }
}

/** `text` repeated `count` times, built only when sent (huge and deeply nested bodies). */
export class Repeat {
  constructor(
    readonly text: string,
    readonly count: number,
  ) {}
  [toStringMethod](): string {
    return `${JSON.stringify(this.text)} x ${this.count}`;
  }
}

export type BodySpec =
  /** A value written as JSON (RawJson and Repeat inside are written as they are). */
  | { kind: 'json'; value: unknown }
  /** Text sent as UTF-8 (templates filled in); Repeat parts for size. */
  | { kind: 'text'; parts: (string | Repeat)[] }
  /** Bytes given as hex (invalid UTF-8, UTF-16…). */
  | { kind: 'hex'; hex: string };

export interface SignSpec {
  /**
   * `good`: the key the participant verifies the call's op with (an initiator's for a try, the
   * coordinator's for the others); `other`: a key it does not know; `wrong-role`: the other role's
   * key (the coordinator's on a try, the initiator's on a confirm or cancel).
   */
  key: 'good' | 'other' | 'wrong-role';
}

/**
 * A `dtx-registration` header made at render time from the call's own headers (gid, branch id,
 * caller), as a try or a prepare carries it:
 * - `good`: the coordinator's proof for exactly that branch and caller (its reply to the registration
 *   hands out this one);
 * - `other-branch`, `other-gid`, `other-caller`: the coordinator's proof, but of another branch of
 *   the gid, of the branch id in another transaction, or of the branch for another caller (`rival`);
 * - `own-key`: the right fields, keyed with the initiator's own key (what an initiator could make itself).
 * No RegistrationSpec: no header made (one may still be among `headers`, as it is).
 */
export interface RegistrationSpec {
  proof: 'good' | 'other-branch' | 'other-gid' | 'other-caller' | 'own-key';
}

/** The caller another caller's proof names (`other-caller`): the fuzz's second /v1 caller. */
const OTHER_CALLER = 'rival';

export interface FuzzRequest {
  /** Route and variant, for the summary (e.g. `v1 begin / bad-url`). */
  label: string;
  target: Target;
  method: string;
  /** Request target as sent on the request line (templates filled in). */
  path: string;
  /** Default `HTTP/1.1`. */
  version?: string;
  /** In order; repeated names are sent repeated. */
  headers: [string, string][];
  body?: BodySpec;
  /** Send the body with chunked transfer encoding. */
  chunked?: boolean;
  /** Leave out the automatic Host / Content-Length headers. */
  omit?: ('host' | 'content-length')[];
  /** Add a dtx-signature computed over what is sent. */
  sign?: SignSpec;
  /** Add a dtx-registration made from the call's headers (before the signature, which does not cover it). */
  registration?: RegistrationSpec;
  expect?: Expectation;
  /**
   * Abuse below the application (framing, header syntax): a participant's
   * answer then comes from its host HTTP server, whose error shape is not
   * the SDK's to choose.
   */
  transport?: boolean;
  /** The server may close without answering (the body is shorter than declared). */
  mayGoUnanswered?: boolean;
}

/** The values placeholders stand for. */
export interface RenderContext {
  gid: string;
  newGid: string;
  stub: string;
  participantFastify: string;
  participantNode: string;
  apiToken: string;
  /** The second /v1 caller's token: its requests aim at the first one's transactions. */
  rivalToken: string;
  operatorToken: string;
  viewerToken: string;
  /** The key the coordinator signs its calls to the participant with. */
  coordinatorKey: string;
  /** The initiator the participant takes tries from (`{{CALLER}}`), and its own key there. */
  initiator: string;
  initiatorKey: string;
  now: number;
  ports: Record<Target, number>;
}

export interface RenderedRequest {
  port: number;
  bytes: Buffer;
  head: boolean;
  /** Request line and headers as text, body cut, for reports. */
  summary: string;
  /** Gids the request names (path, body, headers): their rows are compared before and after. */
  gids: string[];
  /** Breaks HTTP/1.1 syntax (request line, header names or values): the HTTP server refuses it before any application code. */
  httpInvalid: boolean;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Control characters other than HTAB; obs-text (0x80-0xFF) is allowed in values.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]/;

/** Whether the request line or a header breaks HTTP/1.1 syntax as Node's parser reads it. */
function breaksHttpSyntax(method: string, path: string, version: string, headers: [string, string][]): boolean {
  if (!TOKEN.test(method) || !/^HTTP\/1\.[01]$/.test(version)) return true;
  // The request target: visible ASCII only.
  if (!/^[\u0021-\u007e]+$/.test(path)) return true;
  return headers.some(([name, value]) => !TOKEN.test(name) || CONTROL.test(value));
}

const PLACEHOLDER = /\{\{([A-Z_]+)\}\}/g;
/** In a header value: the length of the body actually sent, plus 50 (a body shorter than declared). */
export const BODY_LENGTH_PLUS_50 = '{{BODY_LENGTH+50}}';

export function fill(text: string, ctx: RenderContext): string {
  return text.replace(PLACEHOLDER, (whole, name: string) => {
    switch (name) {
      case 'GID':
        return ctx.gid;
      case 'NEWGID':
        return ctx.newGid;
      case 'STUB':
        return ctx.stub;
      case 'P_FASTIFY':
        return ctx.participantFastify;
      case 'P_NODE':
        return ctx.participantNode;
      case 'API_TOKEN':
        return ctx.apiToken;
      case 'RIVAL_TOKEN':
        return ctx.rivalToken;
      case 'OPERATOR_TOKEN':
        return ctx.operatorToken;
      case 'VIEWER_TOKEN':
        return ctx.viewerToken;
      case 'CALLER':
        return ctx.initiator;
      case 'NOW':
        return String(ctx.now);
      case 'STALE':
        return String(ctx.now - 3_600_000);
      default:
        return whole;
    }
  });
}

/** JSON text of a generated value; RawJson and Repeat are written verbatim. */
export function jsonText(value: unknown): string {
  if (value instanceof RawJson) return value.text;
  if (value instanceof Repeat) return value.text.repeat(value.count);
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : jsonText(v))).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${jsonText(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** About how many characters a body is (placeholders unfilled), without building repeated parts: enough to tell it from a body limit. */
export function bodyLength(body: BodySpec | undefined): number {
  const partsLength = (parts: readonly (string | Repeat)[]) => parts.reduce((n, p) => n + (typeof p === 'string' ? p.length : p.text.length * p.count), 0);
  const valueLength = (value: unknown): number => {
    if (value instanceof RawJson) return partsLength(value.parts);
    if (value instanceof Repeat) return value.text.length * value.count;
    if (Array.isArray(value)) return 2 + value.reduce((n: number, v) => n + 1 + valueLength(v), 0);
    if (value !== null && typeof value === 'object') return 2 + Object.entries(value).reduce((n, [k, v]) => n + k.length + 4 + valueLength(v), 0);
    return (JSON.stringify(value) ?? 'null').length;
  };
  if (!body) return 0;
  if (body.kind === 'json') return valueLength(body.value);
  if (body.kind === 'text') return partsLength(body.parts);
  return body.hex.length / 2;
}

function bodyBytes(body: BodySpec | undefined, ctx: RenderContext): Buffer | null {
  if (!body) return null;
  switch (body.kind) {
    case 'json':
      return Buffer.from(fill(jsonText(body.value), ctx), 'utf8');
    case 'text':
      return Buffer.from(body.parts.map((p) => (p instanceof Repeat ? p.text.repeat(p.count) : fill(p, ctx))).join(''), 'utf8');
    case 'hex':
      return Buffer.from(body.hex, 'hex');
  }
}

const findHeader = (headers: [string, string][], name: string) => headers.find(([n]) => n.toLowerCase() === name)?.[1];

export function render(request: FuzzRequest, ctx: RenderContext): RenderedRequest {
  const port = ctx.ports[request.target];
  const path = fill(request.path, ctx);
  const body = bodyBytes(request.body, ctx);
  const headers: [string, string][] = request.headers.map(([name, value]) => [
    name,
    fill(value, ctx).replace(BODY_LENGTH_PLUS_50, String((body?.length ?? 0) + 50)),
  ]);
  const omit = new Set(request.omit ?? []);
  const has = (name: string) => headers.some(([n]) => n.toLowerCase() === name);

  if (!omit.has('host') && !has('host')) headers.unshift(['host', `127.0.0.1:${port}`]);
  if (request.registration) headers.push([HEADERS.registration, registrationOf(request.registration, headers, ctx)]);
  if (request.sign) {
    const op = (findHeader(headers, HEADERS.op) ?? '') as BranchOp;
    // Whose op it is decides whose key signs it (an odd op is the coordinator's: the participant refuses it anyway).
    const initiators = BRANCH_OPS.includes(op) && isInitiatorOp(op);
    const [ownKey, otherRoleKey] = initiators ? [ctx.initiatorKey, ctx.coordinatorKey] : [ctx.coordinatorKey, ctx.initiatorKey];
    const key = { good: ownKey, 'wrong-role': otherRoleKey, other: 'not-the-participant-key-000' }[request.sign.key];
    const signature = sign(key, {
      method: request.method,
      host: findHeader(headers, 'host') ?? '',
      path: path.split('?')[0] ?? '',
      gid: findHeader(headers, HEADERS.gid) ?? '',
      branchId: findHeader(headers, HEADERS.branchId) ?? '',
      op,
      timestamp: Number(findHeader(headers, HEADERS.timestamp)),
      coordinator: findHeader(headers, HEADERS.coordinator) ?? '',
      caller: findHeader(headers, HEADERS.caller) ?? '',
      body: body ?? '',
    });
    headers.push([HEADERS.signature, signature]);
  }
  let payload = body ?? Buffer.alloc(0);
  if (request.chunked && body) {
    if (!has('transfer-encoding')) headers.push(['transfer-encoding', 'chunked']);
    payload =
      body.length === 0 ? Buffer.from('0\r\n\r\n') : Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]);
  } else if (body && !omit.has('content-length') && !has('content-length') && !has('transfer-encoding')) {
    headers.push(['content-length', String(body.length)]);
  }
  if (!has('connection')) headers.push(['connection', 'close']);

  const head = `${request.method} ${path} ${request.version ?? 'HTTP/1.1'}\r\n${headers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`;
  const bodyText = payload.subarray(0, 400).toString('utf8');
  const headText = head.length > 1500 ? `${head.slice(0, 1500)}… (${head.length} chars)` : head;
  return {
    port,
    bytes: Buffer.concat([Buffer.from(head, 'utf8'), payload]),
    head: request.method === 'HEAD',
    summary: `${headText}${bodyText}${payload.length > 400 ? `… (${payload.length} bytes)` : ''}`,
    gids: namedGids(path, headers, body, ctx),
    httpInvalid: breaksHttpSyntax(request.method, path, request.version ?? 'HTTP/1.1', headers),
  };
}

/** The `dtx-registration` value `spec` stands for, for the call `headers` describe. */
function registrationOf(spec: RegistrationSpec, headers: [string, string][], ctx: RenderContext): string {
  const gid = findHeader(headers, HEADERS.gid) ?? '';
  const branchId = findHeader(headers, HEADERS.branchId) ?? '';
  const caller = findHeader(headers, HEADERS.caller) ?? '';
  switch (spec.proof) {
    case 'good':
      return registrationProof(ctx.coordinatorKey, { gid, branchId, caller });
    case 'other-branch':
      return registrationProof(ctx.coordinatorKey, { gid, branchId: branchId === 'b1' ? 'b2' : 'b1', caller });
    case 'other-gid':
      return registrationProof(ctx.coordinatorKey, { gid: gid === ctx.gid ? ctx.newGid : ctx.gid, branchId, caller });
    case 'other-caller':
      return registrationProof(ctx.coordinatorKey, { gid, branchId, caller: caller === OTHER_CALLER ? ctx.initiator : OTHER_CALLER });
    case 'own-key':
      return registrationProof(ctx.initiatorKey, { gid, branchId, caller });
  }
}

/** The gids a request could touch: the ones under test, and any id-like text in its path. */
function namedGids(path: string, headers: [string, string][], body: Buffer | null, ctx: RenderContext): string[] {
  const gids = new Set<string>([ctx.gid, ctx.newGid]);
  const segment = /\/transactions\/([^/?]+)/.exec(path)?.[1];
  if (segment) {
    try {
      gids.add(decodeURIComponent(segment));
    } catch {
      gids.add(segment);
    }
  }
  const header = findHeader(headers, HEADERS.gid);
  if (header) gids.add(header);
  if (body && body.length < 100_000) {
    const match = /"gid"\s*:\s*"([^"\\]{1,200})"/.exec(body.toString('utf8'));
    if (match?.[1]) gids.add(match[1]);
  }
  // Only ids the log can hold: anything else is refused before the store, and the id columns' charset would refuse the comparison.
  return [...gids].filter((g) => isValidGid(g));
}
