/**
 * HTTP client of the coordinator's transaction API (v1). Every call is
 * idempotent on the coordinator, so transport failures are retried a few
 * times; a 4xx refusal is never retried.
 */
import { Agent, request, type Dispatcher } from 'undici';
import { type ErrorReply, withDeadline, retry, type BackoffPolicy, type TransactionMode } from '@dtx/protocol';
import { CoordinatorRefusedError, CoordinatorUnavailableError } from './errors.ts';
import type { SagaStatus } from './saga.ts';
import type { MessagePreparation, MessageStatus } from './message.ts';

/** Transport retries of a coordinator call: exponential from 200 ms with full jitter, at most 5 s (a `retry-after` included). */
const COORDINATOR_CALL_RETRY: BackoffPolicy = { baseDelayMs: 200, maxDelayMs: 5_000, jitter: 'full' };

/**
 * One branch as the coordinator records it: what it calls in phase two, and
 * with which payload. A TCC branch names `confirmUrl` and `cancelUrl`, an
 * XA branch `commitUrl` and `rollbackUrl`.
 */
export interface BranchRegistration {
  /** The branch's id within the transaction ([A-Za-z0-9_.-], 1..64). */
  branchId: string;
  /** TCC: where the coordinator POSTs the confirm. */
  confirmUrl?: string;
  /** TCC: where the coordinator POSTs the cancel. */
  cancelUrl?: string;
  /** XA and FMT: where the coordinator POSTs the commit. */
  commitUrl?: string;
  /** XA and FMT: where the coordinator POSTs the rollback. */
  rollbackUrl?: string;
  /** The body of both phase-two calls (the first phase's payload), as JSON. */
  payload: unknown;
}

/**
 * A TCC transaction's status on the coordinator: `trying` until submit or
 * abort; `confirming` / `cancelling` while phase two runs (and is retried);
 * `confirmed` / `cancelled` when done.
 */
export type TransactionStatus = 'trying' | 'confirming' | 'cancelling' | 'confirmed' | 'cancelled';

/** How a {@link CoordinatorClient} calls the coordinator. */
export interface CoordinatorClientOptions {
  /** Base URL of the coordinator, e.g. http://127.0.0.1:36789 */
  url: string;
  /** Timeout of one attempt of one call. */
  timeoutMs: number;
  /** Transport retries of one call (refusals are final). */
  retries: number;
  /** The undici dispatcher the calls go through (a keep-alive agent). */
  dispatcher: Dispatcher;
  /** Bearer token of this service (DTX_API_TOKENS on the coordinator); null sends none. */
  apiToken: string | null;
}

/**
 * The coordinator's transaction API (`/v1`) call by call: for querying a
 * transaction (`dtx.coordinator.query(gid)`) and for initiators that drive
 * the protocol by hand. Transport failures are retried with backoff (every
 * call is idempotent on the coordinator); a 4xx refusal is final.
 * Every method throws CoordinatorRefusedError (4xx) or
 * CoordinatorUnavailableError (unreachable or 5xx after the retries).
 */
export class CoordinatorClient {
  private readonly base: string;

  /** @param options - the coordinator's URL, timeouts and retries, the dispatcher and the token */
  constructor(private readonly options: CoordinatorClientOptions) {
    this.base = options.url.replace(/\/+$/, '');
  }

  /**
   * Begin transaction `gid` (TCC unless `mode` says otherwise), registering `branches` in the same call (idempotent on the gid).
   * `joinableBy`: other callers that may register branches into it. The reply's `caller` is this
   * service's name as the coordinator authenticated it (null for an anonymous caller); its `proofs`
   * the registration proof of each branch, for the `dtx-registration` header of its try (prepare).
   */
  begin(body: { gid: string; mode?: 'tcc' | 'xa' | 'fmt'; timeoutMs?: number; joinableBy?: string[]; branches: BranchRegistration[] }) {
    return this.post<{ gid: string; status: string; deadlineAt: string; created: boolean; caller: string | null; proofs?: Record<string, string> }>(
      body.gid,
      '/v1/transactions',
      {
        ...body,
        mode: body.mode ?? 'tcc',
      },
    );
  }

  /** Submit a saga whole (idempotent on the gid with the same steps); waits for its outcome up to `waitMs`. */
  submitSaga(body: { gid: string; timeoutMs?: number; reason?: string; waitMs?: number; steps: unknown[] }) {
    return this.post<{ gid: string; status: SagaStatus; deadlineAt: string; created: boolean }>(body.gid, '/v1/sagas', body);
  }

  /**
   * Prepare a transactional message with its receivers (idempotent on the gid: a re-send answers
   * `created: false` and the message's status). Nothing is delivered before its submit, or before
   * the sender's check-back said its local transaction committed.
   */
  prepareMessage(body: MessagePreparation) {
    return this.post<{ gid: string; status: MessageStatus; deadlineAt: string; created: boolean }>(body.gid, '/v1/messages', body);
  }

