/**
 * Fills a coordinator's log with finished TCC transactions, shaped like
 * real ones (one global row, two branches, seven events each), with bulk
 * INSERT ... SELECT over a generated number sequence — 100,000 transactions
 * per statement, no round trip per row.
 */
import type { RowDataPacket } from 'mysql2/promise';
import type { MysqlProbe } from './mysql-probe.ts';

const CHUNK = 100_000;

/** Numbers base+0 … base+99,999 as column `n`: five cross-joined digit tables, portable to MySQL 8 and MariaDB. */
function numbers(base: number): string {
  const digits = '(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)';
  return `(SELECT ${base} + d1.d + 10 * d2.d + 100 * d3.d + 1000 * d4.d + 10000 * d5.d AS n FROM ${digits} d1, ${digits} d2, ${digits} d3, ${digits} d4, ${digits} d5)`;
}

async function columnsOf(probe: MysqlProbe, database: string, table: string): Promise<Set<string>> {
  const [rows] = await probe.connection.query<RowDataPacket[]>(
    'SELECT column_name AS c FROM information_schema.columns WHERE table_schema = ? AND table_name = ?',
    [database, table],
  );
  return new Set(rows.map((r) => String(r['c'])));
}

export interface FillResult {
  transactions: number;
  branches: number;
  events: number;
  seconds: number;
}

/**
 * Inserts `count` finished transactions (gids `fill-000000001` …), created
 * over the 30 days before `now`, 1 in 20 cancelled. Columns added by later
 * migrations keep their defaults (a `participant` column is filled if present).
 */
export async function fillFinishedTransactions(probe: MysqlProbe, database: string, count: number, now: number, onProgress?: (done: number) => void): Promise<FillResult> {
  const started = Date.now();
  const branchColumns = await columnsOf(probe, database, 'dtx_branch');
  const withParticipant = branchColumns.has('participant');
  const q = (sql: string, values: unknown[]) => probe.connection.query(sql, values);
  const spanMs = 30 * 24 * 3_600_000;
  const t0 = now - spanMs;
  const step = spanMs / count;

  for (let base = 1; base <= count; base += CHUNK) {
    const size = Math.min(CHUNK, count - base + 1);
    const seq = `(SELECT n, CONCAT('fill-', LPAD(n, 9, '0')) AS gid, ${t0} + FLOOR(n * ${step}) AS at, IF(n % 20 = 0, 'cancelled', 'confirmed') AS final FROM ${numbers(base)} raw WHERE n < ${base + size}) s`;
    await q('START TRANSACTION', []);
    await q(
      `INSERT INTO ??.dtx_global (gid, mode, status, reason, created_at, updated_at, deadline_at, finished_at, retry_count, next_retry_at, needs_attention, attention_reason, lease_owner, lease_until)
       SELECT gid, 'tcc', final, NULL, at, at + 12, at + 60000, at + 12, 0, NULL, 0, NULL, NULL, NULL FROM ${seq}`,
      [database],
    );
    await q(
      `INSERT INTO ??.dtx_branch (gid, branch_id, confirm_url, cancel_url, payload, status, attempts, last_error, created_at, updated_at${withParticipant ? ', participant' : ''})
       SELECT gid, b.id, CONCAT('http://127.0.0.1:1/dtx/', b.res, '/confirm'), CONCAT('http://127.0.0.1:1/dtx/', b.res, '/cancel'),
              '{"account":"acct-1","amount":1}', final, 1, NULL, at, at + 12${withParticipant ? ", 'http://127.0.0.1:1'" : ''}
       FROM ${seq}, (SELECT '01' AS id, 'debit' AS res UNION ALL SELECT '02', 'credit') b`,
      [database],
    );
    await q(
      `INSERT INTO ??.dtx_event (gid, at, kind, branch_id, op, from_status, to_status, outcome, attempt, message, actor)
       SELECT gid, at + e.dt, e.kind, e.branch_id, e.op,
              e.from_status, IF(e.to_status = 'final', IF(final = 'confirmed', 'confirmed', 'cancelled'), e.to_status),
              e.outcome, e.attempt, e.message, e.actor
       FROM ${seq}, (
         SELECT 0 AS dt, 'begin' AS kind, NULL AS branch_id, NULL AS op, NULL AS from_status, 'trying' AS to_status, NULL AS outcome, NULL AS attempt, 'deadline' AS message, NULL AS actor
         UNION ALL SELECT 0, 'register', '01', NULL, NULL, NULL, NULL, NULL, 'confirm … cancel …', NULL
         UNION ALL SELECT 0, 'register', '02', NULL, NULL, NULL, NULL, NULL, 'confirm … cancel …', NULL
         UNION ALL SELECT 6, 'status', NULL, NULL, 'trying', 'confirming', NULL, NULL, NULL, 'initiator'
         UNION ALL SELECT 12, 'branch-call', '01', 'confirm', NULL, NULL, 'success', 1, 'HTTP 200', NULL
         UNION ALL SELECT 12, 'branch-call', '02', 'confirm', NULL, NULL, 'success', 1, 'HTTP 200', NULL
         UNION ALL SELECT 12, 'status', NULL, NULL, 'confirming', 'final', NULL, NULL, NULL, NULL
       ) e`,
      [database],
    );
    await q('COMMIT', []);
    onProgress?.(base + size - 1);
  }
  return { transactions: count, branches: 2 * count, events: 7 * count, seconds: (Date.now() - started) / 1000 };
}
