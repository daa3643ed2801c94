/**
 * The transaction log in MySQL/MariaDB (knex + mysql2). See
 * ../ports/transaction-store.ts for each operation's precondition and effect.
 */
import type { Knex } from 'knex';
import { clip, type BranchRegistration, type TransactionSnapshot } from '../../domain/transaction.ts';
import { isDuplicateKey } from './mysql-errors.ts';
import type { MysqlWriter } from './mysql-writer.ts';
import type { MysqlBatch } from './mysql-batch.ts';
import { attentionStatements, beginStatements, BRANCH_ORDER, branchRow, claimStatements, decisionStatements, roundStatements } from './hot-path-statements.ts';
import { toBranch, toEvent, toTransaction, type BranchRow, type EventRow, type GlobalRow } from './rows.ts';
import { TABLES } from './tables.ts';
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
import { heldRowLocksOn, lockRowsIn } from './row-locks.ts';
import { mayRegister, roundEvents } from '../ports/contract-rules.ts';

/** Attempts of a registration that raced another one for the same new branch. */
const REGISTRATION_ATTEMPTS = 3;

/** The transaction log on MySQL: the {@link TransactionStore} port, its hot path group-committed through a MysqlBatch. */
export class MysqlTransactionStore implements TransactionStore {
  private readonly knex: Knex;
  #closing: Promise<void> | null = null;

  constructor(
    private readonly writer: MysqlWriter,
    private readonly batch: MysqlBatch,
  ) {
    this.knex = writer.knex;
  }

  /**
   * Commits issued by this store instance since it was created (tests and
   * the benchmark read it). A metric of this implementation, not part of
   * the TransactionStore port.
   */
  get commitCount(): number {
    return this.writer.commitCount;
  }

