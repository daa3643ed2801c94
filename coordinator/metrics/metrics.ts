/**
 * Prometheus metrics of one coordinator, on its own registry (not
 * prom-client's global one, so that several coordinators can live in one
 * process, as in the tests).
 *
 * Counters and histograms move as the engine reports (the `Telemetry` it
 * calls); gauges that describe the whole log (needs attention, open
 * transactions) or the queue are read when Prometheus scrapes, with a time
 * limit, so a scrape never waits long on an unreachable MySQL or Redis.
 * No gid, URL or other unbounded value is ever a label.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { BranchOutcome } from '@dtx/protocol';
import { OPEN_STATUSES, TERMINAL_STATUSES } from '../domain/transaction.ts';
import type { Telemetry } from '../engine/telemetry.ts';
import { ALL_RULES, wordsFor } from '../modes/registry.ts';
import type { OpenCounts } from '../store/ports/admin-store.ts';

export interface MetricsSources {
  /** Open transactions by status, and how many are flagged needs attention (MySQL, index-only counts). */
  openCounts(): Promise<OpenCounts>;
  /** Recovery jobs waiting, delayed or running (Redis). */
  queueDepth(): Promise<number>;
}

export interface CoordinatorMetricsOptions {
  sources: MetricsSources;
  logger: Logger;
  /** Longest a scrape waits for one source (default 2 s). */
  sourceTimeoutMs?: number;
  /** Node.js process metrics (CPU, memory, event loop, GC); default true. */
  processMetrics?: boolean;
}

const OUTCOMES: readonly BranchOutcome[] = ['success', 'failure', 'ongoing', 'unknown'];
/** Label values are each mode's own words (TCC: `confirmed`, `confirm`), so dashboards read in the mode's terms. */
const PHASE_TWO_OPS = [...new Set(ALL_RULES.flatMap((rules) => Object.values(rules.words.op)))];
const OPEN_WORDS = [...new Set(ALL_RULES.flatMap((rules) => OPEN_STATUSES.map((status) => rules.words.status[status])))];

export class CoordinatorMetrics {
  readonly registry = new Registry();
  /** The engine's view of these metrics. */
  readonly telemetry: Telemetry;

