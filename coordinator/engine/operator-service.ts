/**
 * Operator actions, as the admin API calls them. Each is one guarded
 * commit with its event and audit entry (store), decided by a pure function
 * (domain/operator-decisions.ts); the calls to participants that follow
 * (retry, force-abort) go through the usual engine paths.
 */
import type { Logger } from 'pino';
import {
  decideClose,
  decidePause,
  decideResolveBranch,
  decideResume,
  decideRetryNow,
  type OperatorAction,
  type OperatorChange,
} from '../domain/operator-decisions.ts';
import { TransactionRefusedError } from '../domain/refusal.ts';
import { isTerminal, type GlobalStatus, type TransactionSnapshot } from '../domain/transaction.ts';
import { rulesFor, wordsFor } from '../modes/registry.ts';
import type { AdminStore, AuditEntry, ListFilter } from '../store/ports/admin-store.ts';
import type { Clock, RetryScheduler } from './ports.ts';
import type { Telemetry } from './telemetry.ts';
import type { TransactionService } from './transaction-service.ts';

export interface Operator {
  name: string;
  role: 'viewer' | 'operator';
}

/** Decisions of one operator action, when the transaction keeps changing under it. */
const CHANGE_ATTEMPTS = 5;

export interface OperatorServiceOptions {
  store: AdminStore;
  /** The transaction as the log holds it now (the transaction store's load). */
  load: (gid: string) => Promise<TransactionSnapshot | null>;
  transactions: TransactionService;
  scheduler: RetryScheduler;
  clock: Clock;
  logger: Logger;
  /** Most transactions one "retry all matching" may touch. */
  maxBulk: number;
  /** Told when an action ends a transaction (resolving its last branch, closing it). */
  telemetry?: Pick<Telemetry, 'onFinish'>;
}

export class OperatorService {
  constructor(private readonly options: OperatorServiceOptions) {}

  async retry(gid: string, who: Operator, reason: string): Promise<TransactionSnapshot> {
    const now = this.options.clock.now();
    const snapshot = await this.#change('retry', gid, null, who, reason, (s) => decideRetryNow(s.transaction, now, wordsFor(s.transaction.mode)));
    await this.#schedule(gid, now);
    return snapshot;
  }

  /** Retry now every open, unpaused phase-two transaction matching the filter, at most `limit` (≤ maxBulk). */
  async retryMatching(filter: ListFilter, limit: number, who: Operator, reason: string): Promise<{ retried: string[]; skipped: string[] }> {
    const bounded = Math.min(limit, this.options.maxBulk);
    const gids = await this.options.store.findRetryable(filter, bounded);
    const retried: string[] = [];
    const skipped: string[] = [];
    for (const gid of gids) {
      try {
        await this.retry(gid, who, reason);
        retried.push(gid);
      } catch (error) {
        // It finished or was paused between the search and the change: nothing to retry.
        if (error instanceof TransactionRefusedError) skipped.push(gid);
        else throw error;
      }
    }
    await this.options.store.recordAudit(
      this.#audit('retry-matching', null, null, who, reason, JSON.stringify({ filter, limit: bounded, retried: retried.length, skipped: skipped.length })),
    );
    return { retried, skipped };
  }

  pause(gid: string, who: Operator, reason: string): Promise<TransactionSnapshot> {
    return this.#change('pause', gid, null, who, reason, (s) => decidePause(s.transaction, wordsFor(s.transaction.mode)));
  }

  async resume(gid: string, who: Operator, reason: string): Promise<TransactionSnapshot> {
    const now = this.options.clock.now();
    const snapshot = await this.#change('resume', gid, null, who, reason, (s) => decideResume(s.transaction, now, wordsFor(s.transaction.mode)));
    await this.#schedule(gid, now);
    return snapshot;
  }

