/**
 * Calls participants' phase-two endpoints over HTTP (undici, pooled
 * keep-alive connections) and turns every ending — reply, timeout,
 * connection error — into a BranchCallResult via the shared wire module.
 */
import { Agent, request } from 'undici';
import { withDeadline, callHeaders, outcomeOfStatus, type BranchOp } from '@dtx/protocol';
import type { BranchCallResult } from '../domain/phase-two.ts';

/** One phase-two call to a participant. */
export interface BranchCall {
  gid: string;
  branchId: string;
  op: BranchOp;
  url: string;
  /** JSON text sent as the body. */
  payload: string;
  /** This call's budget, if shorter than the client's (a saga step's own timeout). */
  timeoutMs?: number;
  /**
   * The service the call acts for (`dtx-caller`, signed): the caller that registered the branch,
   * or began the message; null when anonymous (development mode), then no header is sent.
   */
  caller: string | null;
}

/** The engine's port for calling participants. */
export interface BranchClient {
  /** Make one call; never throws: a timeout or a connection error is an `unknown` outcome. */
  call(call: BranchCall): Promise<BranchCallResult>;
  /** Close its connections. */
  close(): Promise<void>;
}

/** How an {@link HttpBranchClient} signs, times and pools its calls. */
export interface HttpBranchClientOptions {
  /** The key to sign a call to `url` with (per participant, or the shared one); null sends it unsigned. */
  keyFor: (url: URL) => string | null;
  /** Whole-call budget; a participant slower than this is an `unknown` outcome. */
  timeoutMs: number;
  /** Keep-alive connections per participant origin. */
  connectionsPerOrigin: number;
  /** Clock for the signature timestamps, epoch ms. */
  now: () => number;
}

/**
 * How much of a reply body is kept (for the operator, through the admin
 * API): enough for a participant's `{code, message}`, and read as a bounded
 * stream — a participant answering a huge body costs the coordinator no more.
 */
const REPLY_EXCERPT_BYTES = 512;

/** The {@link BranchClient} over HTTP: signed calls, keep-alive per participant, outcomes by status code only. */
export class HttpBranchClient implements BranchClient {
  readonly #agent: Agent;

  constructor(private readonly options: HttpBranchClientOptions) {
    this.#agent = new Agent({
      connections: options.connectionsPerOrigin,
      keepAliveTimeout: 30_000,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      connectTimeout: Math.min(options.timeoutMs, 10_000),
    });
  }

  async call(call: BranchCall): Promise<BranchCallResult> {
    try {
      // Parsed once for the key, the signature's host and path, and the request.
      const url = new URL(call.url);
      const headers = callHeaders(this.options.keyFor(url), {
        url,
        gid: call.gid,
        branchId: call.branchId,
        op: call.op,
        body: call.payload,
        timestamp: this.options.now(),
        ...(call.caller === null ? {} : { caller: call.caller }),
      });
      const { statusCode, excerpt } = await withDeadline(Math.min(call.timeoutMs ?? Infinity, this.options.timeoutMs), async (signal) => {
        const response = await request(url, { method: 'POST', headers, body: call.payload, dispatcher: this.#agent, signal });
        // A success needs no body: discard it (bounded too). Anything else keeps an excerpt for the operator.
        if (outcomeOfStatus(response.statusCode) === 'success') {
          await response.body.dump({ limit: REPLY_EXCERPT_BYTES });
          return { statusCode: response.statusCode, excerpt: '' };
        }
        return { statusCode: response.statusCode, excerpt: await readExcerpt(response.body, REPLY_EXCERPT_BYTES) };
      });
      const outcome = outcomeOfStatus(statusCode);
      return {
        branchId: call.branchId,
        outcome,
        httpStatus: statusCode,
        error: outcome === 'success' ? null : `HTTP ${statusCode}: ${excerpt}`,
      };
    } catch (error) {
      return { branchId: call.branchId, outcome: 'unknown', httpStatus: null, error: describeFailure(error) };
    }
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}

/**
 * The first `limit` bytes of a body as text; the rest is not read (the
 * stream is destroyed, and its connection with it, rather than drained).
 */
async function readExcerpt(body: AsyncIterable<Buffer> & { destroy(): unknown }, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= limit) {
      body.destroy();
      break;
    }
  }
  // Cut on a character boundary: a partial UTF-8 sequence at the end is dropped.
  return new TextDecoder('utf-8', { fatal: false }).decode(Buffer.concat(chunks).subarray(0, limit)).replace(/\uFFFD$/, '');
}

function describeFailure(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return `${typeof code === 'string' ? `${code} ` : ''}${error.name}: ${error.message}${cause}`.slice(0, REPLY_EXCERPT_BYTES);
  }
  return String(error).slice(0, REPLY_EXCERPT_BYTES);
}
