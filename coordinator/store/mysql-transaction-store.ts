/**
 * The transaction log in MySQL/MariaDB (knex + mysql2). See
 * transaction-store.ts for each operation's precondition and effect.
 */
import type { Knex } from 'knex';
import { OPEN_STATUSES, participantOf, type BranchRegistration, type NewEvent, type TransactionSnapshot } from '../domain/transaction.ts';
import { isDuplicateKey } from './mysql-errors.ts';
import type { MysqlWriter } from './mysql-writer.ts';
import { blankEvent, clip, eventRow, toBranch, toEvent, toTransaction, type BranchRow, type EventRow, type GlobalRow } from './rows.ts';
import { TABLES } from './tables.ts';
import type {
  BeginInput,
  DecisionInput,
  DueTransaction,
  RoundRecord,
  TransactionStore,
} from './transaction-store.ts';

/** Attempts of a registration that raced another one for the same new branch. */
const REGISTRATION_ATTEMPTS = 3;

export class MysqlTransactionStore implements TransactionStore {
  private readonly knex: Knex;

  constructor(private readonly writer: MysqlWriter) {
    this.knex = writer.knex;
  }

  get commitCount(): number {
    return this.writer.commitCount;
  }

  async begin(input: BeginInput): Promise<'created' | 'exists'> {
    const { gid, now } = input;
    try {
      await this.write(async (trx) => {
        await trx(TABLES.global).insert({
          gid,
          mode: input.mode,
          status: 'trying',
          created_at: now,
          updated_at: now,
          deadline_at: input.deadlineAt,
          // Due at the deadline: that is when the timeout sweep must look at it.
          next_retry_at: input.deadlineAt,
          retry_count: 0,
        });
        if (input.branches.length > 0) {
          await trx(TABLES.branch).insert(input.branches.map((b) => branchRow(gid, b, now)));
        }
        const begin = { ...blankEvent(gid, now, 'begin'), toStatus: 'trying' as const, message: `deadline ${new Date(input.deadlineAt).toISOString()}` };
        await trx(TABLES.event).insert([begin, ...input.branches.map((b) => registerEvent(gid, b, now))].map(eventRow));
      });
      return 'created';
    } catch (error) {
      if (isDuplicateKey(error)) return 'exists';
      throw error;
    }
  }

