/**
 * Which key verifies a participant call (participant-sdk/call-keys.ts): the
 * coordinator's key for the coordinator's ops only, each initiator's own key
 * for its tries and prepares only, chosen by the call's caller; and the
 * checks at start that keep the two roles apart.
 */
import { describe, expect, it } from 'vitest';
import { BRANCH_OPS, INITIATOR_OPS, type BranchOp } from '../../protocol/wire.ts';
import { keyForCall, normaliseCallKeys, type CallKeys } from '../../participant-sdk/call-keys.ts';
import { ParticipantConfigError } from '../../participant-sdk/errors.ts';

const COORDINATOR_KEY = 'coordinator-key-0123456789';
const ORDERS_KEY = 'orders-key-0123456789abcd';
const keys: CallKeys = normaliseCallKeys({ coordinatorKey: COORDINATOR_KEY, initiatorKeys: { orders: ORDERS_KEY }, takesInitiatorCalls: true });
const COORDINATOR_OPS = BRANCH_OPS.filter((op) => !INITIATOR_OPS.includes(op));

describe('keyForCall', () => {
  it.each(INITIATOR_OPS)('verifies a %s with the key of the initiator it names, never the coordinator key', (op) => {
    expect(keyForCall(keys, op, 'orders')).toEqual({ kind: 'verify', key: ORDERS_KEY });
    expect(keyForCall(keys, op, 'billing')).toEqual({ kind: 'refuse', reason: 'unknown-caller' });
    expect(keyForCall(keys, op, '')).toEqual({ kind: 'refuse', reason: 'unknown-caller' });
  });

  it.each(COORDINATOR_OPS)('verifies a %s with the coordinator key, whoever it says it acts for', (op: BranchOp) => {
    expect(keyForCall(keys, op, 'orders')).toEqual({ kind: 'verify', key: COORDINATOR_KEY });
    expect(keyForCall(keys, op, '')).toEqual({ kind: 'verify', key: COORDINATOR_KEY });
  });

  it('accepts unsigned calls in development mode only for ops with no key configured', () => {
    const dev = normaliseCallKeys({ insecureDevMode: true, takesInitiatorCalls: true });
    expect(keyForCall(dev, 'try', '')).toEqual({ kind: 'unsigned' });
    expect(keyForCall(dev, 'confirm', '')).toEqual({ kind: 'unsigned' });
    const halfDev = normaliseCallKeys({ insecureDevMode: true, coordinatorKey: COORDINATOR_KEY, takesInitiatorCalls: true });
    expect(keyForCall(halfDev, 'confirm', '')).toEqual({ kind: 'verify', key: COORDINATOR_KEY });
    expect(keyForCall(halfDev, 'try', 'anyone')).toEqual({ kind: 'unsigned' });
    const keyedDev = normaliseCallKeys({ insecureDevMode: true, initiatorKeys: { orders: ORDERS_KEY }, takesInitiatorCalls: true });
    // Once initiator keys are given, a try must be signed by one of them, development or not.
    expect(keyForCall(keyedDev, 'try', 'billing')).toEqual({ kind: 'refuse', reason: 'unknown-caller' });
  });
});

describe('normaliseCallKeys', () => {
  const refusal = (options: Parameters<typeof normaliseCallKeys>[0]) => {
    try {
      normaliseCallKeys(options);
    } catch (error) {
      return error instanceof ParticipantConfigError ? error.option : `not a config error: ${String(error)}`;
    }
    return null;
  };

  it('needs the coordinator key outside development mode, and refuses an empty one', () => {
    expect(refusal({ takesInitiatorCalls: false })).toBe('coordinatorKey');
    expect(refusal({ coordinatorKey: '', takesInitiatorCalls: false })).toBe('coordinatorKey');
    expect(refusal({ coordinatorKey: COORDINATOR_KEY, takesInitiatorCalls: false })).toBeNull();
  });

  it('needs initiator keys when a resource is tried, and never the coordinator key among them', () => {
    expect(refusal({ coordinatorKey: COORDINATOR_KEY, takesInitiatorCalls: true })).toBe('initiatorKeys');
    expect(refusal({ coordinatorKey: COORDINATOR_KEY, initiatorKeys: { orders: COORDINATOR_KEY }, takesInitiatorCalls: true })).toBe('initiatorKeys');
    expect(refusal({ coordinatorKey: COORDINATOR_KEY, initiatorKeys: { orders: '' }, takesInitiatorCalls: true })).toBe('initiatorKeys');
    expect(refusal({ coordinatorKey: COORDINATOR_KEY, initiatorKeys: { 'bad name': ORDERS_KEY }, takesInitiatorCalls: true })).toBe('initiatorKeys');
    expect(refusal({ coordinatorKey: COORDINATOR_KEY, initiatorKeys: { orders: ORDERS_KEY }, takesInitiatorCalls: true })).toBeNull();
  });
});
