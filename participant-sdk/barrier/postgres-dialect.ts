/**
 * The barrier on PostgreSQL, through the pg driver.
 *
 * - Claim: INSERT … ON CONFLICT (gid, branch_id, op, seq) DO NOTHING,
 *   inserted when its row count is 1. It waits for a transaction still
 *   inserting the same key (then does nothing after its commit, inserts
 *   after its rollback). Unlike MySQL's INSERT IGNORE it neither truncates a
 *   value nor locks the row it found.
 * - Locked read: SELECT … FOR SHARE. It reads the rows committed when the
 *   statement started and does not see, nor wait for, a row another
 *   transaction is still inserting. So every TCC op first takes a
 *   transaction advisory lock on its branch (lockBranch): the ops of one
 *   branch that write or read the rows a locked read looks at run one after
 *   the other, and each read sees everything the previous ones committed.
 * - Ids: varchar columns with the "C" collation, compared byte for byte.
 * - Errors: by SQLSTATE or socket code, never by message. PostgreSQL aborts
 *   a transaction on any statement error (its later statements are refused
 *   until the rollback, and a COMMIT then rolls back), so every statement
 *   error loses the barrier's transaction.
 * - Results: `rowCount` for writes; there is no AUTO_INCREMENT id (insertId 0).
 */
import type { Knex } from 'knex';
import { LIMITS } from '@dtx/protocol';
import { DtxError, TransactionLostError } from '../errors.ts';
import { foundRows } from './decision.ts';
import type { BarrierDialect, SqlResult, StatementErrorKind } from './dialect.ts';
import { assertTableName, COORDINATOR_URL_MAX_LENGTH, OP_MAX_LENGTH, SEQ } from './input.ts';
import type { PlainConnection } from './plain-connection.ts';
import { toNumberedPlaceholders } from './sql-placeholders.ts';

/** The subset of a pg Client used here. */
interface PgClient {
  query(config: { text: string; values: unknown[] }): Promise<unknown>;
  end(): Promise<void>;
}

/** A pg query result, the fields read here. */
interface PgResult {
  command: string;
  rowCount: number | null;
  rows: unknown[];
}

/** The columns added after the table's first definition, in order (what they hold: migration.ts). */
const ADDED_COLUMNS: ReadonlyArray<{ name: string; definition: string }> = [
  { name: 'coordinator', definition: `varchar(${COORDINATOR_URL_MAX_LENGTH}) collate "C"` },
];

const DRIVER_MISMATCH = 'unexpected result from the PostgreSQL driver (pg expected)';

/** Writes whose row count is the rows they changed. */
const WRITES = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE']);

/** SQLSTATEs of a server that ended the session (class 08, connection exceptions, is matched apart). */
const SESSION_ENDED = new Set(['57P01', '57P02', '57P03']);

/** Node's socket errors (the pg client passes them through). */
const SOCKET_ERRORS = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

export const postgresDialect: BarrierDialect = {
  name: 'postgres',
  supportsXa: false,
  everyErrorLosesTransaction: true,

  async claim(query, row) {
    const coordinator = row.coordinator ?? null;
    const columns = `gid, branch_id, op, seq, origin_op, created_at${coordinator === null ? '' : ', coordinator'}`;
    const values = [row.gid, row.branchId, row.op, SEQ, row.originOp, row.createdAt, ...(coordinator === null ? [] : [coordinator])];
    const result = pgResult(
      await query(
        `insert into ${quoteName(row.table)} (${columns}) values (${values.map(() => '?').join(', ')}) on conflict (gid, branch_id, op, seq) do nothing`,
        values,
      ),
    );
    // Never guess: reading "0" from an unexpected shape would turn every call into a duplicate.
    if (result.command !== 'INSERT' || (result.rowCount !== 0 && result.rowCount !== 1)) throw new DtxError('BARRIER_DRIVER', DRIVER_MISMATCH);
    return result.rowCount === 1;
  },

  async lockBranch(query, key) {
    // hashtextextended is the hash PostgreSQL's hash partitioning uses: stable across versions.
    await query('select pg_advisory_xact_lock(hashtextextended(?, 0))', [branchLockName(key.gid, key.branchId)]);
  },

  async lockedRows(query, key, ops) {
    const result = pgResult(
      await query(
        `select op, origin_op from ${quoteName(key.table)} where gid = ? and branch_id = ? and seq = ? and op in (${ops.map(() => '?').join(', ')}) for share`,
        [key.gid, key.branchId, SEQ, ...ops],
      ),
    );
    // Never guess: reading "no rows" from an unexpected shape would let a cancel pass a confirm.
    if (result.command !== 'SELECT') throw new DtxError('BARRIER_DRIVER', DRIVER_MISMATCH);
    return foundRows(result.rows);
  },

  createTable,
  classifyError,

  result<Row>(driverResult: unknown): SqlResult<Row> {
    const result = pgResult(driverResult);
    return { rows: result.rows as Row[], affectedRows: WRITES.has(result.command) ? (result.rowCount ?? 0) : 0, insertId: 0 };
  },

  fromKnexRaw: (raw) => raw,

  plainConnection(connection): PlainConnection {
    const client = connection as PgClient;
    const query = (sql: string, values: readonly unknown[] = []) => client.query(toNumberedPlaceholders(sql, values));
    return {
      query,
      begin: async () => void (await query('begin isolation level read committed')),
      async commit() {
        // PostgreSQL answers the COMMIT of a transaction a failed statement aborted with a ROLLBACK, and no error.
        const result = pgResult(await query('commit'));
        if (result.command !== 'COMMIT') {
          throw new TransactionLostError(
            new DtxError('ROLLED_BACK_AT_COMMIT', `the database answered COMMIT with ${result.command}: a statement of the transaction had failed`),
          );
        }
      },
      rollback: async () => void (await query('rollback')),
      // knex marks a pg connection that ended as disposed, and its pool drops it instead of handing it out again.
      destroy: () => client.end().catch(() => undefined),
    };
  },
};

