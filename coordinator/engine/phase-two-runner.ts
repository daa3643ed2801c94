/**
 * Runs phase two for a transaction whose lease this instance holds: calls
 * the branches its mode plans for this round (TCC: every remaining confirm
 * or cancel, at once; a saga: the steps whose prerequisites are done)
 * concurrently, asks the mode what the replies mean, records the round in
 * one commit, and then runs the next round at once (a saga's next steps, or
 * its compensations after it turned back) or schedules a retry.
 */
import type { Logger } from 'pino';
import type { BranchClient } from '../branch-client/http-branch-client.ts';
import type { RetryPolicy } from '../domain/backoff.ts';
import { afterRecordedRound, type RoundCall } from '../domain/phase-two.ts';
import { payloadFor, type GlobalStatus, type PhaseTwoStatus, type TransactionSnapshot } from '../domain/transaction.ts';
import { rulesFor } from '../modes/registry.ts';
import type { TransactionStore } from '../store/ports/transaction-store.ts';
import type { Clock, RetryScheduler } from './ports.ts';
import { noopTelemetry, type FinishEvent, type Telemetry } from './telemetry.ts';

export interface PhaseTwoRunnerOptions {
  store: TransactionStore;
  client: BranchClient;
  scheduler: RetryScheduler;
  clock: Clock;
  random: () => number;
  retryPolicy: RetryPolicy;
  /** How long a round that keeps going (a saga's next step) extends its lease. */
  leaseMs: number;
  logger: Logger;
  /** Metrics and alerts; nothing by default. */
  telemetry?: Telemetry;
}

/**
 * Re-plans of one round whose finish the log refused while the lease was
 * still held. One is enough (the fresh load shows every branch); the bound
 * only keeps a log that keeps refusing from looping.
 */
const MAX_REPLANS = 3;

/** What the caller of a round knows beyond the snapshot. */
export interface RoundContext {
  /** The lease this round runs under (lease_owner); recording the round requires it still to be held. */
  lease: string;
  /** When the decision was logged, if this instance just logged it (saves a read when the round finishes). */
  decidedAt?: number;
}

export class PhaseTwoRunner {
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #telemetry: Telemetry;

  constructor(private readonly options: PhaseTwoRunnerOptions) {
    this.#telemetry = options.telemetry ?? noopTelemetry;
  }

