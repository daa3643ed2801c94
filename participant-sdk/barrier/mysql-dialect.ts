/**
 * The barrier on MySQL and MariaDB (InnoDB), through the mysql2 driver.
 *
 * - Claim: INSERT IGNORE, inserted when affectedRows is 1. An ignored insert
 *   takes a shared lock on the row it found, and waits for a transaction
 *   still writing the same key.
 * - Locked read: LOCK IN SHARE MODE at READ COMMITTED reads the latest
 *   committed rows and waits for a transaction still writing one of them, a
 *   row it is inserting included: so lockBranch has nothing to do.
 * - Ids: ascii columns with a binary collation, compared byte for byte (a
 *   case-insensitive collation would make gid "Tx1" collide with "tx1").
 * - Errors: by errno or driver code, never by message. Only a deadlock, a
 *   lock wait timeout or a lost connection loses a transaction; any other
 *   error rolls back its statement alone.
 */
import type { Knex } from 'knex';
import { LIMITS } from '@dtx/protocol';
import { DtxError } from '../errors.ts';
import { foundRows } from './decision.ts';
import type { BarrierDialect, BarrierKey, BarrierQuery, SqlResult, StatementErrorKind } from './dialect.ts';
import { assertTableName, COORDINATOR_URL_MAX_LENGTH, OP_MAX_LENGTH, SEQ } from './input.ts';
import type { PlainConnection } from './plain-connection.ts';

/** The subset of a mysql2 (callback) connection used here. */
export interface RawConnection {
  query(sql: string, values: readonly unknown[], callback: (error: unknown, result: unknown) => void): void;
  destroy(): void;
}

/** One statement on a mysql2 connection; mysql2 formats `?` and `??` itself. */
export function rawQuery(connection: RawConnection, sql: string, values: readonly unknown[]): Promise<unknown> {
  return new Promise((resolve, reject) => connection.query(sql, values, (error, result) => (error ? reject(error) : resolve(result))));
}

/** The columns added after the table's first definition, in order (what they hold: migration.ts). */
const ADDED_COLUMNS: ReadonlyArray<{ name: string; definition: string }> = [
  { name: 'coordinator', definition: `varchar(${COORDINATOR_URL_MAX_LENGTH}) character set ascii collate ascii_bin null` },
];

/** ER_DUP_FIELDNAME: another process added the column between this one's look and its ALTER. */
const ER_DUP_FIELDNAME = 1060;

const DRIVER_MISMATCH = 'unexpected result from the MySQL driver (mysql2 expected)';

export const mysqlDialect: BarrierDialect = {
  name: 'mysql',
  supportsXa: true,
  everyErrorLosesTransaction: false,

  async claim(query, row) {
    const values = [row.table, row.gid, row.branchId, row.op, SEQ, row.originOp, row.createdAt];
    const coordinator = row.coordinator ?? null;
    const result =
      coordinator === null
        ? await query('insert ignore into ?? (gid, branch_id, op, seq, origin_op, created_at) values (?, ?, ?, ?, ?, ?)', values)
        : await query('insert ignore into ?? (gid, branch_id, op, seq, origin_op, created_at, coordinator) values (?, ?, ?, ?, ?, ?, ?)', [
            ...values,
            coordinator,
          ]);
    const header = insertHeader(result);
    if (header.affectedRows === 1 && header.warningStatus > 0) {
      // IGNORE turned an error into a warning on a row it did insert: the
      // table does not match what we validated against (a narrower column
      // truncated the id). Refuse rather than write a wrong key.
      throw new DtxError('BARRIER_INSERT_WARNING', `barrier insert into ${row.table} produced warnings; check its definition`);
    }
    return header.affectedRows === 1;
  },

  async lockBranch(_query: BarrierQuery, _key: BarrierKey) {
    // Nothing to send: LOCK IN SHARE MODE waits for a row another transaction is inserting.
  },

  async lockedRows(query, key, ops) {
    const rows = await query(
      `select op, origin_op from ?? where gid = ? and branch_id = ? and seq = ? and op in (${ops.map(() => '?').join(', ')}) lock in share mode`,
      [key.table, key.gid, key.branchId, SEQ, ...ops],
    );
    // Never guess: reading "no rows" from an unexpected shape would let a cancel pass a confirm.
    if (!Array.isArray(rows)) throw new DtxError('BARRIER_DRIVER', DRIVER_MISMATCH);
    return foundRows(rows);
  },

  createTable,
  classifyError,

  result<Row>(result: unknown): SqlResult<Row> {
    if (Array.isArray(result)) return { rows: result as Row[], affectedRows: 0, insertId: 0 };
    const header = result as { affectedRows?: unknown; insertId?: unknown } | undefined;
    return {
      rows: [],
      affectedRows: typeof header?.affectedRows === 'number' ? header.affectedRows : 0,
      insertId: typeof header?.insertId === 'number' ? header.insertId : 0,
    };
  },

  fromKnexRaw: (raw) => (Array.isArray(raw) ? raw[0] : undefined),

  plainConnection(connection): PlainConnection {
    const raw = connection as RawConnection;
    const query = (sql: string, values: readonly unknown[] = []) => rawQuery(raw, sql, values);
    return {
      query,
      async begin() {
        await query('SET TRANSACTION ISOLATION LEVEL READ COMMITTED');
        await query('START TRANSACTION');
      },
      commit: async () => void (await query('COMMIT')),
      rollback: async () => void (await query('ROLLBACK')),
      // knex's pool validates a connection before handing it out again and drops a destroyed one.
      destroy: async () => raw.destroy(),
    };
  },
};

