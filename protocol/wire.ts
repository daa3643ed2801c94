/**
 * The wire contract between the coordinator, initiators and participants.
 *
 * This is the one module that maps HTTP status codes to branch outcomes.
 * Both sides import it; nothing else interprets status codes.
 * Outcomes are decided by status code only, never by reading the body.
 */

/**
 * What is asked of a branch: TCC's try, confirm and cancel; a saga step's
 * action and compensate; a transactional message's deliver (to a receiver)
 * and check (the coordinator asking the sender whether it committed); an
 * XA branch's prepare (its work, then XA PREPARE), commit and rollback; an
 * FMT branch's execute (its work, with the undo records of the rows it
 * changed), commit and rollback. Which mode uses which: modes.ts.
 */
export type BranchOp = 'try' | 'confirm' | 'cancel' | 'action' | 'compensate' | 'deliver' | 'check' | 'prepare' | 'commit' | 'rollback' | 'execute';

/** Every {@link BranchOp}, for validation and iteration. */
export const BRANCH_OPS: readonly BranchOp[] = [
  'try',
  'confirm',
  'cancel',
  'action',
  'compensate',
  'deliver',
  'check',
  'prepare',
  'commit',
  'rollback',
  'execute',
];

/**
 * The ops an initiator calls itself (TCC's try, XA's prepare, FMT's
 * execute), signed with its own key at the participant. Every other op is the
 * coordinator's, signed with a key no initiator holds.
 */
export const INITIATOR_OPS: readonly BranchOp[] = ['try', 'prepare', 'execute'];

/** Whether the initiator, rather than the coordinator, sends `op` (see {@link INITIATOR_OPS}). */
export function isInitiatorOp(op: BranchOp): boolean {
  return INITIATOR_OPS.includes(op);
}

/**
 * A caller's name: an API token's name on the coordinator, the `dtx-caller`
 * header, a key's owner in a participant's `initiatorKeys`.
 */
export const CALLER_NAME_PATTERN = '^[A-Za-z0-9_.@-]{1,64}$';
const CALLER_NAME_REGEX = new RegExp(CALLER_NAME_PATTERN);

/** Whether `name` is a valid caller name: 1..64 characters of [A-Za-z0-9_.@-]. */
export function isValidCallerName(name: string): boolean {
  return CALLER_NAME_REGEX.test(name);
}

/**
 * The branch id of a transactional message's check call (`op: check`): the
 * sender's part of the message, whose barrier row says whether its local
 * transaction committed.
 */
export const MESSAGE_SENDER_BRANCH = 'sender';

/** Whether `value` names a branch op (e.g. a path segment or a header read from the network). */
export function isBranchOp(value: string): value is BranchOp {
  return (BRANCH_OPS as readonly string[]).includes(value);
}

/**
 * How a branch call ended, as the caller must treat it:
 * - `success`: done;
 * - `failure`: the business said no (for try/action: abort the transaction);
 * - `ongoing`: not finished yet, ask again at the normal interval;
 * - `unknown`: anything else, including timeouts and connection errors.
 */
export type BranchOutcome = 'success' | 'failure' | 'ongoing' | 'unknown';

/** The status codes a participant answers with, by outcome; everything else means `unknown`. */
export const REPLY_STATUS = {
  success: 200,
  failure: 409,
  ongoing: 425,
} as const;

/**
 * Map an HTTP status code to the outcome it stands for: the one place where
 * status codes are interpreted, on both sides of a call.
 *
 * @param statusCode - the reply's HTTP status
 * @returns `success` for 2xx, `failure` for 409, `ongoing` for 425, else `unknown`
 */
export function outcomeOfStatus(statusCode: number): BranchOutcome {
  if (statusCode >= 200 && statusCode < 300) return 'success';
  if (statusCode === REPLY_STATUS.failure) return 'failure';
  if (statusCode === REPLY_STATUS.ongoing) return 'ongoing';
  return 'unknown';
}

/** Headers that carry the transaction context on every dtx call. */
export const HEADERS = {
  gid: 'dtx-gid',
  branchId: 'dtx-branch-id',
  op: 'dtx-op',
  timestamp: 'dtx-timestamp',
  signature: 'dtx-signature',
  /** Coordinator base URL, so that nested calls can join the same transaction. */
  coordinator: 'dtx-coordinator',
  /**
   * The service the call acts for, as the coordinator authenticated it (its
   * API token's name): on a try or a prepare, the initiator itself, whose
   * key signs it; on a call from the coordinator, the caller that
   * registered the branch (or began the message). Signed with the rest.
   */
  caller: 'dtx-caller',
  /**
   * On a try or a prepare: the coordinator's proof that this branch is
   * registered by this caller (registration-proof.ts), from the
   * registration's reply. Not part of the signed string: it is a MAC itself.
   */
  registration: 'dtx-registration',
} as const;

/** Limits shared by both sides; the barrier table's columns are sized from them. */
export const LIMITS = {
  gidMaxLength: 128,
  branchIdMaxLength: 64,
} as const;

/** Allowed characters of a gid or a branch id: safe in URLs, headers, logs and queue job ids. */
export const ID_PATTERN = '^[A-Za-z0-9_.-]+$';
const ID_REGEX = new RegExp(ID_PATTERN);

/** Whether `gid` is a valid transaction id: 1..128 characters of [A-Za-z0-9_.-]. */
export function isValidGid(gid: string): boolean {
  return gid.length > 0 && gid.length <= LIMITS.gidMaxLength && ID_REGEX.test(gid);
}

/** Whether `branchId` is a valid branch id: 1..64 characters of [A-Za-z0-9_.-]. */
export function isValidBranchId(branchId: string): boolean {
  return branchId.length > 0 && branchId.length <= LIMITS.branchIdMaxLength && ID_REGEX.test(branchId);
}

/** Body of every error reply, from the coordinator and from participants. */
export interface ErrorReply {
  /** Stable, machine-readable reason, e.g. `INSUFFICIENT_FUNDS`, `ILLEGAL_STATE`. */
  code: string;
  /** For people and logs. */
  message: string;
}

/**
 * The public key of insecure development mode (the coordinator's
 * DTX_INSECURE=1 without DTX_SECRET). Everyone knows it: the coordinator
 * refuses it outside development mode.
 */
export const DEVELOPMENT_SECRET = 'dtx-dev-secret-change-me';
