/**
 * The barrier's decisions, without I/O.
 *
 * Every op first claims one row of the barrier table with INSERT IGNORE; the
 * unique key (gid, branch_id, op, seq) makes the claim atomic across retries,
 * recovery workers and coordinator instances. These functions say which rows
 * an op claims, what a claim that found the row already present means, and
 * which rows of the branch a phase-two op must then find (or not find)
 * before its handler may run.
 */
import type { BranchOp } from '@dtx/protocol';
import { DtxError } from '../errors.ts';

/** The op a compensating op undoes; its row is claimed first to detect null compensation. */
export const UNDONE_OP = { cancel: 'try', compensate: 'action', rollback: 'execute' } as const;

export type UndoOp = keyof typeof UNDONE_OP;
export type ForwardOp = Exclude<BranchOp, UndoOp>;

function isUndoOp(op: BranchOp): op is UndoOp {
  return op in UNDONE_OP;
}

/**
 * - `forward` (try, confirm, action, deliver): claim the op's own row, then run.
 * - `undo` (cancel, compensate): claim the row of the undone op first, marked
 *   as ours; success means the undone op never ran here (null compensation),
 *   and the row now blocks it from running later (anti-suspension).
 *
 * `checks`: the rows of the same branch read (with a locking read) once the
 * op's own row is claimed; refusalOf says what they mean. Empty: no read.
 */
export type BarrierPlan =
  | { kind: 'forward'; op: ForwardOp; checks: readonly BranchOp[] }
  | { kind: 'undo'; op: UndoOp; undoes: (typeof UNDONE_OP)[UndoOp]; checks: readonly BranchOp[] };

/**
 * Rows a phase-two op must look at before it runs. A confirm needs the
 * branch's try and must not meet its cancel; a cancel must not meet its
 * confirm. Saga ops have no confirm: an action or a compensate checks nothing
 * beyond its claims. A message's deliver has nothing to meet either: nothing
 * undoes a delivery, so its own row is all it claims.
 */
const CHECKED_ROWS: Partial<Record<BranchOp, readonly BranchOp[]>> = {
  confirm: ['try', 'cancel'],
  cancel: ['confirm'],
  // An FMT branch: its commit and rollback are TCC's confirm and cancel (its execute the try).
  commit: ['execute', 'rollback'],
  rollback: ['commit'],
};

/** Every op whose rows some op's locked read looks at. */
const CHECKED_OPS: ReadonlySet<BranchOp> = new Set(Object.values(CHECKED_ROWS).flat());

/**
 * Whether a call of `op` must first be serialised with the other calls of
 * its branch (BarrierDialect.lockBranch) for the locked reads to see every
 * row they look at: it makes such a read, or it claims a row one looks at
 * (try, confirm, cancel: a cancel claims the try row). Saga ops and a
 * delivery need nothing more than their own claims.
 */
export function locksBranch(op: BranchOp): boolean {
  const plan = planBarrier(op);
  const claimed: readonly BranchOp[] = plan.kind === 'undo' ? [plan.undoes, plan.op] : [plan.op];
  return plan.checks.length > 0 || claimed.some((claimedOp) => CHECKED_OPS.has(claimedOp));
}

export function planBarrier(op: BranchOp): BarrierPlan {
  const checks = CHECKED_ROWS[op] ?? [];
  return isUndoOp(op) ? { kind: 'undo', op, undoes: UNDONE_OP[op], checks } : { kind: 'forward', op, checks };
}

/**
 * Why the barrier refuses a phase-two op (answered 409, nothing runs, nothing stays written):
 * - `try-not-found`: a confirm whose try never succeeded here (no try row, or
 *   only the row a null compensation wrote). The protocol never sends it: it
 *   is a forged, misrouted or very late call (its rows already cleaned up).
 * - `already-cancelled`: a confirm of a branch cancelled here.
 * - `already-confirmed`: a cancel of a branch confirmed here.
 * An FMT branch's commit and rollback are refused the same way (its execute is the try).
 */
export type BarrierRefusal = 'try-not-found' | 'already-cancelled' | 'already-confirmed';

/** A barrier row of the branch as the locking read found it. */
export interface FoundRow {
  op: string;
  originOp: string;
}

/** The rows a barrier read returned (`op`, `origin_op` columns), as refusalOf reads them. */
export function foundRows(rows: readonly unknown[]): FoundRow[] {
  return (rows as Array<{ op?: unknown; origin_op?: unknown }>).map((row) => ({ op: String(row.op), originOp: String(row.origin_op) }));
}

