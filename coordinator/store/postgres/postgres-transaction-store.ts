/**
 * The transaction log on PostgreSQL (a server through node-postgres, or
 * PGlite in the process: see sql-database.ts). See
 * ../ports/transaction-store.ts for each operation's precondition and effect.
 *
 * Sessions are READ COMMITTED: each statement sees what committed before it
 * started. The hot path is one round trip and one commit per operation: a
 * begin, a round's record and a raised flag are single statements
 * (hot-path-statements.ts); a decision and a claim are single calls of the
 * functions the migrations install (migrations/0002-hot-path-functions.ts).
 * A registration takes the transaction row's share lock first, which orders
 * it against a decision (which updates that row), then reads the branches
 * and checks the mode's guard in code.
 */
import type { BranchRegistration, TransactionEvent, TransactionSnapshot } from '../../domain/transaction.ts';
import type {
  BeginInput,
  DecisionInput,
  DueTransaction,
  RegisterInput,
  RoundRecord,
  RowLockHolder,
  RowLockInput,
  RowLockKey,
  RowLockResult,
  TransactionStore,
} from '../ports/transaction-store.ts';
import { heldRowLocksOn, lockRowsIn, RELEASE_ROW_LOCKS, RowLockRaceError } from './row-locks.ts';
import { attentionStatement, beginStatement, insertBranchesStatement, roundStatement } from './hot-path-statements.ts';
import type { PostgresWriter } from './postgres-writer.ts';
import { toEvent, toSnapshot, type EventRow, type SnapshotJson } from './rows.ts';
import type { QueryOptions } from './sql-database.ts';
import { isUniqueViolation } from './sqlstate.ts';
import { TABLES } from './tables.ts';
import { storable, TEXT_LIMITS } from './text.ts';
import { mayRegister } from '../ports/contract-rules.ts';

/** The hot path's statements: few texts, sent over and over, with results the schema never changes (sql-database.ts). */
const REUSE: QueryOptions = { reuse: true };

/** Attempts of a registration that raced another one for the same new branch. */
const REGISTRATION_ATTEMPTS = 3;

/** The transaction log on PostgreSQL: the {@link TransactionStore} port. */
export class PostgresTransactionStore implements TransactionStore {
  #closing: Promise<void> | null = null;

  constructor(private readonly writer: PostgresWriter) {}

  /** Commits made since it was created (tests and the benchmark read it): every write, whether its guard held or not. */
  get commitCount(): number {
    return this.writer.commitCount;
  }

  private get db() {
    return this.writer.db;
  }

  async begin(input: BeginInput): Promise<'created' | 'exists'> {
    const { sql, values } = beginStatement(input);
    const { rows } = await this.writer.statement<{ written: number }>(sql, values, REUSE);
    return rows[0]?.written === 1 ? 'created' : 'exists';
  }

