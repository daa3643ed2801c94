/**
 * Fills a coordinator's log with finished TCC transactions, shaped like
 * real ones (one global row and two branches each; the happy path writes no
 * event rows), with bulk
 * INSERT ... SELECT over a generated number sequence — 100,000 transactions
 * per statement, no round trip per row.
 */
import type { MysqlProbe } from './mysql-probe.ts';

const CHUNK = 100_000;

/** Numbers base+0 … base+99,999 as column `n`: five cross-joined digit tables, portable to MySQL 8 and MariaDB. */
function numbers(base: number): string {
  const digits =
    '(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)';
  return `(SELECT ${base} + d1.d + 10 * d2.d + 100 * d3.d + 1000 * d4.d + 10000 * d5.d AS n FROM ${digits} d1, ${digits} d2, ${digits} d3, ${digits} d4, ${digits} d5)`;
}

export interface FillResult {
  transactions: number;
  branches: number;
  events: number;
  seconds: number;
}

/**
 * Inserts `count` finished transactions (gids `fill-000000001` …), created
 * over the 30 days before `now`, 1 in 20 rolled back, as the coordinator
 * writes them on the happy path: the rows carry every step (decision,
 * each branch's completing call), no event rows.
 */
export async function fillFinishedTransactions(
  probe: MysqlProbe,
  database: string,
  count: number,
  now: number,
  onProgress?: (done: number) => void,
): Promise<FillResult> {
  const started = Date.now();
  const q = (sql: string, values: unknown[]) => probe.connection.query(sql, values);
  const spanMs = 30 * 24 * 3_600_000;
  const t0 = now - spanMs;
  const step = spanMs / count;

  for (let base = 1; base <= count; base += CHUNK) {
    const size = Math.min(CHUNK, count - base + 1);
    const seq = `(SELECT n, CONCAT('fill-', LPAD(n, 9, '0')) AS gid, ${t0} + FLOOR(n * ${step}) AS at, IF(n % 20 = 0, 'rolled-back', 'committed') AS final FROM ${numbers(base)} raw WHERE n < ${base + size}) s`;
    await q('START TRANSACTION', []);
    await q(
      `INSERT INTO ??.dtx_global (gid, mode, status, reason, caller, created_at, updated_at, deadline_at, decided_at, decided_by, finished_at, retry_count, next_retry_at, needs_attention, attention_reason, lease_owner, lease_until)
       SELECT gid, 'tcc', final, NULL, 'bench', at, at + 12, at + 60000, at + 6, 'bench', at + 12, 0, NULL, 0, NULL, NULL, NULL FROM ${seq}`,
      [database],
    );
    await q(
      `INSERT INTO ??.dtx_branch (gid, branch_id, operations, participant, payload, status, attempts, last_error, created_at, updated_at, registered_by, done_at, done_op, done_attempt, done_http)
       SELECT gid, b.id, CONCAT('{"confirm":"http://127.0.0.1:1/dtx/', b.res, '/confirm","cancel":"http://127.0.0.1:1/dtx/', b.res, '/cancel"}'), 'http://127.0.0.1:1',
              '{"account":"acct-1","amount":1}', final, 1, NULL, at, at + 12, 'bench', at + 12, IF(final = 'committed', 'confirm', 'cancel'), 1, 200
       FROM ${seq}, (SELECT '01' AS id, 'debit' AS res UNION ALL SELECT '02', 'credit') b`,
      [database],
    );
    await q('COMMIT', []);
    onProgress?.(base + size - 1);
  }
  return { transactions: count, branches: 2 * count, events: 0, seconds: (Date.now() - started) / 1000 };
}
