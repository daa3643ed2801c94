/**
 * Registration of branches, the same in every mode: a re-sent registration
 * is idempotent, the same branch id with other operations or payload is
 * refused, and new branches join only while the mode's registration guard
 * holds (the store enforces that guard in the insert itself).
 */
import type { ModeWords } from './mode-words.ts';
import { TransactionRefusedError } from './refusal.ts';
import { guardHolds, type TransitionGuard } from './transition-guard.ts';
import {
  operationNames,
  type Branch,
  type BranchRegistration,
  type GlobalTransaction,
  type Mode,
  type OpPayloads,
  type TransactionSnapshot,
} from './transaction.ts';

/**
 * The distinct registrations of one request: the same branch twice with equal
 * fields counts once; twice with different fields is refused.
 */
export function distinctRegistrations(gid: string, incoming: readonly BranchRegistration[]): BranchRegistration[] {
  const seen = new Map<string, BranchRegistration>();
  for (const registration of incoming) {
    const twin = seen.get(registration.branchId);
    if (twin && !sameRegistration(twin, registration)) throw conflict(gid, registration.branchId);
    seen.set(registration.branchId, registration);
  }
  return [...seen.values()];
}

/**
 * The registrations that are new, on the transaction as loaded; one equal
 * to an existing branch is an idempotent re-send. Refuses (throws) a branch
 * id registered with other operations or payload, and new branches when the
 * guard does not hold: `explain` then says why in the mode's terms.
 */
export function newRegistrations(
  txn: GlobalTransaction,
  existing: readonly Branch[],
  incoming: readonly BranchRegistration[],
  guard: TransitionGuard,
  explain: (txn: GlobalTransaction) => TransactionRefusedError,
): BranchRegistration[] {
  const known = new Map(existing.map((branch) => [branch.branchId, branch]));
  const fresh = distinctRegistrations(txn.gid, incoming).filter((registration) => {
    const current = known.get(registration.branchId);
    if (current && !sameRegistration(current, registration)) throw conflict(txn.gid, registration.branchId);
    return !current;
  });
  if (fresh.length > 0 && !guardHolds(guard, txn)) throw explain(txn);
  return fresh;
}

/**
 * Whether two registrations of one branch ask for the same thing: the same
 * operations at the same URLs, the same payload bytes, and the same saga
 * options (each operation's own payload, prerequisites, retry limit, call
 * timeout). A re-send must repeat all of them: anything else is another branch.
 */
export function sameRegistration(a: BranchRegistration, b: BranchRegistration): boolean {
  const ops = operationNames(a.operations);
  return (
    a.branchId === b.branchId &&
    a.payload === b.payload &&
    ops.length === operationNames(b.operations).length &&
    ops.every((op) => a.operations[op] === b.operations[op]) &&
    canonical(a.opPayloads) === canonical(b.opPayloads) &&
    JSON.stringify(a.dependsOn ?? null) === JSON.stringify(b.dependsOn ?? null) &&
    (a.maxAttempts ?? null) === (b.maxAttempts ?? null) &&
    (a.callTimeoutMs ?? null) === (b.callTimeoutMs ?? null)
  );
}

/** An operation → payload map as text with its keys in order (the order they were given in does not matter). */
function canonical(payloads: OpPayloads | null | undefined): string {
  if (!payloads) return 'null';
  return JSON.stringify(Object.entries(payloads).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
}

function conflict(gid: string, branchId: string): TransactionRefusedError {
  return new TransactionRefusedError('BRANCH_CONFLICT', `branch ${branchId} of ${gid} is already registered with other endpoints or payload`, gid);
}

/** The refusal of a registration to a transaction past its registration phase, in the mode's words. */
export function registrationClosed(txn: GlobalTransaction, words: ModeWords, now: number): TransactionRefusedError {
  if (txn.status === 'open' && now >= txn.deadlineAt) {
    // The status it is moving to: the deadline aborts it.
    return new TransactionRefusedError(
      'DEADLINE_PASSED',
      `transaction ${txn.gid} passed its deadline; no branch can be registered`,
      txn.gid,
      words.status['rolling-back'],
    );
  }
  return new TransactionRefusedError(
    'ILLEGAL_STATE',
    `transaction ${txn.gid} is ${words.status[txn.status]}: branches can only be registered while ${words.status.open}`,
    txn.gid,
    words.status[txn.status],
  );
}

/**
 * The URLs a registration makes the coordinator call, each named by its field
 * in the request (for refusals): a saga's steps and a message's receivers
 * have shapes of their own.
 */
export function registeredTargets(mode: Mode, branches: readonly BranchRegistration[]): { field: string; url: string }[] {
  return branches.flatMap((branch, index) => Object.entries(branch.operations).map(([op, url]) => ({ field: requestField(mode, index, op), url: url! })));
}

/** The URLs of a registration request (`POST …/branches`: `branches[i].<op>Url`), whatever the mode. */
export function registrationTargets(branches: readonly BranchRegistration[]): { field: string; url: string }[] {
  return branches.flatMap((branch, index) => Object.entries(branch.operations).map(([op, url]) => ({ field: `branches[${index}].${op}Url`, url: url! })));
}

function requestField(mode: Mode, index: number, op: string): string {
  if (mode === 'saga') return `steps[${index}].${op}.url`;
  if (mode === 'msg') return `branches[${index}].url`;
  return `branches[${index}].${op}Url`;
}

/**
 * What a begin sent again for a transaction given whole (a saga, a message)
 * asks differently from the first, or null when nothing: its branches (ids,
 * order, URLs, payloads, options), its check-back or its delivery time. A
 * re-send must ask for exactly the same: anything else is refused, never merged.
 */
export function resentDifference(
  snapshot: TransactionSnapshot,
  again: { branches: readonly BranchRegistration[]; checkUrl?: string | null; notBefore?: number | null },
): string | null {
  const { transaction, branches } = snapshot;
  if (branches.length !== again.branches.length || branches.some((branch, index) => !sameRegistration(branch, again.branches[index]!))) {
    return 'other branches (ids, URLs or payloads)';
  }
  if (transaction.checkUrl !== (again.checkUrl ?? null)) return 'another checkUrl';
  if (transaction.notBefore !== (again.notBefore ?? null)) return 'another deliverAt';
  return null;
}