  async registerBranches(input: RegisterInput): Promise<{ before: TransactionSnapshot; inserted: BranchRegistration[] } | null> {
    const { gid, now, branches, actor } = input;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.writer.transaction(async (session) => {
          // The share lock orders this registration against a decision (an update of the row):
          // whichever comes second waits for the first to commit.
          const locked = await session.query(`SELECT 1 FROM ${TABLES.global} WHERE gid = $1::text FOR SHARE`, [gid], REUSE);
          if (locked.rowCount === 0) return null;
          // A statement of its own, so that its snapshot is taken once the lock is held.
          const before = toSnapshot(
            (await session.query<{ snapshot: SnapshotJson | null }>('SELECT dtx_snapshot($1::text) AS snapshot', [gid])).rows[0]!.snapshot,
          );
          if (!before) return null;
          if (!mayRegister(before, input)) return { before, inserted: [] };
          const insert = insertBranchesStatement(gid, branches, now, actor);
          await session.query(insert.sql, insert.values, REUSE);
          return { before, inserted: branches };
        });
      } catch (error) {
        // Two registrations of the same new branch raced (share locks do not exclude each other): run
        // again, and the second run sees the winner's row and refuses.
        if (isUniqueViolation(error) && attempt < REGISTRATION_ATTEMPTS) continue;
        throw error;
      }
    }
  }

  async decide(input: DecisionInput): Promise<TransactionSnapshot | null> {
    const { guard } = input;
    // Checked in code on the row read under lock (registerBranches), never by a statement.
    if (guard.joiner !== undefined) throw new Error('a joiner guard is not a statement guard');
    const sql = `SELECT dtx_decide($1::text, $2::text, $3::text, $4::bigint, $5::text, $6::text, $7::bigint, $8::text, $9::bigint, $10::text, $11::boolean, $12::text) AS snapshot`;
    const values = [
      input.gid,
      input.to,
      storable(input.reason, TEXT_LIMITS.reason),
      input.now,
      storable(input.actor, TEXT_LIMITS.actor),
      input.owner,
      input.leaseUntil,
      guard.from,
      guard.deadlineAfter ?? null,
      guard.mode ?? null,
      guard.caller !== undefined,
      guard.caller ?? null,
    ];
    // The rows are final once committed: their locks go in the decision's own statement (one round trip), only if it was taken.
    const statement = input.releaseRowLocks
      ? `WITH decided AS (${sql}), released AS (DELETE FROM ${TABLES.rowLock} WHERE gid = $1::text AND (SELECT snapshot FROM decided) IS NOT NULL) SELECT snapshot FROM decided`
      : sql;
    return toSnapshot((await this.writer.statement<{ snapshot: SnapshotJson | null }>(statement, values, REUSE)).rows[0]?.snapshot ?? null);
  }

  async claim(gid: string, owner: string, now: number, leaseUntil: number): Promise<TransactionSnapshot | null> {
    const { rows } = await this.writer.statement<{ snapshot: SnapshotJson | null }>(
      'SELECT dtx_claim($1::text, $2::text, $3::bigint, $4::bigint) AS snapshot',
      [gid, owner, now, leaseUntil],
      REUSE,
    );
    return toSnapshot(rows[0]?.snapshot ?? null);
  }

  async recordRound(record: RoundRecord): Promise<boolean> {
    const { sql, values } = roundStatement(record);
    if (!(record.releaseRowLocks && record.decision.kind === 'finish')) {
      const { rows } = await this.writer.statement<{ written: number }>(sql, values, REUSE);
      return rows[0]?.written === 1;
    }
    // The last round of a transaction whose branches hold row locks: they go in its commit.
    return this.writer.transaction(async (session) => {
      const written = (await session.query<{ written: number }>(sql, values, REUSE)).rows[0]?.written === 1;
      if (written) await session.query(RELEASE_ROW_LOCKS, [record.gid], REUSE);
      return written;
    });
  }

  async lockRows(input: RowLockInput): Promise<RowLockResult | null> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.writer.transaction((session) => lockRowsIn(session, input));
      } catch (error) {
        if (error instanceof RowLockRaceError && attempt < REGISTRATION_ATTEMPTS) continue;
        throw error;
      }
    }
  }

  heldRowLocks(keys: readonly RowLockKey[]): Promise<RowLockHolder[]> {
    return heldRowLocksOn(this.writer.db, keys);
  }

  async flagAttention(input: { gid: string; owner: string; reason: string; now: number }): Promise<boolean> {
    const { sql, values } = attentionStatement(input.gid, input.owner, input.reason, input.now);
    const { rows } = await this.writer.statement<{ written: number }>(sql, values, REUSE);
    return rows[0]?.written === 1;
  }

  async findDue(until: number, limit: number): Promise<DueTransaction[]> {
    // dtx_global_due holds only rows with a due time (open, unpaused): the finished ones are not read.
    const { rows } = await this.db.query<{ gid: string; next_retry_at: string | number }>(
      `SELECT gid, next_retry_at FROM ${TABLES.global} WHERE next_retry_at <= $1::bigint ORDER BY next_retry_at LIMIT $2::integer`,
      [until, limit],
      REUSE,
    );
    return rows.map((row) => ({ gid: row.gid, nextRetryAt: Number(row.next_retry_at) }));
  }

  async load(gid: string): Promise<TransactionSnapshot | null> {
    const { rows } = await this.db.query<{ snapshot: SnapshotJson | null }>('SELECT dtx_snapshot($1::text) AS snapshot', [gid], REUSE);
    return toSnapshot(rows[0]?.snapshot ?? null);
  }

  async events(gid: string): Promise<TransactionEvent[]> {
    const { rows } = await this.db.query<EventRow>(`SELECT * FROM ${TABLES.event} WHERE gid = $1::text ORDER BY id`, [gid]);
    return rows.map(toEvent);
  }

  async decisionTime(gid: string): Promise<number | null> {
    // decided_at, or for a decision logged without it the status event leaving open (dtx_event_gid: this transaction's range, first match).
    const { rows } = await this.db.query<{ at: string | number | null }>(
      `SELECT COALESCE(g.decided_at,
          (SELECT e.at FROM ${TABLES.event} e WHERE e.gid = g.gid AND e.kind = 'status' AND e.from_status = 'open' ORDER BY e.id LIMIT 1)) AS at
        FROM ${TABLES.global} g WHERE g.gid = $1::text`,
      [gid],
      REUSE,
    );
    const at = rows[0]?.at ?? null;
    return at === null ? null : Number(at);
  }

  async ping(): Promise<void> {
    await this.db.query('SELECT 1');
  }

  /** Closes the database's connections; closing again is a no-op. */
  async close(): Promise<void> {
    this.#closing ??= this.db.close();
    await this.#closing;
  }
}