  async begin(input: BeginInput): Promise<'created' | 'exists'> {
    const { gid } = input;
    try {
      await this.batch.transaction(beginStatements(input, clip(input.decision?.reason ?? null, 512), clip(input.decision?.actor ?? null, 128)));
      return 'created';
    } catch (error) {
      // Which key was hit decides, not the error text: only the transaction's
      // own row (this exact gid, ids compare byte for byte) makes it a re-send.
      if (isDuplicateKey(error) && (await this.#exists(gid))) return 'exists';
      throw error;
    }
  }

  async #exists(gid: string): Promise<boolean> {
    const row = await this.knex<GlobalRow>(TABLES.global).select('gid').where({ gid }).first();
    return row?.gid === gid;
  }

  async registerBranches(input: RegisterInput): Promise<{ before: TransactionSnapshot; inserted: BranchRegistration[] } | null> {
    const { gid, now, branches, actor } = input;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.write(async (trx) => {
          // A shared lock on the transaction row orders this registration
          // against a concurrent submit/abort, which updates that row.
          const row = await trx<GlobalRow>(TABLES.global).where({ gid }).forShare().first();
          if (!row) return null;
          const rows = await trx<BranchRow>(TABLES.branch).where({ gid }).orderByRaw(BRANCH_ORDER);
          const before = { transaction: toTransaction(row), branches: rows.map(toBranch) };
          if (!mayRegister(before, input)) return { before, inserted: [] };
          await trx(TABLES.branch).insert(branches.map((b, seq) => branchRow(gid, b, now, actor, seq)));
          return { before, inserted: branches };
        });
      } catch (error) {
        // Two registrations of the same new branch raced: run again, the
        // second run sees the winner's row and refuses.
        if (isDuplicateKey(error) && attempt < REGISTRATION_ATTEMPTS) continue;
        throw error;
      }
    }
  }

  async lockRows(input: RowLockInput): Promise<RowLockResult | null> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.write((trx) => lockRowsIn(trx, input));
      } catch (error) {
        // Two runs inserted the same new key: run again, and see the winner's lock.
        if (isDuplicateKey(error) && attempt < REGISTRATION_ATTEMPTS) continue;
        throw error;
      }
    }
  }

  heldRowLocks(keys: readonly RowLockKey[]): Promise<RowLockHolder[]> {
    return heldRowLocksOn(this.knex, keys);
  }

  async decide(input: DecisionInput): Promise<TransactionSnapshot | null> {
    const results = await this.batch.transaction(decisionStatements(input, clip(input.reason, 512), clip(input.actor, 128)));
    return snapshotOf(results, 0, 2);
  }

  async claim(gid: string, owner: string, now: number, leaseUntil: number): Promise<TransactionSnapshot | null> {
    const results = await this.batch.transaction(claimStatements(gid, owner, now, leaseUntil));
    return snapshotOf(results, 0, 2);
  }

  async recordRound(record: RoundRecord): Promise<boolean> {
    const { decision } = record;
    const events = roundEvents(record);
    const retry = decision.kind === 'retry' ? { ...decision, attentionReason: clip(decision.attentionReason, 512) } : decision;
    const reason = decision.kind === 'turn' ? clip(decision.reason, 512) : null;
    const results = await this.batch.transaction(roundStatements({ ...record, decision: retry }, events, (text) => clip(text, 1024), reason));
    return changedRows(results[0]) > 0;
  }

  async flagAttention(input: { gid: string; owner: string; reason: string; now: number }): Promise<boolean> {
    const results = await this.batch.transaction(attentionStatements(input.gid, input.owner, clip(input.reason, 512)!, input.now));
    return changedRows(results[0]) > 0;
  }

  async findDue(until: number, limit: number): Promise<DueTransaction[]> {
    const rows = await this.knex<GlobalRow>(TABLES.global)
      .select('gid', 'next_retry_at')
      .where('next_retry_at', '<=', until)
      .orderBy('next_retry_at')
      .limit(limit);
    return rows.map((row) => ({ gid: row.gid, nextRetryAt: Number(row.next_retry_at) }));
  }

  async load(gid: string): Promise<TransactionSnapshot | null> {
    const row = await this.knex<GlobalRow>(TABLES.global).where({ gid }).first();
    if (!row) return null;
    const branches = await this.knex<BranchRow>(TABLES.branch).where({ gid }).orderByRaw(BRANCH_ORDER);
    return { transaction: toTransaction(row), branches: branches.map(toBranch) };
  }

  async events(gid: string): Promise<ReturnType<typeof toEvent>[]> {
    const rows = await this.knex<EventRow>(TABLES.event).where({ gid }).orderBy('id');
    return rows.map(toEvent);
  }

  async decisionTime(gid: string): Promise<number | null> {
    const logged = await this.knex<GlobalRow>(TABLES.global).select('decided_at').where({ gid }).first();
    if (!logged) return null;
    if (logged.decided_at !== null) return Number(logged.decided_at);
    // Decided before decided_at existed (or not decided): the history says.
    // idx_event_gid (gid, id): the range of this transaction's events, first match wins.
    const row = await this.knex<EventRow>(TABLES.event).select('at').where({ gid, kind: 'status', from_status: 'open' }).orderBy('id').first();
    return row ? Number(row.at) : null;
  }

  async ping(): Promise<void> {
    await this.knex.raw('SELECT 1');
  }

  /** Closes both pools; closing again is a no-op. */
  async close(): Promise<void> {
    this.#closing ??= Promise.all([this.batch.close(), this.knex.destroy()]).then(() => undefined);
    await this.#closing;
  }

  private write<T>(work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
    return this.writer.write(work);
  }
}

function changedRows(result: unknown): number {
  return (result as { affectedRows?: number }).affectedRows ?? 0;
}

/** The snapshot a guarded batch read after its compare-and-set, or null if the compare-and-set lost. */
function snapshotOf(results: unknown[], casIndex: number, globalIndex: number): TransactionSnapshot | null {
  if (changedRows(results[casIndex]) === 0) return null;
  const [row] = results[globalIndex] as GlobalRow[];
  if (!row) return null;
  return { transaction: toTransaction(row), branches: (results[globalIndex + 1] as BranchRow[]).map(toBranch) };
}
