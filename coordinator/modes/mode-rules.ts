/**
 * What a mode (TCC, and later saga, XA, messages) tells the engine. The
 * engine looks the rules up by the transaction's mode (modes/registry.ts)
 * and never names a mode's statuses or operations itself; the log, leases,
 * recovery, the phase-two runner, the admin API and metrics are shared.
 *
 * Every function is pure: it reads what the store loaded and the time, and
 * says what should happen.
 */
import type { ModeWords } from '../domain/mode-words.ts';
import type { PhaseTwoPlan, RecoveryStep, RoundCall, RoundDecision } from '../domain/phase-two.ts';
import type { RetryPolicy } from '../domain/backoff.ts';
import type { TransitionGuard } from '../domain/transition-guard.ts';
import type {
  Branch,
  BranchRegistration,
  GlobalStatus,
  GlobalTransaction,
  Mode,
  Operation,
  PhaseTwoStatus,
  TransactionSnapshot,
} from '../domain/transaction.ts';

/** A decision the log makes in one guarded write. */
export interface Transition {
  to: PhaseTwoStatus;
  guard: TransitionGuard;
}

/** What to do about a decision asked for, on the transaction as loaded. */
export type DecisionStep =
  /** The guard holds (the earlier write lost a race that has since resolved): write again. */
  | { kind: 'decide'; transition: Transition }
  /** The same decision is already logged: answer with the current status. */
  | { kind: 'already'; status: GlobalStatus }
  /**
   * Not the caller's to decide by itself: ask the initiator's check-back and
   * log what it answers (a message's abort: only the sender's record may
   * drop a message, since its local transaction may have committed).
   */
  | { kind: 'check-back' };

/** One mode's rules (see the module comment); found with rulesFor. */
export interface ModeRules {
  /** The mode these rules are for. */
  readonly mode: Mode;
  /** The names this mode shows users. */
  readonly words: ModeWords;
  /** The operations every branch registers, in order (TCC: confirm, cancel): the protocol's MODE_OPS. */
  readonly operations: readonly Operation[];
  /**
   * Whether its branches hold global row locks (FMT): taken by a branch's
   * participant before its local commit, released once the rows are final
   * (the commit decision, or the end of the rollback).
   */
  readonly rowLocks: boolean;
  /**
   * Whether a transaction of this mode is begun and submitted in one call
   * (a saga: its steps are known up front and nothing is tried first). Such
   * a begin logs the submit decision in the same commit.
   */
  readonly submittedAtBegin: boolean;
  /** Whether branches may join after the begin (TCC: one per try); otherwise a begin sent again must name the same branches. */
  readonly registersLater: boolean;
  /**
   * Whether the initiator calls each branch's first op itself (TCC's try, XA's prepare): its
   * registrations are then answered with a proof per branch, which the participant asks of that call.
   */
  readonly firstOpByInitiator: boolean;

  /** Refuses (throws) branches that cannot make a transaction of this mode, checked before a begin writes anything (a saga: its step graph). */
  checkSteps(gid: string, branches: readonly BranchRegistration[]): void;

  /** The guard under which branches may join (the store inserts them only while it holds). */
  registrationGuard(now: number): TransitionGuard;
  /** The new registrations among `incoming`, or a refusal (throws) saying why none may join. */
  checkRegistration(txn: GlobalTransaction, existing: readonly Branch[], incoming: readonly BranchRegistration[], now: number): BranchRegistration[];

  /** The initiator's commit request: the write and its guard. Written first, so the happy path costs one round trip. */
  submit(now: number): Transition;
  /** Why a submit's write was refused, on the transaction as loaded: already decided, a refusal (throws), or write again. */
  explainSubmit(txn: GlobalTransaction, now: number): DecisionStep;
  /** The initiator's (or an operator's, or the deadline's) rollback request. */
  abort(now: number): Transition;
  /**
   * Whether a caller's abort is never written at once: the transaction is
   * loaded and explainAbort decides first (a message: its sender's
   * check-back must say it never committed before it is dropped).
   */
  readonly abortAsksFirst: boolean;
  explainAbort(txn: GlobalTransaction, now: number): DecisionStep;
  /** Refuses (throws) an operator's force-abort where it would break the protocol. */
  checkForceAbort(txn: GlobalTransaction): void;

  /** Where a check-back asks the initiator whether it committed (a message's sender); absent for a mode that never asks. */
  checkBackUrl?(txn: GlobalTransaction): string | null;
  /** What recovery does with a due transaction (abort it at its deadline, run phase two, ask its check-back, nothing). */
  recoveryStep(txn: GlobalTransaction, now: number): RecoveryStep;
  /** Which branches the next phase-two round calls, with which operation; null when not in phase two. */
  planPhaseTwo(snapshot: TransactionSnapshot): PhaseTwoPlan | null;
  /** What a round's replies mean: finish, or retry (and whether to raise the flag). */
  afterRound(txn: GlobalTransaction, plan: PhaseTwoPlan, results: readonly RoundCall[], now: number, policy: RetryPolicy, random: () => number): RoundDecision;
}
