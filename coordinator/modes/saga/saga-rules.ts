/**
 * Saga: the steps are submitted whole, each an action and a compensation,
 * with the steps it depends on (by default the one before it). The submit
 * is logged with the transaction itself (`running`); phase two then calls
 * every step whose prerequisites succeeded, round after round, until all
 * succeeded. An action refused (409), a step out of retries or the deadline
 * turn the saga back (`compensating`): every step whose action ran or may
 * have run is compensated, in reverse graph order, until all are.
 *
 * "May have run": a step was called (attempts on its row), or all its
 * prerequisites had succeeded — a round whose record was lost (the
 * coordinator died mid-round) may have called it. Compensating a step
 * whose action never ran is safe: the participant's barrier makes it a
 * no-op that also blocks the late action. A step whose prerequisites never
 * all succeeded was never called, and is marked compensated without a call.
 */
import { MODE_OPS } from '@dtx/protocol';
import { decideAfterRound, decideRecovery, DEADLINE_REASONS, type PhaseTwoPlan, type RoundCall, type RoundDecision } from '../../domain/phase-two.ts';
import { TransactionRefusedError } from '../../domain/refusal.ts';
import { guardHolds } from '../../domain/transition-guard.ts';
import { retryDelayMs } from '../../domain/backoff.ts';
import { isPhaseTwo, OUTCOME_OF, type Branch, type GlobalTransaction, type TransactionSnapshot } from '../../domain/transaction.ts';
import type { DecisionStep, ModeRules, Transition } from '../mode-rules.ts';
import { SAGA_WORDS } from './saga-words.ts';
import { graphProblem, needsCompensation, readyBackward, readyForward, type GraphProblem, type StepState } from './step-graph.ts';

const words = SAGA_WORDS;

const refuse = (txn: GlobalTransaction, message: string) => new TransactionRefusedError('ILLEGAL_STATE', message, txn.gid, words.status[txn.status]);

/** Where each step stands, from its branch row (see the module comment for "attempted"). */
function stepStates(branches: readonly Branch[]): StepState[] {
  const succeeded = new Set(branches.filter((b) => b.status === 'committed').map((b) => b.branchId));
  return branches.map((b) => {
    const dependsOn = b.dependsOn ?? [];
    return {
      id: b.branchId,
      dependsOn,
      done: b.status === 'committed',
      compensated: b.status === 'rolled-back',
      attempted: b.attempts > 0 || (b.status === 'pending' && dependsOn.every((id) => succeeded.has(id))),
    };
  });
}

function describe(problem: GraphProblem): string {
  switch (problem.code) {
    case 'DUPLICATE_STEP':
      return `step ${problem.step} is given twice`;
    case 'UNKNOWN_STEP':
      return `step ${problem.step} depends on ${problem.dependsOn}, which is not a step of this saga`;
    case 'CYCLE':
      return `the steps depend on each other in a cycle: ${problem.steps.join(' → ')}`;
  }
}

/** Why the forward run gives up after this round, or null: a refusal, a step out of retries, the deadline. */
function reasonToTurn(txn: GlobalTransaction, plan: PhaseTwoPlan, results: readonly RoundCall[], now: number): string | null {
  const refused = results.find((result) => result.outcome === 'failure');
  if (refused) return `step ${refused.branchId}: action refused (HTTP ${refused.httpStatus})`;
  const limits = new Map(plan.calls.map(({ branch }) => [branch.branchId, branch.maxAttempts]));
  const exhausted = results.find((result) => {
    const limit = limits.get(result.branchId);
    return result.outcome !== 'success' && limit !== null && limit !== undefined && result.attempt >= limit;
  });
  if (exhausted) return `step ${exhausted.branchId}: action failed ${exhausted.attempt} times, its retry limit is ${limits.get(exhausted.branchId)! - 1}`;
  // The round that completes the last step succeeded, however late it ended.
  const finished = plan.waiting.length === 0 && results.every((result) => result.outcome === 'success');
  if (now >= txn.deadlineAt && !finished) return DEADLINE_REASONS.sweep;
  return null;
}

