/**
 * Validation of everything the barrier writes, done before any SQL runs.
 *
 * Why up front: the barrier relies on INSERT IGNORE, and MySQL's IGNORE also
 * downgrades "data too long" to a warning. An over-long gid would be silently
 * truncated into the key of another transaction and read back as a duplicate,
 * so a branch would be skipped while the SDK answers success.
 */
import { BarrierInputError } from '../errors.ts';
import { BRANCH_OPS, isBranchOp, isValidBranchId, isValidGid, LIMITS, type BranchOp } from '@dtx/protocol';

/** The barrier table's name when none is given (createParticipant's `barrierTable`, createBarrierTable). */
export const DEFAULT_BARRIER_TABLE = 'dtx_barrier';

/**
 * The `seq` of every barrier row: one row per (gid, branch, op) today; the
 * column leaves room for several actions in one branch later.
 */
export const SEQ = 1;

/** Width of the `op` and `origin_op` columns; every BranchOp fits. */
export const OP_MAX_LENGTH = 16;

// A table name, optionally schema-qualified; knex quotes it with `??`, this
// only keeps configuration mistakes from turning into odd identifiers.
const TABLE_REGEX = /^[A-Za-z_][A-Za-z0-9_]{0,63}(\.[A-Za-z_][A-Za-z0-9_]{0,63})?$/;

export function assertTableName(table: string): void {
  if (!TABLE_REGEX.test(table)) {
    throw new BarrierInputError('table', table, 'expected [A-Za-z_][A-Za-z0-9_]*, optionally prefixed by a schema');
  }
}

/**
 * Longest `dtx-coordinator` header an XA prepare stores with its barrier row
 * (the width of the `coordinator` column): a coordinator's base URL, with
 * room to spare.
 */
export const COORDINATOR_URL_MAX_LENGTH = 512;

// Printable ASCII without spaces: what a URL in a header is, and what the ascii column holds as it is.
const COORDINATOR_URL_REGEX = /^[\x21-\x7e]+$/;

/**
 * Throws BarrierInputError unless the coordinator URL an XA prepare records
 * is storable as it is (null: the call named no coordinator). Checked before
 * any SQL: truncated, it would tie the branch to a coordinator that is not
 * the one that prepared it.
 */
export function assertCoordinatorUrl(coordinator: string | null): void {
  if (coordinator === null) return;
  if (coordinator.length > COORDINATOR_URL_MAX_LENGTH || !COORDINATOR_URL_REGEX.test(coordinator)) {
    throw new BarrierInputError(
      'coordinator',
      coordinator,
      `expected 1..${COORDINATOR_URL_MAX_LENGTH} printable ASCII characters (the coordinator's base URL)`,
    );
  }
}

/** Throws BarrierInputError unless gid, branch id and op are all writable as they are. */
export function assertBarrierKey(gid: unknown, branchId: unknown, op: unknown): asserts op is BranchOp {
  if (typeof gid !== 'string' || !isValidGid(gid)) {
    throw new BarrierInputError('gid', gid, `expected 1..${LIMITS.gidMaxLength} characters of [A-Za-z0-9_.-]`);
  }
  if (typeof branchId !== 'string' || !isValidBranchId(branchId)) {
    throw new BarrierInputError('branchId', branchId, `expected 1..${LIMITS.branchIdMaxLength} characters of [A-Za-z0-9_.-]`);
  }
  if (typeof op !== 'string' || !isBranchOp(op)) {
    throw new BarrierInputError('op', op, `expected one of ${BRANCH_OPS.join(', ')}`);
  }
}
