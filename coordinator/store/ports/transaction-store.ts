/**
 * The transaction log, as the engine and the API see it (a port: each
 * implementation lives in its own folder, store/<name>/, and passes the
 * store contract suite in test/support/store-contract/). Only those
 * implementations know SQL or a driver; everything above talks to this interface.
 *
 * Every write is one atomic commit guarded by the state it expects
 * (compare-and-set), so concurrent coordinators never both win a transition.
 */
import type { BranchCallResult, RoundDecision, PhaseTwoOp } from '../../domain/tcc-decisions.ts';
import type {
  BranchRegistration,
  GlobalStatus,
  Mode,
  TransactionEvent,
  TransactionSnapshot,
} from '../../domain/transaction.ts';

export interface BeginInput {
  gid: string;
  mode: Mode;
  now: number;
  deadlineAt: number;
  /** The authenticated service beginning it (null: anonymous, development mode). */
  caller: string | null;
  /** Branches registered in the same commit as the begin. */
  branches: BranchRegistration[];
}

export interface RegisterInput {
  gid: string;
  /** If given, the transaction must be of this mode. */
  mode?: Mode;
  now: number;
  /** Distinct branch ids, all of them expected to be new. */
  branches: BranchRegistration[];
  /** The authenticated service registering them (null: anonymous, development mode). */
  actor: string | null;
}

export interface DecisionInput {
  gid: string;
  to: 'confirming' | 'cancelling';
  reason: string | null;
  now: number;
  /** The instance that will run phase two; it holds the lease until `leaseUntil`. */
  owner: string;
  leaseUntil: number;
  /** Refuse the transition if the deadline has passed (for submit). */
  beforeDeadline: boolean;
  actor: string;
}

export interface RoundRecord {
  gid: string;
  owner: string;
  op: PhaseTwoOp;
  /** The status phase two ran under; the write is refused if it changed. */
  from: 'confirming' | 'cancelling';
  /** One per branch called, with the branch's attempt number for this call. */
  results: (BranchCallResult & { attempt: number })[];
  decision: RoundDecision;
  now: number;
}

export interface DueTransaction {
  gid: string;
  nextRetryAt: number;
}

export interface TransactionStore {
  /**
   * Precondition: none. Effect: inserts the transaction (status `trying`,
   * due for recovery at its deadline), its branches and their events in one
   * commit. Returns `exists` without writing if a transaction with exactly
   * this gid exists (ids compare byte for byte); any other conflict throws.
   */
  begin(input: BeginInput): Promise<'created' | 'exists'>;

  /**
   * Precondition: the transaction exists (else returns null), is of `mode`
   * when one is given, is `trying`, `now` is before its deadline, `branches`
   * is not empty and none of their ids is registered yet. Effect, in one
   * commit ordered against a concurrent decision (which would otherwise
   * miss the branch): inserts `branches` with their events, `actor` (the
   * registering caller) on those events. Returns the snapshot as it was
   * before the insert and what was inserted: all of `branches`, or none,
   * writing nothing, when the precondition failed; the snapshot, read in
   * the same operation, then tells the caller why (the domain's rules,
   * checkRegistration, decide what is refused and what is a re-send).
   */
  registerBranches(input: RegisterInput): Promise<{ before: TransactionSnapshot; inserted: BranchRegistration[] } | null>;

  /**
   * Precondition: status `trying` (and before the deadline if asked).
   * Effect: logs the decision (and its time), takes the lease for `owner` and makes the
   * transaction due at `leaseUntil`, so that recovery takes over if the
   * owner dies. Returns the snapshot after the decision, or null, writing
   * nothing, if the precondition failed.
   */
  decide(input: DecisionInput): Promise<TransactionSnapshot | null>;

  /**
   * Precondition: open, due (`next_retry_at <= now`) and the lease free or
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
   * attempts, one event per call, and either the terminal status or the
   * retry schedule; releases the lease. Returns false, writing nothing, if
   * the precondition failed.
   */
  recordRound(record: RoundRecord): Promise<boolean>;

  /** Open transactions due at or before `until`, soonest first. Reads only unfinished rows (index on next_retry_at). */
  findDue(until: number, limit: number): Promise<DueTransaction[]>;

  load(gid: string): Promise<TransactionSnapshot | null>;

  /** The transaction's history, oldest first. */
  events(gid: string): Promise<TransactionEvent[]>;

  /**
   * When the confirm/cancel decision of `gid` was logged (`decided_at`, or
   * for a decision logged before that column existed its status event
   * leaving `trying`), or null if none is.
   */
  decisionTime(gid: string): Promise<number | null>;

  /** Resolves once the database answered a trivial query (readiness); rejects with the driver's error. */
  ping(): Promise<void>;

  close(): Promise<void>;
}

export type { GlobalStatus };