  constructor(options: CoordinatorMetricsOptions) {
    const registers = [this.registry];
    const timeoutMs = options.sourceTimeoutMs ?? 2_000;
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });

    const transactions = new Counter({
      name: 'dtx_transactions_total',
      help: 'Global transactions begun on this instance, and those that reached a terminal status here (outcome in the words of the mode: TCC confirmed, cancelled)',
      labelNames: ['mode', 'outcome'] as const,
      registers,
    });
    const phaseTwoDuration = new Histogram({
      name: 'dtx_phase_two_duration_seconds',
      help: 'From the logged decision (TCC: confirm or cancel) to the terminal status, retries included',
      labelNames: ['mode', 'outcome'] as const,
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600],
      registers,
    });
    const branchCalls = new Counter({
      name: 'dtx_branch_calls_total',
      help: 'Phase-two calls to participants (TCC: confirm, cancel), by how they ended (success 2xx, failure 409, ongoing 425, unknown anything else)',
      labelNames: ['op', 'result'] as const,
      registers,
    });
    const branchCallDuration = new Histogram({
      name: 'dtx_branch_call_duration_seconds',
      help: 'Duration of one phase-two call to a participant, timeouts included',
      labelNames: ['op'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    const retries = new Counter({
      name: 'dtx_phase_two_retries_total',
      help: 'Phase-two rounds that ended incomplete and scheduled another round',
      labelNames: ['op'] as const,
      registers,
    });
    const attentionRaised = new Counter({
      name: 'dtx_attention_raised_total',
      help: 'Times this instance flagged a transaction needs attention (each fires the alert hook when configured)',
      labelNames: ['mode'] as const,
      registers,
    });

    // Series exist from the start (at 0), so that rate() and alert rules see them before the first event.
    for (const { mode, words } of ALL_RULES) {
      for (const outcome of ['begun', ...TERMINAL_STATUSES.map((status) => words.status[status])]) transactions.inc({ mode, outcome }, 0);
      attentionRaised.inc({ mode }, 0);
    }
    for (const op of PHASE_TWO_OPS) {
      for (const result of OUTCOMES) branchCalls.inc({ op, result }, 0);
      retries.inc({ op }, 0);
    }

    const read = async <T>(source: 'log' | 'queue', work: () => Promise<T>): Promise<T | null> => {
      try {
        return await withTimeout(work(), timeoutMs, `${source} did not answer within ${timeoutMs} ms`);
      } catch (error) {
        options.logger.debug({ err: error, source }, 'metrics source unavailable during scrape');
        return null;
      }
    };
    // One read of each source per scrape, shared by every gauge below: the
    // registry starts all collects in the same tick, so the first starts the
    // reads and the others join them.
    let pending: Promise<{ counts: OpenCounts | null; depth: number | null }> | null = null;
    const sources = () => {
      pending ??= Promise.all([read('log', () => options.sources.openCounts()), read('queue', () => options.sources.queueDepth())])
        .then(([counts, depth]) => ({ counts, depth }))
        .finally(() => {
          pending = null;
        });
      return pending;
    };

    new Gauge({
      name: 'dtx_metrics_source_up',
      help: 'Whether this scrape could read the source (log: the transaction log counts, queue: the recovery queue depth); 0 leaves its gauges NaN',
      labelNames: ['source'] as const,
      registers,
      async collect() {
        const { counts, depth } = await sources();
        this.set({ source: 'log' }, counts ? 1 : 0);
        this.set({ source: 'queue' }, depth === null ? 0 : 1);
      },
    });
    new Gauge({
      name: 'dtx_transactions_needing_attention',
      help: 'Open transactions flagged needs attention (whole log, all instances); read from MySQL at scrape',
      registers,
      async collect() {
        const { counts } = await sources();
        this.set(counts ? counts.needsAttention : Number.NaN);
      },
    });
    new Gauge({
      name: 'dtx_open_transactions',
      help: 'Open transactions by status, in the words of their mode (whole log, all instances); read from MySQL at scrape',
      labelNames: ['status'] as const,
      registers,
      async collect() {
        const { counts } = await sources();
        const byWord = new Map<string, number>(OPEN_WORDS.map((word) => [word, counts ? 0 : Number.NaN]));
        for (const { mode, status, count } of counts?.open ?? []) {
          const word = wordsFor(mode).status[status];
          byWord.set(word, (byWord.get(word) ?? 0) + count);
        }
        for (const [status, count] of byWord) this.set({ status }, count);
      },
    });
    new Gauge({
      name: 'dtx_recovery_queue_depth',
      help: 'Recovery jobs waiting, delayed or running in the BullMQ queue (shared by all instances); read from Redis at scrape',
      registers,
      async collect() {
        const { depth } = await sources();
        this.set(depth ?? Number.NaN);
      },
    });

    this.telemetry = {
      onBegin: ({ mode }) => transactions.inc({ mode, outcome: 'begun' }),
      onFinish: ({ mode, status, decidedAt, at }) => {
        const outcome = wordsFor(mode).status[status];
        transactions.inc({ mode, outcome });
        if (decidedAt !== null) phaseTwoDuration.observe({ mode, outcome }, Math.max(0, at - decidedAt) / 1000);
      },
      onBranchCall: ({ op, outcome, durationMs }) => {
        branchCalls.inc({ op, result: outcome });
        branchCallDuration.observe({ op }, Math.max(0, durationMs) / 1000);
      },
      onRetry: ({ mode, status }) => retries.inc({ op: wordsFor(mode).op[status] }),
      onAttention: ({ mode }) => attentionRaised.inc({ mode }),
    };
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The text exposition of every metric. */
  render(): Promise<string> {
    return this.registry.metrics();
  }
}

async function withTimeout<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
    work.catch(() => undefined);
  }
}
