/**
 * Where a branch lives. A resource exposed by this SDK's participant server
 * is one base URL (`.../<resource>`), with `/try`, `/confirm` and `/cancel`
 * under it; other participants may name the three URLs themselves.
 */
export type BranchTarget =
  { url: string; payload?: unknown; branchId?: string } | { tryUrl: string; confirmUrl: string; cancelUrl: string; payload?: unknown; branchId?: string };

/** A {@link BranchTarget} with its branch id and its three op URLs spelled out. */
export interface ResolvedBranch {
  branchId: string;
  tryUrl: string;
  confirmUrl: string;
  cancelUrl: string;
  payload: unknown;
}

/** Spell out a target's op URLs: `<url>/try`, `<url>/confirm`, `<url>/cancel` for a resource URL. */
export function resolveTarget(target: BranchTarget, branchId: string): ResolvedBranch {
  const payload = target.payload ?? null;
  if ('url' in target) {
    const base = target.url.replace(/\/+$/, '');
    return { branchId, tryUrl: `${base}/try`, confirmUrl: `${base}/confirm`, cancelUrl: `${base}/cancel`, payload };
  }
  return { branchId, tryUrl: target.tryUrl, confirmUrl: target.confirmUrl, cancelUrl: target.cancelUrl, payload };
}
