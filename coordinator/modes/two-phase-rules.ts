/**
 * The rules of the two modes whose initiator runs the first phase itself,
 * TCC and XA. Branches are registered (and tried, or prepared, by the
 * initiator) while the transaction is open; a submit before the deadline
 * logs the commit decision (TCC's confirm, XA's commit), an abort (or the
 * deadline) the rollback decision (cancel, rollback); phase two then calls
 * every branch's operation at once, until each succeeded. The two modes
 * differ only in their words.
 */
import { MODE_OPS } from '@dtx/protocol';
import type { ModeWords } from '../domain/mode-words.ts';
import { decideAfterRound, decideRecovery, type PhaseTwoPlan } from '../domain/phase-two.ts';
import { newRegistrations, registrationClosed } from '../domain/registration.ts';
import { TransactionRefusedError } from '../domain/refusal.ts';
import { guardHolds } from '../domain/transition-guard.ts';
import { isPhaseTwo, OUTCOME_OF, type GlobalTransaction, type Mode, type TransactionSnapshot } from '../domain/transaction.ts';
import type { DecisionStep, ModeRules, Transition } from './mode-rules.ts';

/**
 * Whether the abort came at or after the deadline (by the sweep, a late
 * submit, or anyone else once it had passed): decided by the logged times,
 * never by the free-text reason. A decision logged before decided_at
 * existed counts as not.
 */
function abortedForDeadline(txn: GlobalTransaction): boolean {
  return txn.decidedAt !== null && txn.decidedAt >= txn.deadlineAt;
}

/** The rules of a two-phase mode that names its statuses and operations with `words`. */
export function twoPhaseRules(mode: Mode, words: ModeWords): ModeRules {
  const refuse = (code: 'ILLEGAL_STATE' | 'DEADLINE_PASSED', txn: GlobalTransaction, message: string, status = txn.status) =>
    new TransactionRefusedError(code, message, txn.gid, words.status[status]);
  const commitDecision = `the ${words.op.committing} decision`;
  const rollbackDecision = `the ${words.op['rolling-back']} decision`;

  return {
    mode,
    words,
    operations: MODE_OPS[mode].registered,
    rowLocks: false,
    abortAsksFirst: false,
    submittedAtBegin: false,
    registersLater: true,
    firstOpByInitiator: true,
    checkSteps: () => undefined,

    registrationGuard: (now) => ({ from: 'open', deadlineAfter: now, mode }),
    checkRegistration(txn, existing, incoming, now) {
      return newRegistrations(txn, existing, incoming, this.registrationGuard(now), (t) => registrationClosed(t, words, now));
    },

    submit: (now): Transition => ({ to: 'committing', guard: { from: 'open', deadlineAfter: now } }),

    /**
     * Re-sending is safe; submitting an aborted transaction is refused:
     * DEADLINE_PASSED when the deadline aborted it (or is about to: the status
     * is then the one it moves to, `cancelling`), ILLEGAL_STATE when someone
     * aborted it — whichever request of a race wins.
     */
    explainSubmit(txn, now): DecisionStep {
      const transition = this.submit(now);
      if (guardHolds(transition.guard, txn)) return { kind: 'decide', transition };
      switch (txn.status) {
        case 'open':
          // Open, and the guard failed: only the deadline is left.
          throw refuse('DEADLINE_PASSED', txn, `transaction ${txn.gid} passed its deadline before submit; it is being aborted`, 'rolling-back');
        case 'committing':
        case 'committed':
          return { kind: 'already', status: txn.status };
        case 'rolling-back':
        case 'rolled-back':
          if (abortedForDeadline(txn)) throw refuse('DEADLINE_PASSED', txn, `transaction ${txn.gid} passed its deadline before submit and was aborted`);
          throw refuse(
            'ILLEGAL_STATE',
            txn,
            `transaction ${txn.gid} is ${words.status[txn.status]}: it was aborted${txn.reason ? ` (${txn.reason})` : ''} and cannot be submitted`,
          );
      }
    },

    abort: (): Transition => ({ to: 'rolling-back', guard: { from: 'open' } }),

    /** Re-sending is safe; aborting after the commit decision is refused. */
    explainAbort(txn, now): DecisionStep {
      const transition = this.abort(now);
      if (guardHolds(transition.guard, txn)) return { kind: 'decide', transition };
      if (txn.status === 'rolling-back' || txn.status === 'rolled-back') return { kind: 'already', status: txn.status };
      throw refuse('ILLEGAL_STATE', txn, `transaction ${txn.gid} is ${words.status[txn.status]}: ${commitDecision} is logged and cannot be reversed`);
    },

    /**
     * Force-abort is the initiator's abort done by an operator, so it is only
     * possible while open: after the commit decision it would break the
     * protocol, and after a rollback decision there is nothing left to force.
     */
    checkForceAbort(txn) {
      const state = `transaction ${txn.gid} is ${words.status[txn.status]}${txn.paused ? ' (paused)' : ''}`;
      if (txn.status === 'committing' || txn.status === 'committed')
        throw refuse('ILLEGAL_STATE', txn, `${state}: ${commitDecision} is logged and cannot be reversed`);
      if (txn.status !== 'open') throw refuse('ILLEGAL_STATE', txn, `${state}: ${rollbackDecision} is already logged; nothing to force`);
    },

    recoveryStep: decideRecovery,

    /** Every branch not yet done, all at once. */
    planPhaseTwo(snapshot: TransactionSnapshot): PhaseTwoPlan | null {
      const { transaction, branches } = snapshot;
      if (!isPhaseTwo(transaction.status)) return null;
      const direction = transaction.status;
      const finalStatus = OUTCOME_OF[direction];
      const op = words.op[direction];
      return {
        direction,
        finalStatus,
        calls: branches.filter((branch) => branch.status !== finalStatus).map((branch) => ({ branch, op, url: branch.operations[op]! })),
        skips: [],
        waiting: [],
      };
    },

    afterRound: decideAfterRound,
  };
}
