/**
 * The xid of a dtx XA branch (participant-sdk/xa/xid.ts): within MySQL's
 * 64-byte limits, unique per (gid, branch), always sent as hex literals, and
 * read back from `XA RECOVER` rows; gids and branch ids outside the
 * protocol's alphabet are refused before any SQL is written.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BarrierInputError } from '../../participant-sdk/errors.ts';
import { DTX_XA_FORMAT_ID, describeXid, isHashedGtrid, parseRecoveredXid, xidOf, xidSql, XID_PART_MAX_BYTES, type Xid } from '../../participant-sdk/xa/xid.ts';

const ID_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-'.split('');
const idOf = (maxLength: number) => fc.array(fc.constantFrom(...ID_CHARS), { minLength: 1, maxLength }).map((chars) => chars.join(''));

/** The row `XA RECOVER` returns for an xid, as mysql2 hands it over (data: a Buffer). */
function recoverRow(xid: Xid, formatID = DTX_XA_FORMAT_ID) {
  const gtrid = Buffer.from(xid.gtrid, 'ascii');
  const bqual = Buffer.from(xid.bqual, 'ascii');
  return { formatID, gtrid_length: gtrid.length, bqual_length: bqual.length, data: Buffer.concat([gtrid, bqual]) };
}

describe('xidOf', () => {
  it('keeps a gid of up to 64 characters and the branch id as they are', () => {
    expect(xidOf('order-42', 'debit')).toEqual({ gtrid: 'order-42', bqual: 'debit' });
    const gid64 = 'g'.repeat(64);
    expect(xidOf(gid64, 'b'.repeat(64))).toEqual({ gtrid: gid64, bqual: 'b'.repeat(64) });
    expect(isHashedGtrid(gid64)).toBe(false);
  });

  it('hashes a longer gid into a marked gtrid within 64 bytes, the same every time', () => {
    const gid128 = `${'a'.repeat(100)}.${'Z'.repeat(27)}`;
    expect(gid128).toHaveLength(128);
    const xid = xidOf(gid128, 'credit');
    expect(isHashedGtrid(xid.gtrid)).toBe(true);
    expect(xid.gtrid).toMatch(/^~[A-Za-z0-9_-]{43}$/);
    expect(Buffer.byteLength(xid.gtrid)).toBeLessThanOrEqual(XID_PART_MAX_BYTES);
    expect(xidOf(gid128, 'credit')).toEqual(xid);
    // A 65-character gid is the shortest that is hashed.
    expect(isHashedGtrid(xidOf('x'.repeat(65), 'b').gtrid)).toBe(true);
  });

  it('gives different branches and different gids different xids (plain and hashed)', () => {
    fc.assert(
      fc.property(idOf(128), idOf(128), idOf(64), idOf(64), (gidA, gidB, branchA, branchB) => {
        fc.pre(gidA !== gidB || branchA !== branchB);
        expect(xidOf(gidA, branchA)).not.toEqual(xidOf(gidB, branchB));
      }),
    );
    // Gids that differ only past the 64th character, and in the last one.
    const stem = 'p'.repeat(127);
    expect(xidOf(`${stem}a`, 'b').gtrid).not.toBe(xidOf(`${stem}b`, 'b').gtrid);
    expect(xidOf('q'.repeat(64), 'b').gtrid).not.toBe(xidOf('q'.repeat(65), 'b').gtrid);
  });

  it('refuses gids and branch ids outside the protocol (quotes, unicode, spaces, empty, too long) with BarrierInputError', () => {
    const badGids = ["o'rder", 'o"rder', "x'; XA COMMIT X'00' --", 'ordre-é', '注文-1', 'emoji-😀', 'with space', 'back\\slash', '', 'g'.repeat(129)];
    for (const gid of badGids) expect(() => xidOf(gid, 'b'), gid).toThrow(BarrierInputError);
    for (const branchId of ["b'", 'ß', '', 'b'.repeat(65)]) expect(() => xidOf('g', branchId), branchId).toThrow(BarrierInputError);
  });
});

describe('xidSql', () => {
  it('writes both parts as hex literals, then the format id: no gid text reaches SQL', () => {
    expect(xidSql({ gtrid: 'g-1', bqual: 'b' })).toBe(`X'672d31', X'62', ${DTX_XA_FORMAT_ID}`);
    fc.assert(
      fc.property(idOf(128), idOf(64), (gid, branchId) => {
        expect(xidSql(xidOf(gid, branchId))).toMatch(/^X'([0-9a-f]{2})+', X'([0-9a-f]{2})+', \d+$/);
      }),
    );
  });

  it('describes an xid the way XA COMMIT takes it', () => {
    expect(describeXid({ gtrid: 'g-1', bqual: 'b' })).toBe(`X'672d31',X'62',${DTX_XA_FORMAT_ID}`);
  });
});

describe('parseRecoveredXid', () => {
  it('reads back every xid it made, plain or hashed', () => {
    fc.assert(
      fc.property(idOf(128), idOf(64), (gid, branchId) => {
        const xid = xidOf(gid, branchId);
        expect(parseRecoveredXid(recoverRow(xid))).toEqual(xid);
        expect(parseRecoveredXid({ ...recoverRow(xid), data: recoverRow(xid).data.toString('binary') })).toEqual(xid);
      }),
    );
  });

  it('accepts the lengths as strings (some drivers return them so)', () => {
    const row = recoverRow({ gtrid: 'g', bqual: 'b' });
    expect(parseRecoveredXid({ ...row, formatID: String(DTX_XA_FORMAT_ID), gtrid_length: '1', bqual_length: '1' })).toEqual({ gtrid: 'g', bqual: 'b' });
  });

  it("ignores XA transactions that are not dtx's: another format id, lengths that do not add up, bytes outside the alphabet", () => {
    expect(parseRecoveredXid(recoverRow({ gtrid: 'g', bqual: 'b' }, 1))).toBeNull();
    expect(parseRecoveredXid({ ...recoverRow({ gtrid: 'g', bqual: 'b' }), gtrid_length: 2 })).toBeNull();
    expect(parseRecoveredXid(recoverRow({ gtrid: "it's", bqual: 'b' }))).toBeNull();
    expect(parseRecoveredXid(recoverRow({ gtrid: 'g', bqual: 'b b' }))).toBeNull();
  });
});
