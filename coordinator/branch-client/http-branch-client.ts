/**
 * Calls participants' confirm/cancel endpoints over HTTP (undici, pooled
 * keep-alive connections) and turns every ending — reply, timeout,
 * connection error — into a BranchCallResult via the shared wire module.
 */
import { Agent, request } from 'undici';
import { withDeadline } from '../../participant-sdk/protocol/deadline.ts';
import { sign } from '../../participant-sdk/protocol/signature.ts';
import { HEADERS, outcomeOfStatus, type BranchOp } from '../../participant-sdk/protocol/wire.ts';
import type { BranchCallResult } from '../domain/tcc-decisions.ts';

export interface BranchCall {
  gid: string;
  branchId: string;
  op: BranchOp;
  url: string;
  /** JSON text sent as the body. */
  payload: string;
}

export interface BranchClient {
  call(call: BranchCall): Promise<BranchCallResult>;
  close(): Promise<void>;
}

export interface HttpBranchClientOptions {
  /** Shared secret for call signatures; null sends unsigned calls. */
  secret: string | null;
  /** Whole-call budget; a participant slower than this is an `unknown` outcome. */
  timeoutMs: number;
  /** Keep-alive connections per participant origin. */
  connectionsPerOrigin: number;
  now: () => number;
}

const ERROR_EXCERPT = 512;

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
    const timestamp = this.options.now();
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      [HEADERS.gid]: call.gid,
      [HEADERS.branchId]: call.branchId,
      [HEADERS.op]: call.op,
      [HEADERS.timestamp]: String(timestamp),
    };
    if (this.options.secret !== null) {
      headers[HEADERS.signature] = sign(this.options.secret, {
        gid: call.gid,
        branchId: call.branchId,
        op: call.op,
        timestamp,
        body: call.payload,
      });
    }
    try {
      const { response, text } = await withDeadline(this.options.timeoutMs, async (signal) => {
        const response = await request(call.url, { method: 'POST', headers, body: call.payload, dispatcher: this.#agent, signal });
        return { response, text: await response.body.text() };
      });
      const outcome = outcomeOfStatus(response.statusCode);
      return {
        branchId: call.branchId,
        outcome,
        httpStatus: response.statusCode,
        error: outcome === 'success' ? null : `HTTP ${response.statusCode}: ${text.slice(0, ERROR_EXCERPT)}`,
      };
    } catch (error) {
      return { branchId: call.branchId, outcome: 'unknown', httpStatus: null, error: describeFailure(error) };
    }
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}

function describeFailure(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return `${typeof code === 'string' ? `${code} ` : ''}${error.name}: ${error.message}${cause}`.slice(0, ERROR_EXCERPT);
  }
  return String(error).slice(0, ERROR_EXCERPT);
}
