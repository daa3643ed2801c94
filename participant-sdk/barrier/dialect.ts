/**
 * What the barrier says differently on each database it runs on: a barrier
 * dialect. The algorithm (barrier.ts, sender-row.ts, decision.ts) is the same
 * on every database; only these few statements, the table's definition, the
 * reading of the driver's results and of its errors change.
 *
 * Two dialects: MySQL / MariaDB on the mysql2 driver (mysql-dialect.ts) and
 * PostgreSQL on the pg driver (postgres-dialect.ts), chosen from the knex
 * instance's client by barrierDialectOf (dialect-of.ts).
 *
 * Every statement a dialect or the barrier sends goes through a
 * {@link BarrierQuery} with `?` placeholders for values and `??` for
 * identifiers, as knex.raw takes them: the query runs it on a knex
 * transaction or on a plain connection (plain-connection.ts), whichever
 * holds the barrier's local transaction.
 */
import type { Knex } from 'knex';
import type { BranchOp } from '@dtx/protocol';
import type { FoundRow } from './decision.ts';
import type { PlainConnection } from './plain-connection.ts';

/** One statement on the barrier's local transaction (`?` values, `??` identifiers); resolves to the driver's result. */
export type BarrierQuery = (sql: string, values: readonly unknown[]) => Promise<unknown>;

/** The branch a barrier row belongs to, and where it is kept. */
export interface BarrierKey {
  table: string;
  gid: string;
  branchId: string;
}

/** One barrier row to claim (seq is always SEQ today, see input.ts). */
export interface BarrierRow extends BarrierKey {
  op: BranchOp;
  /** The op that wrote the row: the op itself, or the op that claimed it in its place (a cancel's null compensation...). */
  originOp: BranchOp;
  /** Epoch milliseconds. */
  createdAt: number;
  /** An XA prepare's coordinator URL (MySQL only); null or absent: the column is not named. */
  coordinator?: string | null;
}

/**
 * What a statement's error means for the barrier:
 * - `duplicate-key`: a unique key refused a row;
 * - `deadlock`: the database chose this transaction as a deadlock victim and rolled it back;
 * - `lock-conflict`: a lock wait timed out, or a serialization failure;
 * - `connection-lost`: the connection died or was killed;
 * - `other`: anything else.
 * Recognised by error number or SQLSTATE and driver code, never by message.
 */
export type StatementErrorKind = 'duplicate-key' | 'deadlock' | 'lock-conflict' | 'connection-lost' | 'other';

/**
 * The outcome of one statement: `rows` for a SELECT (empty otherwise, but
 * see PostgreSQL's RETURNING below), `affectedRows` and `insertId` for
 * INSERT, UPDATE and DELETE (0 otherwise).
 *
 * The same on MySQL/MariaDB and on PostgreSQL, except where the database has
 * no such thing: PostgreSQL reports no AUTO_INCREMENT id, so `insertId` is
 * always 0 there (add `returning id` and read it from `rows`); a PostgreSQL
 * write with a RETURNING clause has both its `rows` and its `affectedRows`.
 *
 * @typeParam Row - the shape of a selected row (not checked)
 */
export interface SqlResult<Row> {
  /** The rows of a SELECT (or of a PostgreSQL RETURNING clause); empty for other statements. */
  rows: Row[];
  /** Rows changed by an INSERT, UPDATE or DELETE; 0 for a SELECT. */
  affectedRows: number;
  /** MySQL/MariaDB: the AUTO_INCREMENT id an INSERT generated; 0 otherwise, and always 0 on PostgreSQL. */
  insertId: number;
}

/**
 * The barrier's statements on one database. Implementations: mysqlDialect,
 * postgresDialect. Every method that sends SQL sends it through `query`, on
 * the caller's transaction.
 */
export interface BarrierDialect {
  /** Which database family. */
  readonly name: 'mysql' | 'postgres';
  /** Whether XA resources (defineXa) can run on it: MySQL/MariaDB only. */
  readonly supportsXa: boolean;
  /**
   * Insert the row unless its key (gid, branch_id, op, seq) is there: true if
   * this call inserted it. A transaction still writing the same key is waited
   * for: its commit means false, its rollback true.
   * @throws DtxError `BARRIER_DRIVER` on a result it cannot read (never guessed)
   */
  claim(query: BarrierQuery, row: BarrierRow): Promise<boolean>;
  /**
   * Make this transaction wait for every other one still writing a row of the
   * branch that a locked read looks at, and hold off the next ones until it
   * ends. Precondition: the first statement of a TCC op's transaction
   * (try, confirm, cancel). MySQL: sends nothing (its locking read itself
   * waits for an uncommitted row). PostgreSQL: a transaction advisory lock
   * on the branch, since a locking read there does not see, nor wait for, a
   * row another transaction is still inserting.
   */
  lockBranch(query: BarrierQuery, key: BarrierKey): Promise<void>;
  /**
   * The branch's committed rows among `ops` (seq SEQ), read with a shared
   * lock held until the transaction ends.
   * @throws DtxError `BARRIER_DRIVER` on a result it cannot read
   */
  lockedRows(query: BarrierQuery, key: BarrierKey, ops: readonly BranchOp[]): Promise<FoundRow[]>;
  /** Create the table if missing, and add the columns added since a table was created (migration.ts). */
  createTable(knex: Knex, table: string): Promise<void>;
  /** What a statement's error is; see StatementErrorKind. */
  classifyError(error: unknown): StatementErrorKind;
  /**
   * True when any statement error leaves the transaction unusable
   * (PostgreSQL aborts a transaction on every error); false when only
   * deadlocks, lock conflicts and lost connections do (MySQL rolls back one
   * statement otherwise). lost-transaction.ts reads it.
   */
  readonly everyErrorLosesTransaction: boolean;
  /**
   * The driver's result of one statement as a handler sees it.
   * @throws DtxError `BARRIER_DRIVER` when it is not this driver's result
   */
  result<Row>(driverResult: unknown): SqlResult<Row>;
  /** The driver's result inside what knex.raw resolves to (mysql2: `[result, fields]`; pg: the result itself). */
  fromKnexRaw(raw: unknown): unknown;
  /** A pooled connection of this driver, as the plain-SQL barrier drives it. */
  plainConnection(connection: unknown): PlainConnection;
}
