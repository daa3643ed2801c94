/**
 * What the benchmark reads from MySQL/MariaDB itself: server status counters
 * (commits and statements), the coordinator's open and finished transactions,
 * the banks' totals, and the server's pid. One connection of its own.
 */
import { readFileSync } from 'node:fs';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';

/** Server-wide counters read before and after each measured step. */
export const STATUS_COUNTERS = [
  'Com_commit',
  'Com_rollback',
  'Com_begin',
  'Com_insert',
  'Com_update',
  'Com_delete',
  'Com_select',
  'Questions',
  'Handler_commit',
  // Row reads by the storage engine: deterministic, unlike time, so they show whether a query's work
  // grows with the table. (MariaDB 10.11 has no Innodb_rows_* counters; the Handler_read_* ones exist everywhere.)
  'Handler_read_first',
  'Handler_read_key',
  'Handler_read_next',
  'Handler_read_prev',
  'Handler_read_rnd',
  'Handler_read_rnd_next',
] as const;
export type StatusCounter = (typeof STATUS_COUNTERS)[number];
export type ServerStatus = Record<StatusCounter, number>;

export class MysqlProbe {
  private constructor(readonly connection: Connection) {}

  /** `serverUrl` without a database part. */
  static async open(serverUrl: string): Promise<MysqlProbe> {
    const url = new URL(serverUrl);
    url.pathname = '/';
    return new MysqlProbe(await createConnection({ uri: url.toString(), multipleStatements: false }));
  }

  async status(): Promise<ServerStatus> {
    const [rows] = await this.connection.query<RowDataPacket[]>('SHOW GLOBAL STATUS WHERE Variable_name IN (?)', [STATUS_COUNTERS]);
    const out = Object.fromEntries(STATUS_COUNTERS.map((name) => [name, 0])) as ServerStatus;
    for (const row of rows) {
      const name = row['Variable_name'] as StatusCounter;
      out[name] = Number(row['Value']);
    }
    return out;
  }

  /** Drops (if present) and creates each database. */
  async freshDatabases(names: readonly string[]): Promise<void> {
    for (const name of names) {
      await this.connection.query('DROP DATABASE IF EXISTS ??', [name]);
      await this.connection.query('CREATE DATABASE ?? CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci', [name]);
    }
  }

  async dropDatabases(names: readonly string[]): Promise<void> {
    for (const name of names) await this.connection.query('DROP DATABASE IF EXISTS ??', [name]);
  }

  /** Transactions of the coordinator's log that are not terminal. */
  async openTransactions(database: string): Promise<number> {
    const [rows] = await this.connection.query<RowDataPacket[]>(
      "SELECT COUNT(*) AS n FROM ??.dtx_global WHERE status IN ('open', 'committing', 'rolling-back')",
      [database],
    );
    return Number(rows[0]?.['n'] ?? 0);
  }

  /** Terminal transactions begun at or after `since` (epoch ms), by status. */
  async terminalSince(database: string, since: number): Promise<{ confirmed: number; cancelled: number }> {
    const [rows] = await this.connection.query<RowDataPacket[]>(
      "SELECT status, COUNT(*) AS n FROM ??.dtx_global WHERE status IN ('committed', 'rolled-back') AND created_at >= ? GROUP BY status",
      [database, since],
    );
    const out = { confirmed: 0, cancelled: 0 };
    // The log's names for TCC's confirmed and cancelled.
    for (const row of rows) out[row['status'] === 'committed' ? 'confirmed' : 'cancelled'] = Number(row['n']);
    return out;
  }

  /** Sum of balances, frozen and incoming money over the banks' databases. */
  async bankTotals(databases: readonly string[]): Promise<{ balance: number; frozen: number; incoming: number }> {
    const out = { balance: 0, frozen: 0, incoming: 0 };
    for (const db of databases) {
      const [rows] = await this.connection.query<RowDataPacket[]>(
        'SELECT COALESCE(SUM(balance), 0) AS b, COALESCE(SUM(frozen), 0) AS f, COALESCE(SUM(incoming), 0) AS i FROM ??.accounts',
        [db],
      );
      out.balance += Number(rows[0]?.['b'] ?? 0);
      out.frozen += Number(rows[0]?.['f'] ?? 0);
      out.incoming += Number(rows[0]?.['i'] ?? 0);
    }
    return out;
  }

  /** The server's pid, from its pid file (same machine only); null if it cannot be read. */
  async serverPid(): Promise<number | null> {
    try {
      const [rows] = await this.connection.query<RowDataPacket[]>('SELECT @@pid_file AS f');
      const file = String(rows[0]?.['f'] ?? '');
      const pid = Number(readFileSync(file, 'utf8').trim());
      return Number.isInteger(pid) && pid > 0 ? pid : null;
    } catch {
      return null;
    }
  }

  async version(): Promise<string> {
    const [rows] = await this.connection.query<RowDataPacket[]>('SELECT VERSION() AS v');
    return String(rows[0]?.['v'] ?? '?');
  }

  async close(): Promise<void> {
    await this.connection.end();
  }
}

/** Index lookups and row reads of all kinds. */
export function rowReads(status: ServerStatus): number {
  return (
    status.Handler_read_first +
    status.Handler_read_key +
    status.Handler_read_next +
    status.Handler_read_prev +
    status.Handler_read_rnd +
    status.Handler_read_rnd_next
  );
}

export function statusDelta(before: ServerStatus, after: ServerStatus): ServerStatus {
  return Object.fromEntries(STATUS_COUNTERS.map((name) => [name, after[name] - before[name]])) as ServerStatus;
}
