/**
 * The XA transaction id (xid) of a dtx branch in the participant's MySQL or
 * MariaDB database, without I/O.
 *
 * An xid is (gtrid, bqual, formatID); MySQL allows at most 64 bytes each for
 * gtrid and bqual. A branch's xid is (gid, branch id, DTX_XA_FORMAT_ID):
 * - the format id marks dtx's xids, so the SDK's recovery never touches an
 *   XA transaction some other tool prepared in the same server;
 * - a branch id (at most 64 characters) is the bqual as it is;
 * - a gid of at most 64 characters is the gtrid as it is, so `XA RECOVER`
 *   names the transaction an operator can look up;
 * - a longer gid (up to 128) becomes `~` and the base64url SHA-256 of the gid
 *   (44 bytes). `~` is outside the gid alphabet ([A-Za-z0-9_.-]), so a
 *   hashed gtrid never equals a plain one; the SDK records the gid of a hashed
 *   gtrid before the branch starts (xa-tables.ts), for recovery.
 * Statements always carry the parts as hex literals: nothing of a gid is
 * ever spliced into SQL as text. The participant SDK runs the statements;
 * the coordinator shows each XA branch's xid to operators.
 */
import { createHash } from 'node:crypto';
import { isValidBranchId, isValidGid } from './wire.ts';

/** The formatID of every xid the SDK creates ("dtx" in ASCII). */
export const DTX_XA_FORMAT_ID = 0x647478;

/** MySQL's limit on gtrid and on bqual, in bytes. */
export const XID_PART_MAX_BYTES = 64;

const HASHED_PREFIX = '~';

/** A dtx branch's xid parts (ASCII text: gids and branch ids are [A-Za-z0-9_.-], a hashed gtrid is base64url). */
export interface Xid {
  gtrid: string;
  bqual: string;
}

/**
 * The xid of branch `branchId` of transaction `gid`.
 *
 * @throws RangeError on a gid or branch id outside the protocol's alphabet and lengths (never a valid xid)
 */
export function xidOf(gid: string, branchId: string): Xid {
  if (!isValidGid(gid)) throw new RangeError('gid: expected 1..128 characters of [A-Za-z0-9_.-]');
  if (!isValidBranchId(branchId)) throw new RangeError('branchId: expected 1..64 characters of [A-Za-z0-9_.-]');
  return { gtrid: gid.length <= XID_PART_MAX_BYTES ? gid : hashedGtrid(gid), bqual: branchId };
}

/** Whether the gtrid stands for a longer gid (its gid is then read from the SDK's table). */
export function isHashedGtrid(gtrid: string): boolean {
  return gtrid.startsWith(HASHED_PREFIX);
}

function hashedGtrid(gid: string): string {
  return `${HASHED_PREFIX}${createHash('sha256').update(gid, 'ascii').digest('base64url')}`;
}

/** The xid as the XA statements take it: `X'…', X'…', <formatID>`. */
export function xidSql(xid: Xid): string {
  const hex = (text: string) => `X'${Buffer.from(text, 'ascii').toString('hex')}'`;
  return `${hex(xid.gtrid)}, ${hex(xid.bqual)}, ${DTX_XA_FORMAT_ID}`;
}

/** A row of `XA RECOVER` as mysql2 returns it. */
export interface RecoveredXidRow {
  formatID: number | string;
  gtrid_length: number | string;
  bqual_length: number | string;
  data: Buffer | string;
}

/** The dtx xid in a row of `XA RECOVER`, or null for an XA transaction that is not dtx's. */
export function parseRecoveredXid(row: RecoveredXidRow): Xid | null {
  if (Number(row.formatID) !== DTX_XA_FORMAT_ID) return null;
  const data = typeof row.data === 'string' ? Buffer.from(row.data, 'binary') : row.data;
  const gtridLength = Number(row.gtrid_length);
  const bqualLength = Number(row.bqual_length);
  if (gtridLength + bqualLength !== data.length) return null;
  const xid = { gtrid: data.subarray(0, gtridLength).toString('ascii'), bqual: data.subarray(gtridLength).toString('ascii') };
  const plausible = (isHashedGtrid(xid.gtrid) || isValidGid(xid.gtrid)) && isValidBranchId(xid.bqual);
  return plausible ? xid : null;
}

/** How an xid reads in logs and alerts: `X'…',X'…',<formatID>`, pasteable into `XA COMMIT` / `XA ROLLBACK`. */
export function describeXid(xid: Xid): string {
  return xidSql(xid).replace(/, /g, ',');
}
