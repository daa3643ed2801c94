/**
 * Registration proofs (protocol/registration-proof.ts): the documented
 * worked example, and a proof good only for its key, branch and caller.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { canonicalRegistration, registrationProof, verifyRegistrationProof } from '../../protocol/registration-proof.ts';

const KEY = 'example-key-0123456789';
const branch = { gid: 'order-1001', branchId: '01', caller: 'orders' };

describe('the worked example of docs/protocol.md', () => {
  const proof = 'v1=d229897064f1843285d191a0cf8941591edcdcccfbfaba5c623b70fba9d87115';

  it('signs the documented string to the documented proof', () => {
    expect(canonicalRegistration(branch)).toBe('dtx-registration\norder-1001\n01\norders');
    expect(registrationProof(KEY, branch)).toBe(proof);
  });

  it('is the example docs/protocol.md shows', () => {
    expect(readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8')).toContain(proof);
  });
});

describe('verifyRegistrationProof', () => {
  const proof = registrationProof(KEY, branch);

  it('accepts the proof of this branch, for this caller, made with this key', () => {
    expect(verifyRegistrationProof(KEY, branch, proof)).toBe(true);
  });

  it.each([
    ['another gid', { ...branch, gid: 'order-1002' }, KEY],
    ['another branch', { ...branch, branchId: '02' }, KEY],
    ['another caller', { ...branch, caller: 'billing' }, KEY],
    ['no caller', { ...branch, caller: '' }, KEY],
    ['another key', branch, 'another-key-0123456789'],
  ])('refuses it for %s', (_what, other, key) => {
    expect(verifyRegistrationProof(key, other, proof)).toBe(false);
  });

  it('refuses a missing, truncated or upper-case proof', () => {
    expect(verifyRegistrationProof(KEY, branch, undefined)).toBe(false);
    expect(verifyRegistrationProof(KEY, branch, '')).toBe(false);
    expect(verifyRegistrationProof(KEY, branch, proof.slice(0, -1))).toBe(false);
    expect(verifyRegistrationProof(KEY, branch, proof.toUpperCase())).toBe(false);
  });
});
