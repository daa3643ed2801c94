/**
 * The xids of dtx's XA branches (protocol/xa-xid.ts), with the participant's
 * input errors: an id that cannot be an xid is refused as bad input (400)
 * before any statement is sent.
 */
import { xidOf as protocolXidOf, type Xid } from '@dtx/protocol';
import { BarrierInputError } from '../errors.ts';

export { DTX_XA_FORMAT_ID, describeXid, isHashedGtrid, parseRecoveredXid, XID_PART_MAX_BYTES, xidSql, type RecoveredXidRow, type Xid } from '@dtx/protocol';

/**
 * The xid of branch `branchId` of transaction `gid`.
 *
 * @throws BarrierInputError on a gid or branch id outside the protocol's alphabet and lengths
 */
export function xidOf(gid: string, branchId: string): Xid {
  try {
    return protocolXidOf(gid, branchId);
  } catch (error) {
    const field = error instanceof RangeError && error.message.startsWith('branchId') ? 'branchId' : 'gid';
    throw new BarrierInputError(field, field === 'gid' ? gid : branchId, error instanceof Error ? error.message : String(error));
  }
}