/**
 * The decision of a phase-two op on the rows of its branch, read after it
 * claimed its own row (`null`: run). Precondition: `found` holds the
 * committed rows among the op's `checks` (a locking read waits for a
 * transaction still writing one of them).
 */
export function refusalOf(op: BranchOp, found: readonly FoundRow[]): BarrierRefusal | null {
  const has = (wanted: BranchOp, origin?: BranchOp) => found.some((row) => row.op === wanted && (origin === undefined || row.originOp === origin));
  switch (op) {
    case 'confirm':
      // Checked first: a null-compensated branch has a try row too, written by its cancel.
      if (has('cancel')) return 'already-cancelled';
      return has('try', 'try') ? null : 'try-not-found';
    case 'cancel':
      return has('confirm') ? 'already-confirmed' : null;
    case 'commit':
      if (has('rollback')) return 'already-cancelled';
      return has('execute', 'execute') ? null : 'try-not-found';
    case 'rollback':
      return has('commit') ? 'already-confirmed' : null;
    default:
      return null;
  }
}

/**
 * A forward op found its row already present. `originOp` is the op that
 * inserted that row.
 * - confirm: a previous confirm committed; answer success again.
 * - try/action/deliver inserted by itself: a previous attempt succeeded; answer success again
 *   (a deliver row is only ever inserted by a deliver).
 * - commit (FMT): as confirm.
 * - execute (FMT): as try; inserted by rollback: suspended.
 * - try/action inserted by cancel/compensate: the branch was already undone
 *   (or null-compensated); running now would leave a reservation nobody
 *   releases (suspension), so refuse.
 */
export function forwardRowExisted(op: ForwardOp, originOp: string): 'duplicate' | 'suspended' {
  if (op === 'confirm' || op === 'commit') return 'duplicate';
  return originOp in UNDONE_OP ? 'suspended' : 'duplicate';
}

/**
 * Who wrote a message sender's row (gid, MESSAGE_SENDER_BRANCH, op `check`):
 * - `commit`: the sender's local transaction (commitWith), which committed
 *   with its work;
 * - `check`: the coordinator's check-back, which found no committed
 *   transaction; the row now blocks a late commit.
 * Both claim the same unique key, so whichever inserts first decides, and the
 * other waits on it while it is in flight.
 */
export type SenderRowOrigin = 'commit' | 'check';

/**
 * The ops never run behind this barrier: a message sender's check is
 * answered from its row (sender-row.ts); an XA branch's prepare keeps its
 * row inside the XA branch (xa/xa-branch.ts), and its commit and rollback
 * are the SDK's own there. The commit and rollback run here are an FMT
 * branch's.
 */
export function isBarrierOp(op: BranchOp): boolean {
  return !(NOT_BARRIER_OPS as readonly string[]).includes(op);
}

const NOT_BARRIER_OPS = ['check', 'prepare'] as const;

/**
 * The check-back's answer, from the origin of the sender's row once the
 * check-back claimed it (its own origin, `check`, if its insert won).
 * - `committed`: the sender's transaction committed the row: deliver.
 * - `not-committed`: the check-back wrote it, now or on an earlier check: drop the message.
 * Any other origin is no row this SDK writes: never guess, fail (answered as unknown).
 */
export function checkBackAnswer(origin: string): 'committed' | 'not-committed' {
  if (origin === 'commit') return 'committed';
  if (origin === 'check') return 'not-committed';
  throw unknownOrigin(origin);
}

/**
 * What the sender's commit does, from the origin of its row once it claimed
 * it (its own origin, `commit`, if its insert won; `inserted` says which).
 * - `go`: the row is this transaction's: run the work and commit.
 * - `aborted`: a check-back got there first and answered that the sender
 *   never committed; the message is dropped, so the work must not commit.
 * - `already-committed`: an earlier transaction of this message committed;
 *   running the work again would apply it twice.
 */
export function senderCommitDecision(inserted: boolean, origin: string): 'go' | 'aborted' | 'already-committed' {
  if (inserted) return 'go';
  if (origin === 'check') return 'aborted';
  if (origin === 'commit') return 'already-committed';
  throw unknownOrigin(origin);
}

function unknownOrigin(origin: string): DtxError {
  return new DtxError('BARRIER_ROW_ORIGIN', `the message sender's barrier row has an unknown origin ${JSON.stringify(origin.slice(0, 16))}`);
}