  /**
   * One round. Precondition: the snapshot is in phase two and its lease is
   * ours. Returns the status after the round (the same phase-two status if
   * a retry was scheduled, or if another instance took the transaction over).
   */
  runRound(snapshot: TransactionSnapshot, context: RoundContext): Promise<GlobalStatus> {
    const round = this.#round(snapshot, context);
    this.#inFlight.add(round);
    void round.finally(() => this.#inFlight.delete(round)).catch(() => undefined);
    return round;
  }

  /** Resolves when every round started so far has ended (for graceful shutdown). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.#inFlight]);
  }

  get inFlightCount(): number {
    return this.#inFlight.size;
  }

  /**
   * `carried`: calls that already succeeded in this round before the log
   * refused its finish (see below); they are recorded with this pass's
   * calls instead of being made again.
   */
  async #round(snapshot: TransactionSnapshot, context: RoundContext, carried: RoundCall[] = [], replans = 0): Promise<GlobalStatus> {
    const { store, client, clock, retryPolicy } = this.options;
    const telemetry = this.#telemetry;
    const txn = snapshot.transaction;
    // Created on first use: the happy path logs nothing at info level, and a child logger per round is not free.
    let child: Logger | undefined;
    const log = () => (child ??= this.options.logger.child({ gid: txn.gid }));
    const rules = rulesFor(txn.mode);
    const plan = rules.planPhaseTwo(snapshot);
    if (!plan) return txn.status;
    const from = plan.direction;
    if (plan.notBefore !== undefined && clock.now() < plan.notBefore) return this.#waitUntil(txn, from, plan.notBefore, context);
    const pendingIds = new Set(plan.calls.map((call) => call.branch.branchId));
    const done = carried.filter((result) => pendingIds.has(result.branchId));
    const doneIds = new Set(done.map((result) => result.branchId));

    const called = await Promise.all(
      plan.calls
        .filter(({ branch }) => !doneIds.has(branch.branchId))
        .map(async ({ branch, op, url }): Promise<RoundCall> => {
          const started = clock.now();
          const result = await client.call({
            gid: txn.gid,
            branchId: branch.branchId,
            op,
            url,
            payload: payloadFor(branch, op),
            timeoutMs: branch.callTimeoutMs ?? undefined,
            // The participant may refuse by caller: the one that registered this branch.
            caller: branch.registeredBy,
          });
          telemetry.onBranchCall({ mode: txn.mode, op, outcome: result.outcome, durationMs: clock.now() - started });
          return { ...result, op, attempt: branch.attempts + 1, completedBefore: branch.completion !== null };
        }),
    );
    const results = [...done, ...called];
    const now = clock.now();
    const decision = rules.afterRound(txn, plan, results, now, retryPolicy, this.options.random);
    const skipped = plan.skips.map((branch) => ({ branchId: branch.branchId, op: rules.words.op[from] }));
    const leaseUntil = now + this.options.leaseMs;
    const releaseRowLocks = rules.rowLocks;
    const recorded = await store.recordRound({ gid: txn.gid, owner: context.lease, from, results, skipped, decision, now, leaseUntil, releaseRowLocks });

    for (const result of called) {
      if (result.outcome !== 'success') {
        log().warn(
          { branchId: result.branchId, op: result.op, outcome: result.outcome, attempt: result.attempt, error: result.error },
          'branch call did not succeed',
        );
      }
    }
    if (!recorded) {
      // A refused finish is not necessarily a lost lease: the log also
      // refuses to end a transaction while a branch this round did not call
      // is not done (the snapshot it was planned from missed the branch).
      // Still the owner: plan again from the log as it is and call the rest.
      if (decision.kind === 'finish') {
        const fresh = await store.load(txn.gid);
        if (fresh && fresh.transaction.status === from && fresh.transaction.leaseOwner === context.lease) {
          if (replans >= MAX_REPLANS) {
            log().error({ status: from, replans }, 'the log keeps refusing to finish; recovery takes the transaction up again after the lease');
            return from;
          }
          const unplanned = (rules.planPhaseTwo(fresh)?.calls ?? []).map((call) => call.branch.branchId).filter((id) => !pendingIds.has(id));
          log().warn({ status: from, unplanned }, 'the log refused to finish: branches pending that this round did not call; calling them');
          return this.#round(fresh, context, results, replans + 1);
        }
      }
      if (decision.kind === 'continue') {
        const fresh = await store.load(txn.gid);
        if (fresh?.transaction.paused && fresh.transaction.status === from && fresh.transaction.leaseOwner === context.lease) {
          // Paused while this round ran: record it as a stop; resuming makes it due again.
          const stop = { kind: 'retry', retryCount: txn.retryCount, nextRetryAt: now, needsAttention: txn.needsAttention, attentionReason: null } as const;
          await store.recordRound({ gid: txn.gid, owner: context.lease, from, results, skipped, decision: stop, now, leaseUntil, releaseRowLocks });
          log().info({ status: from }, 'paused by an operator: stopped after this round');
          return from;
        }
      }
      log().info({ status: from }, 'lease lost before the round was recorded; the new owner carries on');
      return from;
    }
    if (decision.kind === 'continue' || decision.kind === 'turn') {
      if (decision.kind === 'turn') log().warn({ from, to: decision.to, reason: decision.reason }, 'turned back');
      return this.#round(afterRecordedRound(snapshot, plan, results, decision, now, leaseUntil), context);
    }
    if (decision.kind === 'finish') {
      // Debug: one line per transaction on the hot path costs measurable CPU (docs/performance.md).
      if (this.options.logger.isLevelEnabled('debug')) log().debug({ status: decision.status, branches: snapshot.branches.length }, 'transaction finished');
      const decidedAt = context.decidedAt ?? txn.decidedAt;
      this.#reportFinish({ gid: txn.gid, mode: txn.mode, status: decision.status, decidedAt, at: now, by: 'phase-two' });
      return decision.status;
    }
    telemetry.onRetry({ gid: txn.gid, mode: txn.mode, status: from, retryCount: decision.retryCount, nextRetryAt: decision.nextRetryAt });
    if (decision.attentionReason) {
      log().error({ retryCount: decision.retryCount, reason: decision.attentionReason }, 'transaction needs attention');
      telemetry.onAttention({ gid: txn.gid, mode: txn.mode, status: from, reason: decision.attentionReason, retryCount: decision.retryCount, at: now });
    }
    log().info({ retryCount: decision.retryCount, nextRetryAt: new Date(decision.nextRetryAt).toISOString() }, 'phase two incomplete, retry scheduled');
    await this.options.scheduler.schedule(txn.gid, decision.nextRetryAt).catch((error: unknown) => {
      log().warn({ err: error }, 'could not enqueue the retry; the reconciler will find it in MySQL');
    });
    return from;
  }

  /**
   * Phase two may not call yet (the plan's `notBefore`: a message delivered
   * at a given time): the round is recorded with no call, due again then.
   */
  async #waitUntil(txn: TransactionSnapshot['transaction'], from: PhaseTwoStatus, notBefore: number, context: RoundContext): Promise<GlobalStatus> {
    const now = this.options.clock.now();
    const decision = { kind: 'retry', retryCount: txn.retryCount, nextRetryAt: notBefore, needsAttention: txn.needsAttention, attentionReason: null } as const;
    const recorded = await this.options.store.recordRound({
      gid: txn.gid,
      owner: context.lease,
      from,
      results: [],
      skipped: [],
      decision,
      now,
      leaseUntil: now,
    });
    if (recorded) {
      await this.options.scheduler.schedule(txn.gid, notBefore).catch(() => {
        // The reconciler finds it in the log at notBefore.
      });
    }
    return from;
  }

  /**
   * The snapshot carries when the decision was logged (decided_at); a
   * transaction decided before that column existed has it only in its
   * history: read it there, off the caller's path.
   */
  #reportFinish(event: FinishEvent): void {
    if (event.decidedAt !== null) {
      this.#telemetry.onFinish(event);
      return;
    }
    void this.options.store
      .decisionTime(event.gid)
      .catch(() => null)
      .then((decidedAt) => this.#telemetry.onFinish({ ...event, decidedAt }));
  }
}
