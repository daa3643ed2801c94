/**
 * The alert hook (DTX_ALERT_URL): when a recorded phase-two round flags a
 * transaction needs attention, POST a signed JSON notice to the configured
 * URL. Delivery runs in the background — the round never waits for it — and
 * is retried with capped, jittered backoff a bounded number of times, then
 * dropped with an error log. The flag itself is in MySQL regardless (the
 * admin API and the `dtx_transactions_needing_attention` gauge show it), so
 * a lost alert loses no information, only a push.
 *
 * Each flag is raised by the one instance that recorded the round, once per
 * raise (see decideAfterRound), so instances do not send duplicates; a
 * receiver still deduplicates on `dtx-delivery`, which is the same on every
 * retry of one alert.
 */
import { wordsFor } from '../modes/registry.ts';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { Agent, request } from 'undici';
import { signWebhook, WEBHOOK_HEADERS, retry } from '@dtx/protocol';
import type { Mode } from '../domain/transaction.ts';
import type { AttentionEvent, Telemetry } from '../engine/telemetry.ts';

/** The JSON body of a needs-attention alert. */
export interface NeedsAttentionAlert {
  event: 'needs-attention';
  gid: string;
  mode: Mode;
  /** The phase-two status it is stuck in. */
  /** The phase two that is incomplete, in the mode's words (TCC: `confirming`, `cancelling`). */
  status: string;
  reason: string;
  retryCount: number;
  /** When the flag was raised, ISO 8601. */
  at: string;
  /** Instance id of the coordinator that raised it. */
  coordinator: string;
}

export interface AlertHookOptions {
  url: string;
  /** Signs each POST (dtx-signature); null sends unsigned alerts. */
  secret: string | null;
  instanceId: string;
  /** Attempts per alert, the first one included. */
  attempts: number;
  /** Backoff between attempts: exponential from base, capped, with jitter. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Budget of one POST. */
  timeoutMs: number;
  now: () => number;
  random: () => number;
  logger: Logger;
}

type AttemptResult = { ok: true; status: number } | { ok: false; error: string };

/** The coordinator is stopping: no (further) attempt. */
class Stopping extends Error {}

export class AlertHook implements Pick<Telemetry, 'onAttention'> {
  readonly #agent: Agent;
  readonly #closing = new AbortController();
  readonly #inFlight = new Set<Promise<void>>();
  readonly #log: Logger;

  constructor(private readonly options: AlertHookOptions) {
    this.#agent = new Agent({ connections: 4, keepAliveTimeout: 10_000, connectTimeout: Math.min(options.timeoutMs, 10_000) });
    // The URL may carry a token in its path or query: log only its origin.
    this.#log = options.logger.child({ alertTarget: new URL(options.url).origin });
  }

  onAttention(event: AttentionEvent): void {
    const alert: NeedsAttentionAlert = {
      event: 'needs-attention',
      gid: event.gid,
      mode: event.mode,
      status: wordsFor(event.mode).status[event.status],
      reason: event.reason,
      retryCount: event.retryCount,
      at: new Date(event.at).toISOString(),
      coordinator: this.options.instanceId,
    };
    const delivery = this.#deliver(alert).catch((error: unknown) => this.#log.error({ err: error, gid: alert.gid }, 'alert delivery crashed'));
    this.#inFlight.add(delivery);
    void delivery.finally(() => this.#inFlight.delete(delivery));
  }

  /** Alerts still being delivered or waiting for a retry. */
  get pendingCount(): number {
    return this.#inFlight.size;
  }

  /** Stops: pending retries are dropped (and logged), in-flight POSTs aborted. */
  async close(): Promise<void> {
    this.#closing.abort();
    await Promise.allSettled([...this.#inFlight]);
    await this.#agent.close();
  }

  async #deliver(alert: NeedsAttentionAlert): Promise<void> {
    const { attempts } = this.options;
    const delivery = randomUUID();
    const body = JSON.stringify(alert);
    const log = this.#log.child({ gid: alert.gid, delivery });
    let lastError = 'not attempted';
    try {
      const { attempt, status } = await retry(
        async (attempt) => {
          if (this.#closing.signal.aborted) throw new Stopping();
          const result = await this.#post(delivery, body);
          if (result.ok) return { attempt, status: result.status };
          lastError = result.error;
          throw new Error(result.error);
        },
        {
          policy: { baseDelayMs: this.options.baseDelayMs, maxDelayMs: this.options.maxDelayMs, attempts },
          shouldRetry: (error) => !(error instanceof Stopping),
          onRetry: (_error, attempt, delay) => log.warn({ attempt, error: lastError, retryInMs: delay }, 'alert not accepted; retrying'),
          sleep: (delay) => sleep(delay, true, { signal: this.#closing.signal }).catch(() => false),
          random: this.options.random,
        },
      );
      log.info({ attempt, status }, 'needs-attention alert delivered');
      return;
    } catch {
      // Given up: logged below.
    }
    if (this.#closing.signal.aborted) {
      log.warn({ alert, error: lastError }, 'coordinator stopping: needs-attention alert dropped (the flag stays in the log)');
    } else {
      log.error({ alert, attempts, error: lastError }, 'needs-attention alert dropped after its retry budget (the flag stays in the log)');
    }
  }

  async #post(delivery: string, body: string): Promise<AttemptResult> {
    const timestamp = this.options.now();
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      [WEBHOOK_HEADERS.event]: 'needs-attention',
      [WEBHOOK_HEADERS.delivery]: delivery,
      [WEBHOOK_HEADERS.timestamp]: String(timestamp),
    };
    if (this.options.secret !== null) {
      headers[WEBHOOK_HEADERS.signature] = signWebhook(this.options.secret, { event: 'needs-attention', delivery, timestamp, body });
    }
    try {
      const response = await request(this.options.url, {
        method: 'POST',
        headers,
        body,
        dispatcher: this.#agent,
        signal: AbortSignal.any([AbortSignal.timeout(this.options.timeoutMs), this.#closing.signal]),
      });
      const text = await response.body.text();
      if (response.statusCode >= 200 && response.statusCode < 300) return { ok: true, status: response.statusCode };
      return { ok: false, error: `HTTP ${response.statusCode}: ${text.slice(0, 200)}` };
    } catch (error) {
      return { ok: false, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
    }
  }
}