  /**
   * Register more branches of a begun transaction, before their tries are called (the reply's `caller` as for {@link begin}).
   * The reply's `proofs`: each branch's registration proof, for the `dtx-registration` header of its try (prepare).
   */
  register(gid: string, branches: BranchRegistration[], mode?: TransactionMode) {
    return this.post<{ gid: string; status: TransactionStatus; registered: string[]; caller: string | null; proofs: Record<string, string> }>(
      gid,
      `/v1/transactions/${gid}/branches`,
      mode === undefined ? { branches } : { mode, branches },
    );
  }

  /**
   * Decide confirm (a message: deliver); waits for phase two up to `waitMs` (the coordinator's default when absent) and answers the status then.
   *
   * @typeParam S - the status words of the transaction's mode (TCC's by default; {@link MessageStatus} for a message)
   */
  submit<S extends string = TransactionStatus>(gid: string, body: { mode?: TransactionMode; reason?: string; waitMs?: number } = {}) {
    return this.post<{ gid: string; status: S }>(gid, `/v1/transactions/${gid}/submit`, body);
  }

  /**
   * Decide cancel (a message: drop it); waits for phase two up to `waitMs` and answers the status then.
   *
   * @typeParam S - the status words of the transaction's mode (TCC's by default; {@link MessageStatus} for a message)
   */
  abort<S extends string = TransactionStatus>(gid: string, body: { mode?: TransactionMode; reason?: string; waitMs?: number } = {}) {
    return this.post<{ gid: string; status: S }>(gid, `/v1/transactions/${gid}/abort`, body);
  }

  /** The transaction, its branches and its history. */
  query(gid: string) {
    return this.send<{ transaction: { gid: string; status: TransactionStatus }; branches: unknown[]; events: unknown[] }>(
      gid,
      'GET',
      `/v1/transactions/${gid}`,
    );
  }

  #headers(withBody: boolean): Record<string, string> {
    const headers: Record<string, string> = {};
    if (withBody) headers['content-type'] = 'application/json';
    if (this.options.apiToken !== null) headers['authorization'] = `Bearer ${this.options.apiToken}`;
    return headers;
  }

  private post<T>(gid: string, path: string, body: unknown): Promise<T> {
    return this.send<T>(gid, 'POST', path, body);
  }

  private async send<T>(gid: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    let replyCode: string | null = null;
    /** How long the coordinator asked us to wait (`retry-after` on a 503: its log or queue is down). */
    let retryAfterMs = 0;
    try {
      return await retry(
        async () => {
          const { statusCode, text, retryAfter } = await withDeadline(this.options.timeoutMs, async (signal) => {
            const response = await request(`${this.base}${path}`, {
              method,
              headers: this.#headers(body !== undefined),
              body: body === undefined ? undefined : JSON.stringify(body),
              dispatcher: this.options.dispatcher,
              signal,
            });
            return { statusCode: response.statusCode, text: await response.body.text(), retryAfter: response.headers['retry-after'] };
          });
          if (statusCode >= 200 && statusCode < 300) return JSON.parse(text) as T;
          if (statusCode >= 400 && statusCode < 500) {
            const reply = parseError(text);
            throw new CoordinatorRefusedError(gid, statusCode, reply.code, reply.message, reply.status ?? null);
          }
          replyCode = statusCode === 503 ? parseError(text).code : null;
          retryAfterMs = typeof retryAfter === 'string' && /^\d{1,4}$/.test(retryAfter) ? Number(retryAfter) * 1000 : 0;
          throw new Error(`HTTP ${statusCode}: ${text.slice(0, 300)}`);
        },
        {
          policy: COORDINATOR_CALL_RETRY,
          attempts: this.options.retries + 1,
          // A refusal is final.
          shouldRetry: (error) => !(error instanceof CoordinatorRefusedError),
          // At least what the coordinator asked for (capped like the backoff).
          delayHint: () => retryAfterMs,
        },
      );
    } catch (error) {
      if (error instanceof CoordinatorRefusedError) throw error;
      const reason = error instanceof Error ? error.message : String(error);
      throw new CoordinatorUnavailableError(gid, `coordinator ${method} ${path} failed: ${reason}`, { cause: error, replyCode });
    }
  }
}

function parseError(text: string): ErrorReply & { status?: string } {
  try {
    const parsed = JSON.parse(text) as Partial<ErrorReply & { status: string }>;
    return { code: parsed.code ?? 'UNKNOWN', message: parsed.message ?? text, status: parsed.status };
  } catch {
    return { code: 'UNKNOWN', message: text.slice(0, 300) };
  }
}

/** A keep-alive dispatcher shared by the initiator's calls (coordinator and tries). */
export function keepAliveAgent(): Agent {
  return new Agent({ keepAliveTimeout: 30_000, connections: 128 });
}
