/**
 * The transaction log, as the engine and the API see it (a port: each
 * implementation lives in its own folder, store/<name>/, and passes the
 * store contract suite in coordinator/testing/store-contract/). Only those
 * implementations know SQL or a driver; everything above talks to this interface.
 *
 * Every write is one atomic commit guarded by the state it expects
 * (compare-and-set), so concurrent coordinators never both win a transition.
 */
import type { RoundCall, RoundDecision } from '../../domain/phase-two.ts';
import type { TransitionGuard } from '../../domain/transition-guard.ts';
import type { BranchRegistration, GlobalStatus, Mode, Operation, PhaseTwoStatus, TransactionEvent, TransactionSnapshot } from '../../domain/transaction.ts';

export interface BeginInput {
  gid: string;
  mode: Mode;
  now: number;
  deadlineAt: number;
  /** The authenticated service beginning it (null: anonymous, development mode). */
  caller: string | null;
  /** Other callers that may register branches into it (see GlobalTransaction); absent or empty: none. */
  joinableBy?: readonly string[];
  /** Branches registered in the same commit as the begin. */
  branches: BranchRegistration[];
  /** See GlobalTransaction (a message's check-back URL and delivery time); null or absent for other modes. */
  checkUrl?: string | null;
  notBefore?: number | null;
  /**
   * Decided in the same commit (a saga is submitted whole): the transaction
   * starts in `to`, with the decision's reason, time and actor, leased to
   * `owner` until `leaseUntil` and due then, as after {@link TransactionStore.decide}.
   */
  decision?: { to: PhaseTwoStatus; reason: string | null; actor: string; owner: string; leaseUntil: number };
}

export interface RegisterInput {
  gid: string;
  /** What the transaction must satisfy for branches to join (the mode's registration guard). */
  guard: TransitionGuard;
  now: number;
  /** Distinct branch ids, all of them expected to be new. */
  branches: BranchRegistration[];
  /** The authenticated service registering them (null: anonymous, development mode). */
  actor: string | null;
}

export interface DecisionInput {
  gid: string;
  to: PhaseTwoStatus;
  /** The mode's precondition of the decision, applied in the same write. */
  guard: TransitionGuard;
  reason: string | null;
  now: number;
  /** The instance that will run phase two; it holds the lease until `leaseUntil`. */
  owner: string;
  leaseUntil: number;
  /** Who decided (caller, operator, `timeout-sweeper`), kept on the transaction for its history. */
  actor: string;
  /** Drop the transaction's row locks in the same commit (a mode whose rows are final once it commits: FMT's commit decision). */
  releaseRowLocks?: boolean;
}

export interface RoundRecord {
  gid: string;
  owner: string;
  /** The status phase two ran under; the write is refused if it changed. */
  from: PhaseTwoStatus;
  /** One per branch called, with its operation and the branch's attempt number for this call. */
  results: RoundCall[];
  /** Branches the round marks done without calling them (the plan's skips), with the operation that had nothing to do. */
  skipped: { branchId: string; op: Operation }[];
  decision: RoundDecision;
  now: number;
  /** For a decision that keeps going (`continue`, `turn`): the owner keeps the lease, and the transaction is due, until then. */
  leaseUntil: number;
  /** On a finish, drop the transaction's row locks in the same commit (a mode whose branches hold them: FMT). */
  releaseRowLocks?: boolean;
}

/**
 * One row's global lock (FMT): a row of a table in one of the participants'
 * databases, named by the participant (`resource`), and its primary key as
 * the canonical JSON array of its values.
 */
export interface RowLockKey {
  resource: string;
  table: string;
  pk: string;
}

/** Who holds a row's lock: a transaction still `open` or `rolling-back` (its rows are not final yet), through one of its branches. */
export interface RowLockHolder {
  key: RowLockKey;
  gid: string;
  branchId: string;
  lockedAt: number;
}

export interface RowLockInput {
  gid: string;
  branchId: string;
  /** Distinct keys, at least one. */
  keys: RowLockKey[];
  /** What the transaction must satisfy for its branches to lock rows (open, before its deadline, of its mode). */
  guard: TransitionGuard;
  now: number;
}

/**
 * - `locked`: every key is now held by the branch's transaction (some may have been already);
 * - `conflict`: another transaction holds `holder.key`; nothing was taken;
 * - `refused`: the guard failed or the branch is not registered; nothing was taken, `before` says why.
 */
export type RowLockResult = { kind: 'locked' } | { kind: 'conflict'; holder: RowLockHolder } | { kind: 'refused'; before: TransactionSnapshot };

export interface DueTransaction {
  gid: string;
  nextRetryAt: number;
}

/**
 * The transaction log's port: every state transition as one guarded atomic
 * operation. A new store is done when it passes the store contract suite
 * (coordinator/testing/store-contract, shipped as @dtx/coordinator/testing).
 * Every operation rejects with StoreUnavailableError (store-errors.ts) when
 * the database is not there for it, never with its driver's error.
 */
