/**
 * Asking an initiator whether its local transaction committed (a message's
 * sender, at the check-back URL its mode's rules give) and logging the
 * answer as the transaction's decision. Recovery asks when a message is still open at its
 * deadline; the service asks at once when the sender's caller aborts it,
 * since only the sender's record may drop a message.
 */
import type { Logger } from 'pino';
import { MESSAGE_SENDER_BRANCH } from '@dtx/protocol';
import type { GlobalStatus, GlobalTransaction } from '../domain/transaction.ts';
import type { ModeRules } from '../modes/mode-rules.ts';
import type { TransactionStore } from '../store/ports/transaction-store.ts';
import type { BranchClient } from '../branch-client/http-branch-client.ts';
import type { PhaseTwoRunner } from './phase-two-runner.ts';
import type { Clock } from './ports.ts';
import { noopTelemetry, type Telemetry } from './telemetry.ts';

/** What a check-back needs of the service's collaborators. */
export interface CheckBackOptions {
  store: TransactionStore;
  runner: PhaseTwoRunner;
  client: BranchClient;
  clock: Clock;
  leaseMs: number;
  /** How long past its deadline a check-back may go unanswered before the transaction is flagged needs-attention. */
  attentionAfterMs: number;
  logger: Logger;
  telemetry?: Telemetry;
}

export class CheckBack {
  constructor(private readonly options: CheckBackOptions) {}

  /**
   * Asks the initiator's check-back URL whether it committed, and logs the
   * answer as its decision: committed → submit, never committed → abort.
   * Any other answer leaves the transaction as it is (recovery asks again
   * once `lease`, taken by its claim, ends); unanswered long past the
   * deadline, recovery's ask raises the needs-attention flag.
   *
   * @param lease - the lease the decision is logged under (recovery's claim, or a fresh one)
   * @param why - `abortAskedBy`: the caller whose abort asked for it (recorded in the reason)
   * @returns the status after the decision's first round; the current status when unanswered; null when another decision won
   */
  async ask(txn: GlobalTransaction, rules: ModeRules, lease: string, why: { abortAskedBy?: string } = {}): Promise<GlobalStatus | null> {
    const { store, clock, leaseMs, runner, logger } = this.options;
    const log = logger.child({ gid: txn.gid });
    const url = rules.checkBackUrl?.(txn) ?? null;
    if (url === null) {
      log.error('no check-back URL to ask: the transaction stays open for an operator');
      return txn.status;
    }
    const answer = await this.options.client.call({
      gid: txn.gid,
      branchId: MESSAGE_SENDER_BRANCH,
      op: 'check',
      url,
      payload: '{}',
      caller: txn.caller,
    });
    if (answer.outcome !== 'success' && answer.outcome !== 'failure') {
      log.warn({ outcome: answer.outcome, httpStatus: answer.httpStatus, error: answer.error }, 'check-back did not answer; asking again later');
      if (why.abortAskedBy === undefined) await this.#flagUnanswered(txn, lease, answer.httpStatus, answer.error);
      return txn.status;
    }
    const now = clock.now();
    const committed = answer.outcome === 'success';
    const transition = committed ? rules.submit(now) : rules.abort(now);
    const asked = why.abortAskedBy === undefined ? '' : `abort asked by ${why.abortAskedBy}; `;
    const decided = await store.decide({
      gid: txn.gid,
      ...transition,
      reason: `${asked}${committed ? 'check-back: the initiator committed' : 'check-back: the initiator never committed'}`,
      now,
      owner: lease,
      leaseUntil: now + leaseMs,
      actor: 'check-back',
    });
    if (!decided) return null;
    log.info({ status: transition.to }, 'decided by check-back');
    return runner.runRound(decided, { lease, decidedAt: now });
  }

  /** A check-back unanswered long past the deadline is raised to an operator (once): nothing else would show it. */
  async #flagUnanswered(txn: GlobalTransaction, lease: string, httpStatus: number | null, error: string | null): Promise<void> {
    const now = this.options.clock.now();
    const late = now - txn.deadlineAt;
    if (txn.needsAttention || late < this.options.attentionAfterMs) return;
    const answer = httpStatus === null ? (error ?? 'no reply') : `HTTP ${httpStatus}`;
    const reason = `check-back unanswered ${Math.floor(late / 1000)} s past the deadline (last: ${answer})`;
    if (!(await this.options.store.flagAttention({ gid: txn.gid, owner: lease, reason, now }))) return;
    this.options.logger.error({ gid: txn.gid, reason }, 'transaction needs attention');
    (this.options.telemetry ?? noopTelemetry).onAttention({ gid: txn.gid, mode: txn.mode, status: txn.status, reason, retryCount: txn.retryCount, at: now });
  }
}
