/**
 * Transactional message (two-phase message): the sender prepares the
 * message with its receivers (`prepared`), commits its own local
 * transaction, then submits (`submitted`); phase two delivers to every
 * receiver at once, until each accepted it (`delivered`). The sender aborts
 * if its local transaction failed (`aborted`: nothing is delivered) — but
 * an abort is never logged on the caller's word alone: the sender's record
 * decides it, as the check-back does (see explainAbort).
 *
 * A sender that dies between its commit and the submit never decides: past
 * the deadline the coordinator asks its check-back URL (recovery's
 * `check-back` step). The sender's barrier row answers: committed → the
 * message is submitted; never committed → aborted, and the row now refuses
 * a late commit of that gid.
 *
 * Unlike TCC, the submit has no deadline: a sender that committed may
 * submit late, and the answer is the same as the check-back's would be.
 */
import { MESSAGE_SENDER_BRANCH, MODE_OPS } from '@dtx/protocol';
import { decideAfterRound, type PhaseTwoPlan, type RoundDecision } from '../../domain/phase-two.ts';
import { TransactionRefusedError } from '../../domain/refusal.ts';
import { guardHolds } from '../../domain/transition-guard.ts';
import { isPhaseTwo, isTerminal, OUTCOME_OF, type GlobalTransaction, type TransactionSnapshot } from '../../domain/transaction.ts';
import type { DecisionStep, ModeRules, Transition } from '../mode-rules.ts';
import { MSG_WORDS } from './msg-words.ts';

const words = MSG_WORDS;

const refuse = (txn: GlobalTransaction, message: string) => new TransactionRefusedError('ILLEGAL_STATE', message, txn.gid, words.status[txn.status]);

export const msgRules: ModeRules = {
  mode: 'msg',
  words,
  operations: MODE_OPS.msg.registered,
  rowLocks: false,
  abortAsksFirst: true,
  submittedAtBegin: false,
  registersLater: false,
  firstOpByInitiator: false,

  checkSteps(gid, branches) {
    if (branches.length === 0) throw new TransactionRefusedError('INVALID_STEPS', 'a message has at least one receiver', gid);
    const twice = branches.find((b, index) => branches.findIndex((other) => other.branchId === b.branchId) !== index);
    if (twice) throw new TransactionRefusedError('INVALID_STEPS', `receiver ${twice.branchId} is given twice`, gid);
    // The sender's own part of the message (its check-back) goes by that id.
    if (branches.some((b) => b.branchId === MESSAGE_SENDER_BRANCH)) {
      throw new TransactionRefusedError('INVALID_STEPS', `a receiver may not be named ${MESSAGE_SENDER_BRANCH}: the sender's check-back goes by that id`, gid);
    }
  },

  // Its receivers are all given when it is prepared: none may join later.
  registrationGuard: (now) => ({ from: 'open', deadlineAfter: now, mode: 'msg' }),
  checkRegistration(txn) {
    throw refuse(txn, `transaction ${txn.gid} is a message: its receivers are all given when it is prepared`);
  },

  submit: (): Transition => ({ to: 'committing', guard: { from: 'open' } }),

  explainSubmit(txn, now): DecisionStep {
    const transition = this.submit(now);
    if (guardHolds(transition.guard, txn)) return { kind: 'decide', transition };
    if (txn.status === 'committing' || txn.status === 'committed') return { kind: 'already', status: txn.status };
    throw refuse(txn, `message ${txn.gid} is ${words.status[txn.status]}${txn.reason ? ` (${txn.reason})` : ''}: it cannot be submitted`);
  },

  /** The check-back's "never committed" (and the abort it asks): the only way a prepared message is dropped. */
  abort: (): Transition => ({ to: 'rolling-back', guard: { from: 'open' } }),

  /**
   * A caller's abort of a prepared message is asked of the sender's
   * check-back first: its local transaction may have committed already (a
   * re-sent request whose twin committed) or be committing, and only its
   * record can tell. "Never committed" then writes the row that refuses a
   * late commit, and the message is aborted; "committed" delivers it.
   */
  explainAbort(txn): DecisionStep {
    if (txn.status === 'open') return { kind: 'check-back' };
    if (txn.status === 'rolling-back' || txn.status === 'rolled-back') return { kind: 'already', status: txn.status };
    throw refuse(txn, `message ${txn.gid} is ${words.status[txn.status]}: it was submitted and will be delivered`);
  },

  /**
   * Never by hand: whether a prepared message goes out depends on its
   * sender's local transaction, which only the sender (or its check-back)
   * can tell. An abort logged here could drop a message whose sender then
   * commits; the check-back claims the sender's row first, so a late
   * commit is refused.
   */
  checkForceAbort(txn) {
    const state = `message ${txn.gid} is ${words.status[txn.status]}${txn.paused ? ' (paused)' : ''}`;
    if (txn.status === 'open') {
      throw refuse(
        txn,
        `${state}: its sender decides it, or the check-back asks the sender at the deadline; aborting it here could drop a message whose sender commits`,
      );
    }
    if (txn.status === 'committing' || txn.status === 'committed') throw refuse(txn, `${state}: it was submitted and will be delivered`);
    throw refuse(txn, `${state}: nothing to force`);
  },

  /** The sender's check-back, given when the message was prepared. */
  checkBackUrl: (txn) => txn.checkUrl,

  /** Prepared past its deadline: ask the sender. Submitted or aborting: deliver or drop. */
  recoveryStep(txn, now) {
    if (isTerminal(txn.status)) return 'nothing';
    if (txn.status === 'open') return now >= txn.deadlineAt ? 'check-back' : 'nothing';
    return 'run-phase-two';
  },

  /** Submitted: every receiver not yet delivered to, at once (not before its delivery time). Aborting: every receiver dropped without a call. */
  planPhaseTwo(snapshot: TransactionSnapshot): PhaseTwoPlan | null {
    const { transaction, branches } = snapshot;
    if (!isPhaseTwo(transaction.status)) return null;
    const direction = transaction.status;
    const finalStatus = OUTCOME_OF[direction];
    const pending = branches.filter((branch) => branch.status !== finalStatus);
    if (direction === 'rolling-back') return { direction, finalStatus, calls: [], skips: pending, waiting: [] };
    const calls = pending.map((branch) => ({ branch, op: 'deliver' as const, url: branch.operations.deliver! }));
    // A message delivered at a given time: not before it.
    return { direction, finalStatus, calls, skips: [], waiting: [], ...(transaction.notBefore === null ? {} : { notBefore: transaction.notBefore }) };
  },

  /**
   * As TCC's phase two: finish, or retry (a refusal flagged at once). A
   * delivery delayed on purpose is not late: its age counts from its delivery time.
   */
  afterRound(txn, plan, results, now, policy, random): RoundDecision {
    const decided = txn.notBefore === null ? txn : { ...txn, decidedAt: Math.max(txn.decidedAt ?? txn.createdAt, txn.notBefore) };
    return decideAfterRound(decided, plan, results, now, policy, random);
  },
};
