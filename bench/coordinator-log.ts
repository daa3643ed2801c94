/**
 * How the benchmark reads a coordinator's log around each step, whatever
 * the store: whether the log has drained, how many transactions the step
 * finished, and — where its server is in reach — how much the log wrote.
 *
 *   mysql: the log's rows, over the bench's MariaDB connection (mysql-probe.ts);
 *   postgres: the log's rows and the server's write counters (postgres-probe.ts);
 *   embedded: the coordinator's own GET /metrics — PGlite is one connection,
 *     inside the coordinator's process, so nothing else can open the log.
 */
import type { MysqlProbe } from './mysql-probe.ts';
import type { LogStore } from './options.ts';
import type { PostgresProbe, PostgresWriteCounters } from './postgres-probe.ts';

export interface CoordinatorLogReader {
  store: LogStore;
  /** Transactions of the log not yet terminal (NaN while it cannot be told). */
  openTransactions(): Promise<number>;
  /**
   * Call before a step; the function it resolves to counts the step's
   * terminal transactions once the log has drained: those begun since
   * (mysql, postgres: by the rows' creation time) or finished since
   * (embedded: the coordinator's counter) — the same transactions, since the
   * step before drained too. `committedOnly`: the committed ones alone (the
   * log's `committed`: TCC's confirmed, a saga's succeeded), not the rolled back.
   */
  startCount(committedOnly?: boolean): Promise<() => Promise<number>>;
  /** The log server's write counters, read before and after each step; null where the bench cannot read them (see options.ts). */
  writeCounters: (() => Promise<PostgresWriteCounters>) | null;
}

/** A log in `database` on the bench's MariaDB. */
export function mysqlLogReader(probe: MysqlProbe, database: string): CoordinatorLogReader {
  return {
    store: 'mysql',
    openTransactions: () => probe.openTransactions(database),
    startCount: async (committedOnly = false) => {
      const since = Date.now();
      return async () => {
        const done = await probe.terminalSince(database, since);
        return committedOnly ? done.confirmed : done.confirmed + done.cancelled;
      };
    },
    writeCounters: null,
  };
}

/** A log in `database` on the bench's PostgreSQL. */
export function postgresLogReader(probe: PostgresProbe, database: string): CoordinatorLogReader {
  return {
    store: 'postgres',
    openTransactions: () => probe.openTransactions(database),
    startCount: async (committedOnly = false) => {
      const since = Date.now();
      return () => probe.terminalSince(database, since, committedOnly);
    },
    writeCounters: () => probe.writeCounters(),
  };
}

/** An embedded log, read through its coordinator's metrics at `coordinatorUrl` (GET /metrics, open: the bench sets no DTX_OPS_TOKEN). */
export function metricsLogReader(coordinatorUrl: string): CoordinatorLogReader {
  const scrape = async () => {
    const response = await fetch(`${coordinatorUrl}/metrics`);
    if (!response.ok) throw new Error(`GET ${coordinatorUrl}/metrics answered HTTP ${response.status}`);
    const text = await response.text();
    return { ...parseLogMetrics(text), committed: committedOfMetrics(text) };
  };
  return {
    store: 'embedded',
    openTransactions: async () => (await scrape()).open,
    startCount: async (committedOnly = false) => {
      const count = async () => {
        const metrics = await scrape();
        return committedOnly ? metrics.committed : metrics.finished;
      };
      const before = await count();
      return async () => (await count()) - before;
    },
    writeCounters: null,
  };
}

/**
 * From a coordinator's Prometheus exposition: its open transactions (the sum
 * of `dtx_open_transactions`, read from the log at scrape; NaN when the log
 * did not answer the scrape or the series is missing) and the transactions
 * this instance finished (`dtx_transactions_total` over every outcome but
 * `begun`).
 */
export function parseLogMetrics(text: string): { open: number; finished: number } {
  let open: number | null = null;
  let finished = 0;
  for (const line of text.split('\n')) {
    const match = /^(dtx_open_transactions|dtx_transactions_total)\{([^}]*)\}\s+(\S+)/.exec(line);
    if (!match) continue;
    const value = Number(match[3]);
    if (match[1] === 'dtx_open_transactions') open = (open ?? 0) + value;
    else if (!/(^|,)outcome="begun"/.test(match[2]!)) finished += value;
  }
  return { open: open ?? Number.NaN, finished };
}

/**
 * The transactions this instance committed, from its exposition: `dtx_transactions_total` of the
 * outcomes that are the log's `committed` in each mode's words (TCC confirmed, saga succeeded, XA
 * and FMT committed).
 */
export function committedOfMetrics(text: string): number {
  let committed = 0;
  for (const line of text.split('\n')) {
    const match = /^dtx_transactions_total\{([^}]*)\}\s+(\S+)/.exec(line);
    if (match && /(^|,)outcome="(confirmed|succeeded|committed)"/.test(match[1]!)) committed += Number(match[2]);
  }
  return committed;
}
