/**
 * The transaction modes and the ops each asks of a branch: the one table the
 * coordinator, initiators and participants read, so that a mode's ops are
 * never inferred from their names (XA and FMT both commit and roll back).
 */
import type { BranchOp } from './wire.ts';

/**
 * - `tcc`: try, then confirm or cancel;
 * - `saga`: actions in order (or by their dependencies), compensated in reverse;
 * - `msg`: a transactional message, delivered once its sender committed;
 * - `xa`: each branch XA-prepared in its database, then committed or rolled back;
 * - `fmt`: each branch's ordinary SQL with undo records of the rows it
 *   changed, committed (undo records dropped) or rolled back (rows restored).
 */
export type TransactionMode = 'tcc' | 'saga' | 'msg' | 'xa' | 'fmt';

/** Every {@link TransactionMode}. */
export const TRANSACTION_MODES: readonly TransactionMode[] = ['tcc', 'saga', 'msg', 'xa', 'fmt'];

/** What a mode asks of its branches. */
export interface ModeOps {
  /** The op the initiator calls itself before the decision (TCC's try); null when the coordinator calls every op. */
  readonly first: BranchOp | null;
  /**
   * The ops a branch registers a URL for (`<op>Url`), in order: the forward
   * op of phase two (or of the saga's way forward) first, then its undo.
   */
  readonly registered: readonly BranchOp[];
}

/** Each mode's ops; see {@link ModeOps}. */
export const MODE_OPS: Readonly<Record<TransactionMode, ModeOps>> = Object.freeze({
  tcc: { first: 'try', registered: ['confirm', 'cancel'] },
  saga: { first: null, registered: ['action', 'compensate'] },
  msg: { first: null, registered: ['deliver'] },
  xa: { first: 'prepare', registered: ['commit', 'rollback'] },
  fmt: { first: 'execute', registered: ['commit', 'rollback'] },
});

/** Whether `value` names a mode (a request's field, a path segment). */
export function isTransactionMode(value: unknown): value is TransactionMode {
  return typeof value === 'string' && (TRANSACTION_MODES as readonly string[]).includes(value);
}
