import { describe, expect, it } from 'vitest';
import { BRANCH_OPS, isBranchOp, isValidBranchId, isValidGid, LIMITS, outcomeOfStatus, REPLY_STATUS } from '../../protocol/wire.ts';

describe('outcomeOfStatus', () => {
  it.each([
    [200, 'success'],
    [201, 'success'],
    [204, 'success'],
    [299, 'success'],
    [409, 'failure'],
    [425, 'ongoing'],
    [500, 'unknown'],
    [502, 'unknown'],
    [503, 'unknown'],
    [404, 'unknown'],
    [400, 'unknown'],
    [401, 'unknown'],
    [408, 'unknown'],
    [429, 'unknown'],
    [300, 'unknown'],
    [199, 'unknown'],
    [0, 'unknown'],
    [-1, 'unknown'],
  ] as const)('%i → %s', (status, outcome) => {
    expect(outcomeOfStatus(status)).toBe(outcome);
  });

  it('REPLY_STATUS maps back to its own outcome', () => {
    expect(outcomeOfStatus(REPLY_STATUS.success)).toBe('success');
    expect(outcomeOfStatus(REPLY_STATUS.failure)).toBe('failure');
    expect(outcomeOfStatus(REPLY_STATUS.ongoing)).toBe('ongoing');
    expect(REPLY_STATUS).toEqual({ success: 200, failure: 409, ongoing: 425 });
  });
});

describe('isBranchOp', () => {
  it('accepts every op and nothing else', () => {
    for (const op of BRANCH_OPS) expect(isBranchOp(op)).toBe(true);
    for (const op of ['', 'Confirm', 'Prepare', 'commit ', 'rollback/', 'Deliver', 'confirm ']) expect(isBranchOp(op)).toBe(false);
  });
});

describe('isValidGid', () => {
  it('accepts the allowed charset', () => {
    expect(isValidGid('a')).toBe(true);
    expect(isValidGid('AZaz09_.-')).toBe(true);
    expect(isValidGid('0190f5a2-7b1c-7e3a-9f00-0123456789ab')).toBe(true);
  });

  it(`accepts ${LIMITS.gidMaxLength} chars, refuses ${LIMITS.gidMaxLength + 1}`, () => {
    expect(LIMITS.gidMaxLength).toBe(128);
    expect(isValidGid('g'.repeat(128))).toBe(true);
    expect(isValidGid('g'.repeat(129))).toBe(false);
  });

  it('refuses the empty string', () => {
    expect(isValidGid('')).toBe(false);
  });

  it.each(['a b', 'a/b', 'a:b', 'a\nb', 'a%20', 'gid#1', 'gïd', 'a?b', 'a\u0000', '😀', 'a,b', '"a"'])('refuses %j', (gid) => {
    expect(isValidGid(gid)).toBe(false);
  });

  it('refuses a trailing newline (the pattern is anchored, not multiline)', () => {
    expect(isValidGid('abc\n')).toBe(false);
  });
});

describe('isValidBranchId', () => {
  it(`accepts ${LIMITS.branchIdMaxLength} chars, refuses ${LIMITS.branchIdMaxLength + 1}`, () => {
    expect(LIMITS.branchIdMaxLength).toBe(64);
    expect(isValidBranchId('b'.repeat(64))).toBe(true);
    expect(isValidBranchId('b'.repeat(65))).toBe(false);
  });

  it('accepts the allowed charset and refuses the rest', () => {
    expect(isValidBranchId('branch_01.a-B')).toBe(true);
    expect(isValidBranchId('')).toBe(false);
    expect(isValidBranchId('a b')).toBe(false);
    expect(isValidBranchId('a/b')).toBe(false);
    expect(isValidBranchId('ä')).toBe(false);
    expect(isValidBranchId('x\n')).toBe(false);
  });
});