  async registerBranches(
    gid: string,
    now: number,
    select: (snapshot: TransactionSnapshot) => BranchRegistration[],
  ): Promise<{ before: TransactionSnapshot; inserted: BranchRegistration[] } | null> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.write(async (trx) => {
          // A shared lock on the transaction row orders this registration
          // against a concurrent submit/abort, which updates that row.
          const row = await trx<GlobalRow>(TABLES.global).where({ gid }).forShare().first();
          if (!row) return null;
          const branches = await trx<BranchRow>(TABLES.branch).where({ gid }).orderBy(['created_at', 'branch_id']);
          const before = { transaction: toTransaction(row), branches: branches.map(toBranch) };
          const inserted = select(before);
          if (inserted.length > 0) {
            await trx(TABLES.branch).insert(inserted.map((b) => branchRow(gid, b, now)));
            await trx(TABLES.event).insert(inserted.map((b) => eventRow(registerEvent(gid, b, now))));
          }
          return { before, inserted };
        });
      } catch (error) {
        // Two registrations of the same new branch raced: run again, the
        // second run sees the winner's row and compares against it.
        if (isDuplicateKey(error) && attempt < REGISTRATION_ATTEMPTS) continue;
        throw error;
      }
    }
  }

  async decide(input: DecisionInput): Promise<boolean> {
    const { gid, now } = input;
    return this.write(async (trx) => {
      const query = trx(TABLES.global).where({ gid, status: 'trying' });
      if (input.beforeDeadline) query.andWhere('deadline_at', '>', now);
      const changed = await query.update({
        status: input.to,
        reason: clip(input.reason, 512),
        updated_at: now,
        lease_owner: input.owner,
        lease_until: input.leaseUntil,
        next_retry_at: input.leaseUntil,
      });
      if (changed === 0) return false;
      const event: NewEvent = {
        ...blankEvent(gid, now, 'status'),
        fromStatus: 'trying',
        toStatus: input.to,
        message: input.reason,
        actor: input.actor,
      };
      await trx(TABLES.event).insert(eventRow(event));
      return true;
    });
  }

  async claim(gid: string, owner: string, now: number, leaseUntil: number): Promise<TransactionSnapshot | null> {
    const changed = await this.knex(TABLES.global)
      .where({ gid, paused: false })
      .whereIn('status', OPEN_STATUSES)
      .andWhere('next_retry_at', '<=', now)
      .andWhere((q) => q.whereNull('lease_until').orWhere('lease_until', '<=', now))
      .update({ lease_owner: owner, lease_until: leaseUntil, next_retry_at: leaseUntil });
    this.writer.countAutocommit();
    if (changed === 0) return null;
    return this.load(gid);
  }

  async recordRound(record: RoundRecord): Promise<boolean> {
    const { gid, now, decision } = record;
    return this.write(async (trx) => {
      const globalUpdate =
        decision.kind === 'finish'
          ? {
              status: decision.status,
              updated_at: now,
              finished_at: now,
              next_retry_at: null,
              lease_owner: null,
              lease_until: null,
              // The flag and its reason stay in the event history.
              needs_attention: false,
              attention_reason: null,
              // Paused while this last round ran: finished now, nothing left to pause.
              paused: false,
            }
          : {
              retry_count: decision.retryCount,
              // An operator may have paused it while the round was running: stay paused.
              next_retry_at: trx.raw('CASE WHEN paused THEN NULL ELSE ? END', [decision.nextRetryAt]),
              needs_attention: decision.needsAttention,
              ...(decision.attentionReason ? { attention_reason: clip(decision.attentionReason, 512) } : {}),
              updated_at: now,
              lease_owner: null,
              lease_until: null,
            };
      const changed = await trx(TABLES.global)
        .where({ gid, status: record.from, lease_owner: record.owner })
        .update(globalUpdate);
      if (changed === 0) return false;

      const doneStatus = record.op === 'confirm' ? 'confirmed' : 'cancelled';
      const succeeded = record.results.filter((r) => r.outcome === 'success').map((r) => r.branchId);
      if (succeeded.length > 0) {
        await trx(TABLES.branch)
          .where({ gid })
          .whereIn('branch_id', succeeded)
          .update({ status: doneStatus, attempts: trx.raw('attempts + 1'), last_error: null, updated_at: now });
      }
      for (const result of record.results) {
        if (result.outcome === 'success') continue;
        await trx(TABLES.branch)
          .where({ gid, branch_id: result.branchId })
          .update({ attempts: trx.raw('attempts + 1'), last_error: clip(result.error, 1024), updated_at: now });
      }

      const events: NewEvent[] = record.results.map((result) => ({
        ...blankEvent(gid, now, 'branch-call'),
        branchId: result.branchId,
        op: record.op,
        outcome: result.outcome,
        attempt: result.attempt,
        message: result.error ?? (result.httpStatus === null ? null : `HTTP ${result.httpStatus}`),
      }));
      if (decision.kind === 'finish') {
        events.push({ ...blankEvent(gid, now, 'status'), fromStatus: record.from, toStatus: decision.status });
      } else if (decision.attentionReason) {
        events.push({ ...blankEvent(gid, now, 'attention'), message: decision.attentionReason });
      }
      await trx(TABLES.event).insert(events.map(eventRow));
      return true;
    });
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
    const branches = await this.knex<BranchRow>(TABLES.branch).where({ gid }).orderBy(['created_at', 'branch_id']);
    return { transaction: toTransaction(row), branches: branches.map(toBranch) };
  }

  async events(gid: string): Promise<ReturnType<typeof toEvent>[]> {
    const rows = await this.knex<EventRow>(TABLES.event).where({ gid }).orderBy('id');
    return rows.map(toEvent);
  }

  async decisionTime(gid: string): Promise<number | null> {
    // idx_event_gid (gid, id): the range of this transaction's events, first match wins.
    const row = await this.knex<EventRow>(TABLES.event)
      .select('at')
      .where({ gid, kind: 'status', from_status: 'trying' })
      .orderBy('id')
      .first();
    return row ? Number(row.at) : null;
  }

  async close(): Promise<void> {
    await this.knex.destroy();
  }

  private write<T>(work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
    return this.writer.write(work);
  }
}

function branchRow(gid: string, branch: BranchRegistration, now: number): Omit<BranchRow, 'last_error'> {
  return {
    gid,
    branch_id: branch.branchId,
    confirm_url: branch.confirmUrl,
    cancel_url: branch.cancelUrl,
    participant: participantOf(branch.confirmUrl),
    payload: branch.payload,
    status: 'prepared',
    attempts: 0,
    created_at: now,
    updated_at: now,
  };
}

function registerEvent(gid: string, branch: BranchRegistration, now: number): NewEvent {
  return { ...blankEvent(gid, now, 'register'), branchId: branch.branchId, message: `confirm ${branch.confirmUrl} cancel ${branch.cancelUrl}` };
}