export const sagaRules: ModeRules = {
  mode: 'saga',
  words,
  operations: MODE_OPS.saga.registered,
  rowLocks: false,
  abortAsksFirst: false,
  submittedAtBegin: true,
  registersLater: false,
  firstOpByInitiator: false,

  checkSteps(gid, branches) {
    if (branches.length === 0) throw new TransactionRefusedError('INVALID_STEPS', 'a saga has at least one step', gid);
    const problem = graphProblem(branches.map((b) => ({ id: b.branchId, dependsOn: b.dependsOn ?? [] })));
    if (problem) throw new TransactionRefusedError('INVALID_STEPS', describe(problem), gid);
  },

  // A saga's steps are all given when it is submitted: none may join later.
  registrationGuard: (now) => ({ from: 'open', deadlineAfter: now, mode: 'saga' }),
  checkRegistration(txn) {
    throw refuse(txn, `transaction ${txn.gid} is a saga: its steps are all given when it is submitted`);
  },

  submit: (): Transition => ({ to: 'committing', guard: { from: 'open' } }),

  /** A re-sent submit is answered with where the saga stands, unless it was compensated: then it is refused. */
  explainSubmit(txn, now): DecisionStep {
    const transition = this.submit(now);
    if (guardHolds(transition.guard, txn)) return { kind: 'decide', transition };
    if (txn.status === 'committing' || txn.status === 'committed') return { kind: 'already', status: txn.status };
    throw refuse(txn, `saga ${txn.gid} is ${words.status[txn.status]}${txn.reason ? ` (${txn.reason})` : ''}: it cannot be submitted again`);
  },

  /** Aborting a running saga turns it back: what ran is compensated. */
  abort: (): Transition => ({ to: 'rolling-back', guard: { from: 'committing' } }),

  explainAbort(txn, now): DecisionStep {
    const transition = this.abort(now);
    if (guardHolds(transition.guard, txn)) return { kind: 'decide', transition };
    if (txn.status === 'rolling-back' || txn.status === 'rolled-back') return { kind: 'already', status: txn.status };
    if (txn.status === 'committed') throw refuse(txn, `saga ${txn.gid} is ${words.status[txn.status]}: every step succeeded, there is nothing to abort`);
    throw refuse(txn, `saga ${txn.gid} is ${words.status[txn.status]}: it was never submitted, there is nothing to abort`);
  },

  /** An operator may turn a running saga back (its steps are compensated); not one that succeeded or is compensating already. */
  checkForceAbort(txn) {
    const state = `saga ${txn.gid} is ${words.status[txn.status]}${txn.paused ? ' (paused)' : ''}`;
    if (txn.status === 'committed') throw refuse(txn, `${state}: every step succeeded, there is nothing to abort`);
    if (txn.status !== 'committing') throw refuse(txn, `${state}: nothing to force`);
  },

  /** Past its deadline while running, it turns back; otherwise as for every mode. */
  recoveryStep(txn, now) {
    if (txn.status === 'committing' && now >= txn.deadlineAt) return 'abort-timeout';
    return decideRecovery(txn, now);
  },

  /** Running: every step whose prerequisites succeeded. Compensating: every step to undo that nothing left to undo depends on. */
  planPhaseTwo(snapshot: TransactionSnapshot): PhaseTwoPlan | null {
    const { transaction, branches } = snapshot;
    if (!isPhaseTwo(transaction.status)) return null;
    const direction = transaction.status;
    const op = words.op[direction];
    const steps = stepStates(branches);
    const byId = new Map(branches.map((b) => [b.branchId, b]));
    const call = (id: string) => {
      const branch = byId.get(id)!;
      return { branch, op, url: branch.operations[op]! };
    };
    const finalStatus = OUTCOME_OF[direction];
    const calls = (direction === 'committing' ? readyForward(steps) : readyBackward(steps)).map(call);
    const skips = direction === 'committing' ? [] : steps.filter((step) => !step.compensated && !needsCompensation(step)).map((step) => byId.get(step.id)!);
    const inRound = new Set([...calls.map((c) => c.branch.branchId), ...skips.map((b) => b.branchId)]);
    const waiting = branches.filter((b) => b.status !== finalStatus && !inRound.has(b.branchId));
    return { direction, finalStatus, calls, skips, waiting };
  },

  /**
   * Running: turn back (refusal, retries spent, deadline); else go on to the
   * next steps, finish, or retry what did not answer. Compensating: go on,
   * finish, or retry — a compensation is never abandoned, and one refused
   * is flagged for the operator, as TCC's phase two.
   */
  afterRound(txn, plan, results, now, policy, random): RoundDecision {
    if (plan.direction === 'committing') {
      const reason = reasonToTurn(txn, plan, results, now);
      if (reason !== null) return { kind: 'turn', to: 'rolling-back', reason };
    }
    const pending = results.some((result) => result.outcome !== 'success');
    if (pending) {
      const retry = decideAfterRound(txn, plan, results, now, policy, random);
      // Running: look again at the deadline, not later.
      if (retry.kind === 'retry' && plan.direction === 'committing') return { ...retry, nextRetryAt: Math.min(retry.nextRetryAt, txn.deadlineAt) };
      return retry;
    }
    if (plan.waiting.length === 0) return { kind: 'finish', status: OUTCOME_OF[plan.direction] };
    if (results.length + plan.skips.length > 0) return { kind: 'continue' };
    // Steps left and none can run: the graph was checked at submit, so only a hand-edited log gets here.
    return {
      kind: 'retry',
      retryCount: txn.retryCount + 1,
      nextRetryAt: now + retryDelayMs(txn.retryCount + 1, policy, random),
      needsAttention: true,
      attentionReason: txn.needsAttention ? null : `no step can run: ${plan.waiting.map((b) => b.branchId).join(', ')} wait on steps that will not finish`,
    };
  },
};