  /**
   * Abort before any decision: the same decision as an initiator's abort, by
   * an operator, where the mode allows it (409 otherwise). The operator
   * event and audit entry follow the decision, so they record what happened.
   */
  async forceAbort(gid: string, who: Operator, reason: string, waitMs: number): Promise<GlobalStatus> {
    const { transaction } = await this.#load(gid);
    rulesFor(transaction.mode).checkForceAbort(transaction);
    // A submit racing this one wins or loses on the engine's compare-and-set: the loser gets ILLEGAL_STATE.
    const { status } = await this.options.transactions.abort({
      gid,
      mode: transaction.mode,
      reason: `force-abort by ${who.name}: ${reason}`,
      waitMs,
      actor: who.name,
    });
    const words = wordsFor(transaction.mode);
    await this.#change('force-abort', gid, null, who, reason, () => ({
      set: {},
      branches: [],
      summary: `${words.op['rolling-back']} decision logged, every branch is ${words.branchStatus['rolled-back']} (now ${words.status[status]})`,
    }));
    return status;
  }

  resolveBranch(gid: string, branchId: string, who: Operator, reason: string): Promise<TransactionSnapshot> {
    const now = this.options.clock.now();
    return this.#change('resolve-branch', gid, branchId, who, reason, (s) => decideResolveBranch(s, branchId, now, wordsFor(s.transaction.mode)));
  }

  /** Last resort: end it without calling participants. */
  close(gid: string, who: Operator, reason: string): Promise<TransactionSnapshot> {
    const now = this.options.clock.now();
    return this.#change('close', gid, null, who, reason, (s) => decideClose(s, now, wordsFor(s.transaction.mode)));
  }

  async #change(
    action: OperatorAction,
    gid: string,
    branchId: string | null,
    who: Operator,
    reason: string,
    decide: (snapshot: TransactionSnapshot) => OperatorChange,
  ): Promise<TransactionSnapshot> {
    const snapshot = await this.#applyChange(gid, this.#audit(action, gid, branchId, who, reason, null), decide);
    this.options.logger.warn({ gid, action, branchId, operator: who.name, reason }, 'operator action');
    const txn = snapshot.transaction;
    // Only resolve and close can end a transaction, and both refuse a finished one: terminal now means ended here.
    if ((action === 'resolve-branch' || action === 'close') && isTerminal(txn.status)) {
      this.options.telemetry?.onFinish({ gid, mode: txn.mode, status: txn.status, decidedAt: null, at: txn.finishedAt ?? txn.updatedAt, by: 'operator' });
    }
    return snapshot;
  }

  /**
   * Load, decide (pure; it may refuse), write guarded by what was loaded; a
   * write that finds the transaction changed meanwhile (a round recorded, or
   * another operator acted) is decided again on a fresh load.
   */
  async #applyChange(gid: string, audit: AuditEntry, decide: (snapshot: TransactionSnapshot) => OperatorChange): Promise<TransactionSnapshot> {
    for (let attempt = 1; ; attempt++) {
      const before = await this.#load(gid);
      const result = await this.options.store.applyOperatorChange({ before, change: decide(before), audit });
      if (result === null) throw new TransactionRefusedError('NOT_FOUND', `no transaction with gid ${gid}`, gid);
      if (result !== 'stale') return result;
      if (attempt >= CHANGE_ATTEMPTS) {
        throw new TransactionRefusedError('ILLEGAL_STATE', `transaction ${gid} kept changing while the action was applied; query it and try again`, gid);
      }
    }
  }

  /** The transaction and its branches (no history: the decisions need none). */
  async #load(gid: string): Promise<TransactionSnapshot> {
    const snapshot = await this.options.load(gid);
    if (!snapshot) throw new TransactionRefusedError('NOT_FOUND', `no transaction with gid ${gid}`, gid);
    return snapshot;
  }

  #audit(action: AuditEntry['action'], gid: string | null, branchId: string | null, who: Operator, reason: string, detail: string | null): AuditEntry {
    return { at: this.options.clock.now(), actor: who.name, role: who.role, action, gid, branchId, reason, detail };
  }

  async #schedule(gid: string, at: number): Promise<void> {
    await this.options.scheduler.schedule(gid, at).catch((error: unknown) => {
      this.options.logger.warn({ gid, err: error }, 'could not enqueue; the reconciler will pick it up from MySQL');
    });
  }
}
