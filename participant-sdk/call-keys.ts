/**
 * Which key verifies a call, by who may send it. Pure: no I/O.
 *
 * A participant holds two kinds of keys, and each is good for its own ops only:
 * - the coordinator's key, for every op the coordinator sends (confirm,
 *   cancel, action, compensate, deliver, check, commit, rollback);
 * - one key per initiator, by its caller name, for the ops an initiator
 *   sends itself (try, prepare). The `dtx-caller` header names the
 *   initiator, and its key must verify the call: the name is authenticated.
 * An initiator therefore never holds a key that could forge a phase-two call
 * (a confirm, a delivery, an XA commit of another service's branch), and an
 * initiator's key says which initiator a try came from.
 */
import { isInitiatorOp, isValidCallerName, verifyRegistrationProof, type BranchOp } from '@dtx/protocol';
import { ParticipantConfigError } from './errors.ts';

/** A participant's keys, checked once at start by {@link normaliseCallKeys}. */
export interface CallKeys {
  /** The key the coordinator signs with; null only in insecure development mode. */
  coordinatorKey: string | null;
  /** Each initiator allowed to call try/prepare here, by caller name, with its key. */
  initiatorKeys: ReadonlyMap<string, string>;
  /** Development only: an op with no key configured for it is accepted unsigned. */
  insecure: boolean;
}

/**
 * How to check one call:
 * - `verify`: its signature must verify with `key`; `caller` is then authenticated;
 * - `unsigned`: development mode without a key for this op: accepted as it is;
 * - `refuse`: no key may verify it (a try from a caller with no key here).
 */
export type KeyChoice = { kind: 'verify'; key: string } | { kind: 'unsigned' } | { kind: 'refuse'; reason: 'unknown-caller' };

/**
 * The key that must verify a call for `op` sent for `caller` (the `dtx-caller` header, '' when absent).
 *
 * @param keys - the participant's keys
 * @param op - the call's op
 * @param caller - the call's `dtx-caller` header
 */
export function keyForCall(keys: CallKeys, op: BranchOp, caller: string): KeyChoice {
  if (isInitiatorOp(op)) {
    const key = keys.initiatorKeys.get(caller);
    if (key !== undefined) return { kind: 'verify', key };
    return keys.insecure && keys.initiatorKeys.size === 0 ? { kind: 'unsigned' } : { kind: 'refuse', reason: 'unknown-caller' };
  }
  if (keys.coordinatorKey !== null) return { kind: 'verify', key: keys.coordinatorKey };
  return keys.insecure ? { kind: 'unsigned' } : { kind: 'refuse', reason: 'unknown-caller' };
}

/**
 * Whether a call an initiator sends (try, prepare) lacks the coordinator's proof that its branch
 * is registered for its caller (protocol/registration-proof.ts): a try of a branch the coordinator
 * never heard of would never be confirmed or cancelled, and one of another caller's branch would
 * pass its own payload for the owner's. Checked with the coordinator's key; not checked in
 * development mode without one.
 */
export function unregistered(keys: CallKeys, call: { op: BranchOp; gid: string; branchId: string; caller: string; registration: string | undefined }): boolean {
  if (!isInitiatorOp(call.op) || keys.coordinatorKey === null) return false;
  return !verifyRegistrationProof(keys.coordinatorKey, { gid: call.gid, branchId: call.branchId, caller: call.caller }, call.registration);
}

/** What {@link normaliseCallKeys} reads from the participant's options. */
export interface CallKeyOptions {
  coordinatorKey?: string | null;
  initiatorKeys?: Readonly<Record<string, string>>;
  insecureDevMode?: boolean;
  /** Whether a resource takes tries or prepares (TCC, XA): then initiators need keys. */
  takesInitiatorCalls: boolean;
}

/**
 * Check the keys once, at start: fail closed, and never let one key serve both roles.
 *
 * @throws ParticipantConfigError without a coordinator key (outside insecure development mode), with
 *   an empty key, a bad caller name, TCC or XA resources but no initiator key, or an initiator key
 *   equal to the coordinator key
 */
export function normaliseCallKeys(options: CallKeyOptions): CallKeys {
  const insecure = options.insecureDevMode === true;
  const coordinatorKey = options.coordinatorKey ?? null;
  if (coordinatorKey !== null && coordinatorKey.length === 0) {
    throw new ParticipantConfigError('coordinatorKey', 'coordinatorKey is an empty string (an unset environment variable?)');
  }
  if (coordinatorKey === null && !insecure) {
    throw new ParticipantConfigError(
      'coordinatorKey',
      'no coordinatorKey: a participant refuses to start without the key the coordinator signs with (set insecureDevMode: true to accept unsigned calls in development)',
    );
  }
  const initiatorKeys = new Map<string, string>();
  for (const [caller, key] of Object.entries(options.initiatorKeys ?? {})) {
    if (!isValidCallerName(caller)) {
      throw new ParticipantConfigError('initiatorKeys', `initiator ${JSON.stringify(caller.slice(0, 64))} must be named by 1-64 characters of [A-Za-z0-9_.@-]`);
    }
    if (typeof key !== 'string' || key.length === 0) {
      throw new ParticipantConfigError('initiatorKeys', `the key of initiator ${caller} is empty (an unset environment variable?)`);
    }
    if (key === coordinatorKey) {
      throw new ParticipantConfigError(
        'initiatorKeys',
        `the key of initiator ${caller} is the coordinator's: an initiator holding it could forge the coordinator's calls (confirm, deliver, commit...)`,
      );
    }
    initiatorKeys.set(caller, key);
  }
  if (options.takesInitiatorCalls && initiatorKeys.size === 0 && !insecure) {
    throw new ParticipantConfigError(
      'initiatorKeys',
      'TCC and XA resources are tried (prepared) by initiators: initiatorKeys must name each initiator allowed here, with its own key',
    );
  }
  return { coordinatorKey, initiatorKeys, insecure };
}
