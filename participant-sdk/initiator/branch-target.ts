/**
 * Where a branch of a two-phase transaction lives, for the initiator. A
 * resource exposed by this SDK's participant server is one base URL
 * (`.../<resource>`) with its ops under it (TCC: `/try`, `/confirm`,
 * `/cancel`; XA: `/prepare`, `/commit`, `/rollback`); other participants
 * may name the three URLs themselves.
 */
import { MODE_OPS, type BranchOp } from '@dtx/protocol';
import { DtxError } from '../errors.ts';
import type { FirstOp } from './errors.ts';

/** The ops of a mode whose initiator calls the first phase itself: the one it calls, and the two phase two calls. */
export interface TwoPhaseOps {
  /** The mode, as the coordinator names it. */
  mode: 'tcc' | 'xa' | 'fmt';
  /** The op the initiator calls on each branch (TCC's try, XA's prepare, FMT's execute). */
  first: FirstOp;
  /** The op the coordinator calls once the transaction commits (confirm, commit). */
  commit: BranchOp;
  /** The op it calls once the transaction rolls back (cancel, rollback). */
  rollback: BranchOp;
}

/** A two-phase mode's ops, from the protocol's table. */
function twoPhaseOps(mode: TwoPhaseOps['mode']): TwoPhaseOps {
  const { first, registered } = MODE_OPS[mode];
  return { mode, first: first as FirstOp, commit: registered[0]!, rollback: registered[1]! };
}

export const TCC_OPS = twoPhaseOps('tcc');
export const XA_OPS = twoPhaseOps('xa');
export const FMT_OPS = twoPhaseOps('fmt');

/** A TCC branch: a resource URL, or its try, confirm and cancel URLs; its payload; optionally its branch id. */
export type BranchTarget =
  { url: string; payload?: unknown; branchId?: string } | { tryUrl: string; confirmUrl: string; cancelUrl: string; payload?: unknown; branchId?: string };

/** An XA branch: a resource URL (defineXa), or its prepare, commit and rollback URLs; its payload; optionally its branch id. */
export type XaBranchTarget =
  { url: string; payload?: unknown; branchId?: string } | { prepareUrl: string; commitUrl: string; rollbackUrl: string; payload?: unknown; branchId?: string };

/** An FMT branch: a resource URL (defineFmt), or its execute, commit and rollback URLs; its payload; optionally its branch id. */
export type FmtBranchTarget =
  { url: string; payload?: unknown; branchId?: string } | { executeUrl: string; commitUrl: string; rollbackUrl: string; payload?: unknown; branchId?: string };

/** A branch with its id and its three op URLs spelled out. */
export interface ResolvedBranch {
  branchId: string;
  /** Where the initiator calls the first phase. */
  firstUrl: string;
  /** Phase two's URLs: the commit op's, then the rollback op's. */
  commitUrl: string;
  rollbackUrl: string;
  payload: unknown;
}

/** Spell out a target's op URLs: `<url>/<op>` for a resource URL, else the `<op>Url` fields. */
export function resolveTarget(target: BranchTarget | XaBranchTarget | FmtBranchTarget, branchId: string, ops: TwoPhaseOps): ResolvedBranch {
  const payload = target.payload ?? null;
  if ('url' in target) {
    const base = target.url.replace(/\/+$/, '');
    return { branchId, firstUrl: `${base}/${ops.first}`, commitUrl: `${base}/${ops.commit}`, rollbackUrl: `${base}/${ops.rollback}`, payload };
  }
  const urls = target as unknown as Record<string, string | undefined>;
  const url = (op: string) => {
    const value = urls[`${op}Url`];
    if (typeof value !== 'string') {
      throw new DtxError('INVALID_BRANCH_TARGET', `a ${ops.mode} branch target needs url, or ${ops.first}Url, ${ops.commit}Url and ${ops.rollback}Url`);
    }
    return value;
  };
  return { branchId, firstUrl: url(ops.first), commitUrl: url(ops.commit), rollbackUrl: url(ops.rollback), payload };
}
