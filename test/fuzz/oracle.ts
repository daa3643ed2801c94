/**
 * The rules every answer must follow, as a pure function of the request
 * and what came back (no I/O): no 5xx, every error a JSON {code, message}
 * without a stack trace, the answers the generator knows (401, 403, a
 * refusal, or one refusal exactly: another caller's request), and an answer
 * at all.
 */
import type { FuzzRequest } from './fuzz-request.ts';
import type { RawOutcome } from './raw-http.ts';

/** `state-changed` and `slow` are the runner's own findings (state-marks.ts, timing.ts), not this oracle's. */
export type ProblemKind = 'server-error' | 'error-shape' | 'expectation' | 'no-answer' | 'state-changed' | 'slow' | 'crash';

export interface Problem {
  kind: ProblemKind;
  detail: string;
}

export interface JudgeContext {
  /** /v1 refuses calls without a valid token. */
  apiAuthActive: boolean;
  /** The request breaks HTTP/1.1 syntax (render() tells). */
  httpInvalid?: boolean;
}

/** The participant SDK answers only calls that reach its route; anything else is its host server's answer. */
function answeredByHost(request: FuzzRequest, httpInvalid: boolean): boolean {
  if (request.target === 'coordinator') return false;
  if (request.transport || httpInvalid) return true;
  // Fastify answers 404 itself for what its router does not send to the plugin.
  return request.target === 'participant-fastify' && !(request.method === 'POST' && /^\/dtx\/[^/?]+\/[^/?]+(\?.*)?$/.test(request.path));
}

export function judge(request: FuzzRequest, outcome: RawOutcome, ctx: JudgeContext): Problem[] {
  if (outcome.kind !== 'reply') {
    if (request.mayGoUnanswered || request.method === 'CONNECT') return [];
    return [{ kind: 'no-answer', detail: `${outcome.kind} after ${outcome.ms} ms${outcome.partial ? `; got ${JSON.stringify(outcome.partial)}` : ''}` }];
  }
  const { status, headers, body } = outcome.reply;
  const problems: Problem[] = [];
  const text = body.toString('utf8');
  if (status >= 500) problems.push({ kind: 'server-error', detail: `HTTP ${status}` });

  if (status >= 400 && !answeredByHost(request, ctx.httpInvalid === true) && request.method !== 'HEAD') {
    const shape = errorShapeProblem(headers['content-type'] ?? '', text);
    if (shape) problems.push({ kind: 'error-shape', detail: `HTTP ${status}: ${shape}` });
  }

  const code = errorCode(text);
  // A request the HTTP parser refuses never reaches the token check: any refusal will do.
  const expectation = ctx.httpInvalid && request.expect ? 'refused' : request.expect;
  switch (expectation) {
    case 'refused':
      if (status < 400 || status >= 500) problems.push({ kind: 'expectation', detail: `expected a 4xx refusal, got HTTP ${status}` });
      break;
    case 'unauthenticated':
      if (status !== 401) problems.push({ kind: 'expectation', detail: `expected 401, got HTTP ${status}` });
      break;
    case 'forbidden':
      if (status !== 403) problems.push({ kind: 'expectation', detail: `expected 403, got HTTP ${status}` });
      break;
    case 'api-unauthenticated':
      if (ctx.apiAuthActive && (status !== 401 || code !== 'UNAUTHENTICATED')) {
        problems.push({ kind: 'expectation', detail: `expected 401 UNAUTHENTICATED without a valid /v1 token, got HTTP ${status} ${code ?? ''}`.trim() });
      }
      break;
    case undefined:
      break;
    default:
      if (status !== expectation.status || code !== expectation.code) {
        problems.push({
          kind: 'expectation',
          detail: `expected ${expectation.status} ${expectation.code}, got HTTP ${status} ${code ?? ''}`.trim(),
        });
      }
  }
  return problems;
}

/** Why an error body is not the API's error shape, or null. */
export function errorShapeProblem(contentType: string, text: string): string | null {
  if (!/^application\/json\b/i.test(contentType)) return `content-type ${JSON.stringify(contentType)}, body ${JSON.stringify(text.slice(0, 200))}`;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return `body is not JSON: ${JSON.stringify(text.slice(0, 200))}`;
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return `body is not an object: ${text.slice(0, 200)}`;
  const { code, message } = body as Record<string, unknown>;
  if (typeof code !== 'string' || code === '' || typeof message !== 'string') return `body lacks string code/message: ${text.slice(0, 200)}`;
  if (text.includes('    at ') || 'stack' in body) return `body carries a stack trace: ${text.slice(0, 200)}`;
  return null;
}

function errorCode(text: string): string | null {
  try {
    const body = JSON.parse(text) as { code?: unknown };
    return typeof body?.code === 'string' ? body.code : null;
  } catch {
    return null;
  }
}
