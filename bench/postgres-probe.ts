/**
 * What the benchmark reads from the PostgreSQL server that holds the
 * coordinators' logs with `--store=postgres`: fresh databases, a log's open
 * and finished transactions, the server's write counters, and its pid. One
 * connection to the server's `postgres` database, and one per log database
 * (PostgreSQL queries no other database than the session's).
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';

/** The server's counters of written work, read before and after each measured step. */
export interface PostgresWriteCounters {
  /**
   * Transactions that wrote, server-wide: the next transaction id to be
   * handed out (a read-only transaction takes none). Exact and current, unlike
   * the statistics views, which backends flush up to a second late.
   */
  writeTransactions: number;
  /** WAL bytes inserted, server-wide. */
  walBytes: number;
}

export class PostgresProbe {
  readonly #logs = new Map<string, pg.Client>();

  private constructor(
    private readonly serverUrl: string,
    private readonly admin: pg.Client,
  ) {}

  /** `serverUrl`: `postgres://user:pass@host:port/postgres`, the maintenance database. */
  static async open(serverUrl: string): Promise<PostgresProbe> {
    return new PostgresProbe(serverUrl, await connect(serverUrl));
  }

  /** The URL of database `name` on this server. */
  databaseUrl(name: string): string {
    const url = new URL(this.serverUrl);
    url.pathname = `/${name}`;
    return url.toString();
  }

  /** Drops `name` (if present, ending its sessions) and creates it empty. */
  async freshDatabase(name: string): Promise<void> {
    await this.dropDatabase(name);
    await this.admin.query(`CREATE DATABASE ${this.admin.escapeIdentifier(name)} ENCODING 'UTF8' TEMPLATE template0`);
  }

  async dropDatabase(name: string): Promise<void> {
    await this.#logs.get(name)?.end();
    this.#logs.delete(name);
    await this.admin.query(`DROP DATABASE IF EXISTS ${this.admin.escapeIdentifier(name)} WITH (FORCE)`);
  }

  /** Transactions of the log in `database` that are not terminal. */
  async openTransactions(database: string): Promise<number> {
    const { rows } = await (
      await this.#log(database)
    ).query<{ n: number }>("SELECT count(*)::int AS n FROM dtx_global WHERE status IN ('open', 'committing', 'rolling-back')");
    return rows[0]?.n ?? 0;
  }

  /** Terminal transactions of the log in `database` begun at or after `since` (epoch ms); with `committedOnly`, the committed ones alone. */
  async terminalSince(database: string, since: number, committedOnly = false): Promise<number> {
    const statuses = committedOnly ? ['committed'] : ['committed', 'rolled-back'];
    const { rows } = await (
      await this.#log(database)
    ).query<{ n: number }>('SELECT count(*)::int AS n FROM dtx_global WHERE status = ANY($2::text[]) AND created_at >= $1::bigint', [since, statuses]);
    return rows[0]?.n ?? 0;
  }

  async writeCounters(): Promise<PostgresWriteCounters> {
    const { rows } = await this.admin.query<{ xid: string; wal: string }>(
      "SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS xid, pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::text AS wal",
    );
    return { writeTransactions: Number(rows[0]!.xid), walBytes: Number(rows[0]!.wal) };
  }

  /** The postmaster's pid: the parent of this session's backend (same machine only); null if it cannot be read. */
  async serverPid(): Promise<number | null> {
    const { rows } = await this.admin.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    try {
      const stat = readFileSync(`/proc/${rows[0]!.pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      return Number.isInteger(ppid) && ppid > 1 ? ppid : null;
    } catch {
      return null;
    }
  }

  async version(): Promise<string> {
    const { rows } = await this.admin.query<{ v: string }>('SHOW server_version');
    return rows[0]?.v ?? '?';
  }

  async close(): Promise<void> {
    for (const client of this.#logs.values()) await client.end().catch(() => undefined);
    this.#logs.clear();
    await this.admin.end();
  }

  async #log(database: string): Promise<pg.Client> {
    let client = this.#logs.get(database);
    if (!client) {
      client = await connect(this.databaseUrl(database));
      this.#logs.set(database, client);
    }
    return client;
  }
}

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: 'dtx-bench-probe' });
  // A connection that dies fails its next query; nothing to do here.
  client.on('error', () => undefined);
  await client.connect();
  return client;
}