/**
 * The name of a branch's advisory lock, hashed to the lock's key by
 * hashtextextended(name, 0). The same for every barrier table of the
 * database: ids are [A-Za-z0-9_.-], so the colons cannot be confused.
 */
export function branchLockName(gid: string, branchId: string): string {
  return `dtx-barrier:${gid}:${branchId}`;
}

/** A validated table name (assertTableName), quoted: `"name"` or `"schema"."name"`. */
function quoteName(table: string): string {
  return table
    .split('.')
    .map((part) => `"${part}"`)
    .join('.');
}

function pgResult(driverResult: unknown): PgResult {
  // A text of several statements (sent without values) answers each; the last one is the statement's outcome.
  const result = (Array.isArray(driverResult) ? driverResult[driverResult.length - 1] : driverResult) as Partial<PgResult> | undefined;
  if (typeof result?.command !== 'string' || !Array.isArray(result.rows)) throw new DtxError('BARRIER_DRIVER', DRIVER_MISMATCH);
  return { command: result.command, rowCount: typeof result.rowCount === 'number' ? result.rowCount : null, rows: result.rows };
}

function classifyError(error: unknown): StatementErrorKind {
  if (typeof error !== 'object' || error === null) return 'other';
  const { code } = error as { code?: unknown };
  if (typeof code !== 'string') return 'other';
  if (code === '23505') return 'duplicate-key';
  if (code === '40P01') return 'deadlock';
  // serialization_failure, lock_not_available (lock_timeout, NOWAIT)
  if (code === '40001' || code === '55P03') return 'lock-conflict';
  if (code.startsWith('08') || SESSION_ENDED.has(code) || SOCKET_ERRORS.has(code)) return 'connection-lost';
  return 'other';
}

/**
 * Create the table, its unique key and its created_at index if the table is
 * missing; otherwise add the columns added since it was created.
 *
 * Effect: one transaction, serialised with every other migration of the
 * same table by an advisory lock (CREATE TABLE IF NOT EXISTS alone is not
 * safe against a concurrent one on PostgreSQL). An existing table with
 * every column gets no DDL at all, so no start waits for the locks of
 * transactions using it.
 */
async function createTable(knex: Knex, tableName: string): Promise<void> {
  assertTableName(tableName);
  const table = quoteName(tableName);
  const bare = tableName.split('.').pop()!;
  const id = (width: number) => `varchar(${width}) collate "C" not null`;
  await knex.transaction(async (trx) => {
    await trx.raw('select pg_advisory_xact_lock(hashtextextended(?, 0))', [`dtx-barrier-migration:${tableName}`]);
    const found = pgResult(await trx.raw('select to_regclass(?::text) is not null as present', [table]));
    if ((found.rows[0] as { present?: unknown } | undefined)?.present !== true) {
      await trx.raw(
        `create table ${table} (
          id bigint generated by default as identity primary key,
          gid ${id(LIMITS.gidMaxLength)},
          branch_id ${id(LIMITS.branchIdMaxLength)},
          op ${id(OP_MAX_LENGTH)},
          seq smallint not null default 1,
          origin_op ${id(OP_MAX_LENGTH)},
          created_at bigint not null,
          ${ADDED_COLUMNS.map((column) => `${column.name} ${column.definition},`).join('\n          ')}
          constraint "${bare}_branch_op_key" unique (gid, branch_id, op, seq)
        )`,
      );
      await trx.raw(`create index "${bare}_created_at_idx" on ${table} (created_at)`);
      return;
    }
    const columns = pgResult(
      await trx.raw('select attname as name from pg_attribute where attrelid = to_regclass(?::text) and attnum > 0 and not attisdropped', [table]),
    );
    const present = new Set((columns.rows as Array<{ name: string }>).map((row) => row.name));
    for (const column of ADDED_COLUMNS) {
      if (!present.has(column.name)) await trx.raw(`alter table ${table} add column if not exists ${column.name} ${column.definition}`);
    }
  });
}