function classifyError(error: unknown): StatementErrorKind {
  if (typeof error !== 'object' || error === null) return 'other';
  const { errno, code, fatal } = error as { errno?: unknown; code?: unknown; fatal?: unknown };
  if (errno === 1213 || code === 'ER_LOCK_DEADLOCK') return 'deadlock';
  if (errno === 1205 || code === 'ER_LOCK_WAIT_TIMEOUT') return 'lock-conflict';
  // mysql2 marks `fatal` an error after which the connection is unusable (lost, reset).
  if (fatal === true || errno === 1927 || code === 'ER_CONNECTION_KILLED') return 'connection-lost';
  if (errno === 1062 || code === 'ER_DUP_ENTRY') return 'duplicate-key';
  return 'other';
}

/** The mysql2 ResultSetHeader of an insert. */
function insertHeader(result: unknown): { affectedRows: number; warningStatus: number } {
  const header = result as { affectedRows?: unknown; warningStatus?: unknown } | undefined;
  if (typeof header?.affectedRows !== 'number') {
    // Never guess: reading "0" from an unexpected shape would turn every call into a duplicate.
    throw new DtxError('BARRIER_DRIVER', DRIVER_MISMATCH);
  }
  return { affectedRows: header.affectedRows, warningStatus: typeof header.warningStatus === 'number' ? header.warningStatus : 0 };
}

/**
 * CREATE TABLE IF NOT EXISTS (one statement, no check-then-create race),
 * then the added columns a table of an earlier version lacks.
 */
async function createTable(knex: Knex, tableName: string): Promise<void> {
  assertTableName(tableName);
  const id = (width: number) => `varchar(${width}) character set ascii collate ascii_bin not null`;
  await knex.raw(
    `create table if not exists ?? (
      id bigint unsigned not null auto_increment,
      gid ${id(LIMITS.gidMaxLength)},
      branch_id ${id(LIMITS.branchIdMaxLength)},
      op ${id(OP_MAX_LENGTH)},
      seq smallint unsigned not null default 1,
      origin_op ${id(OP_MAX_LENGTH)},
      created_at bigint not null,
      ${ADDED_COLUMNS.map((column) => `${column.name} ${column.definition},`).join('\n      ')}
      primary key (id),
      unique key uq_dtx_barrier_branch_op (gid, branch_id, op, seq),
      key idx_dtx_barrier_created_at (created_at)
    ) engine = InnoDB`,
    [tableName],
  );
  await addMissingColumns(knex, tableName);
}

/**
 * Add the ADDED_COLUMNS an existing table lacks (a table created by an
 * earlier version). Precondition: the table exists. Effect: one ALTER TABLE
 * per missing column, run only when information_schema says it is missing
 * (so that no start waits for the table's metadata lock otherwise); a
 * column found already there by the ALTER (another process added it
 * meanwhile) is no error.
 */
async function addMissingColumns(knex: Knex, tableName: string): Promise<void> {
  const [schema, table] = tableName.includes('.') ? (tableName.split('.') as [string, string]) : [null, tableName];
  const [rows] = (await knex.raw('select column_name as name from information_schema.columns where table_schema = coalesce(?, database()) and table_name = ?', [
    schema,
    table,
  ])) as unknown as [Array<{ name: string }>];
  const present = new Set(rows.map((row) => row.name.toLowerCase()));
  for (const column of ADDED_COLUMNS) {
    if (present.has(column.name)) continue;
    try {
      await knex.raw(`alter table ?? add column ?? ${column.definition}`, [tableName, column.name]);
    } catch (error) {
      if (typeof error !== 'object' || error === null || (error as { errno?: unknown }).errno !== ER_DUP_FIELDNAME) throw error;
    }
  }
}
