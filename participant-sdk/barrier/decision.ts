/**
 * The barrier's decisions, without I/O (brief §5, §10.2).
 *
 * Every op first claims one row of the barrier table with INSERT IGNORE; the
 * unique key (gid, branch_id, op, seq) makes the claim atomic across retries,
 * recovery workers and coordinator instances. These functions say which rows
 * an op claims and what a claim that found the row already present means.
 */
import type { BranchOp } from '../protocol/wire.ts';

/** The op a compensating op undoes; its row is claimed first to detect null compensation. */
export const UNDONE_OP = { cancel: 'try', compensate: 'action' } as const;

export type UndoOp = keyof typeof UNDONE_OP;
export type ForwardOp = Exclude<BranchOp, UndoOp>;

export function isUndoOp(op: BranchOp): op is UndoOp {
  return op === 'cancel' || op === 'compensate';
}

/**
 * - `forward` (try, confirm, action): claim the op's own row, then run.
 * - `undo` (cancel, compensate): claim the row of the undone op first, marked
 *   as ours; success means the undone op never ran here (null compensation),
 *   and the row now blocks it from running later (anti-suspension).
 */
export type BarrierPlan =
  | { kind: 'forward'; op: ForwardOp }
  | { kind: 'undo'; op: UndoOp; undoes: (typeof UNDONE_OP)[UndoOp] };

export function planBarrier(op: BranchOp): BarrierPlan {
  return isUndoOp(op) ? { kind: 'undo', op, undoes: UNDONE_OP[op] } : { kind: 'forward', op };
}

/**
 * A forward op found its row already present. `originOp` is the op that
 * inserted that row.
 * - confirm: a previous confirm committed; answer success again.
 * - try/action inserted by itself: a previous attempt succeeded; answer success again.
 * - try/action inserted by cancel/compensate: the branch was already undone
 *   (or null-compensated); running now would leave a reservation nobody
 *   releases (suspension), so refuse.
 */
export function forwardRowExisted(op: ForwardOp, originOp: string): 'duplicate' | 'suspended' {
  if (op === 'confirm') return 'duplicate';
  return originOp === 'cancel' || originOp === 'compensate' ? 'suspended' : 'duplicate';
}