export interface TransactionStore {
  /**
   * Precondition: none. Effect: inserts the transaction (status `open`,
   * due for recovery at its deadline; or as `decision` says) and its
   * branches, in the order given, in one commit (the history shows both
   * from their rows; no event row is written). Returns `exists` without
   * writing if a transaction with exactly this gid exists (ids compare byte
   * for byte); any other conflict throws.
   */
  begin(input: BeginInput): Promise<'created' | 'exists'>;

  /**
   * Precondition: the transaction exists (else returns null), `guard`
   * holds, `branches` is not empty and none of their ids is registered yet.
   * Effect, in one commit ordered against a concurrent decision (which
   * would otherwise miss the branch): inserts `branches`, `actor` (the
   * registering caller) on each. Returns the snapshot as it was
   * before the insert and what was inserted: all of `branches`, or none,
   * writing nothing, when the precondition failed; the snapshot, read in
   * the same operation, then tells the caller why (the domain's rules,
   * checkRegistration, decide what is refused and what is a re-send).
   */
  registerBranches(input: RegisterInput): Promise<{ before: TransactionSnapshot; inserted: BranchRegistration[] } | null>;

  /**
   * Precondition: `guard` holds. Effect: logs the decision (its status,
   * reason, time and actor: on the row for the first decision, leaving
   * `open`; as a status event for a later one, which also restarts the
   * failed-rounds count), takes the lease for `owner` and makes the
   * transaction due at `leaseUntil`, so that recovery takes over if the
   * owner dies. Returns the snapshot after the decision, or null, writing
   * nothing, if the precondition failed.
   */
  decide(input: DecisionInput): Promise<TransactionSnapshot | null>;

  /**
   * Precondition: open, due (`nextRetryAt <= now`) and the lease free or
   * expired. Effect: takes the lease for `owner` until `leaseUntil` and
   * pushes the due time to `leaseUntil`. Returns the snapshot, or null if
   * the precondition failed.
   */
  claim(gid: string, owner: string, now: number, leaseUntil: number): Promise<TransactionSnapshot | null>;

  /**
   * Precondition: status still `from` and the lease held by `owner`; for a
   * finish, also every branch not completed by this round already done (a
   * transaction never ends with a branch pending, whatever snapshot the
   * round was planned from). Effect, in one commit: branch outcomes and
   * attempts (a branch's first completing call on its row, an event for
   * every other call), the skipped branches done (an event each), and the
   * decision: the terminal status; the retry schedule (and an `attention`
   * event when the round raised the flag), releasing the lease; `continue`,
   * keeping it (refused while paused: an operator's pause stops a run at the
   * next round); or `turn`, logging the new status (a status event). Returns false, writing nothing, if
   * the precondition failed.
   */
  recordRound(record: RoundRecord): Promise<boolean>;

  /**
   * Precondition: the lease held by `owner`. Effect: raises the
   * needs-attention flag with `reason` and writes an `attention` event, in
   * one commit (a message whose sender's check-back never answers). Returns
   * false, writing nothing, if the precondition failed.
   */
  flagAttention(input: { gid: string; owner: string; reason: string; now: number }): Promise<boolean>;

  /**
   * Open transactions due at or before `until` (`nextRetryAt`), soonest first. Called every
   * reconcile interval: it must read only unfinished transactions (an index on the due time), never
   * the whole log.
   */
  findDue(until: number, limit: number): Promise<DueTransaction[]>;

  load(gid: string): Promise<TransactionSnapshot | null>;

  /** The event rows of the transaction, in the order they were written (domain/history.ts adds the happy path's lines). */
  events(gid: string): Promise<TransactionEvent[]>;

  /**
   * When the decision of `gid` was logged (`decidedAt`, or for a decision
   * logged before the log kept that its status event leaving `open`), or
   * null if none is.
   */
  decisionTime(gid: string): Promise<number | null>;

  /**
   * Precondition: the transaction exists (else returns null), `guard` holds
   * and the branch is registered. Effect, in one commit, all or nothing:
   * every key not held by another transaction is held by this one, through
   * `branchId`, from `now` (a key it holds already stays as it is). A lock
   * is held while its transaction is `open` or `rolling-back`; one left by
   * a transaction that has since committed, is committing or rolled back is
   * free and taken over. Returns `conflict` with a holder, taking nothing,
   * when another transaction holds a key; `refused`, taking nothing, when
   * the precondition failed.
   */
  lockRows(input: RowLockInput): Promise<RowLockResult | null>;

  /** The holders of those of `keys` held now (see lockRows); none when every row is free. */
  heldRowLocks(keys: readonly RowLockKey[]): Promise<RowLockHolder[]>;

  /** Resolves once the database answered a trivial query (readiness); an outage rejects with StoreUnavailableError. */
  ping(): Promise<void>;

  close(): Promise<void>;
}

export type { GlobalStatus };
