/**
 * What every part of the store contract shares: the types of a store under
 * test, synthetic times, ids, and builders of the ports' inputs.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll } from 'vitest';
import type { AdminStore, AuditEntry } from '../../store/ports/admin-store.ts';
import type { OperatorChange } from '../../domain/operator-decisions.ts';
import type { RoundCall, RoundDecision } from '../../domain/phase-two.ts';
import { type BranchRegistration, type TransactionSnapshot } from '../../domain/transaction.ts';
import type { DecisionInput, RoundRecord, TransactionStore } from '../../store/ports/transaction-store.ts';

export interface StoreUnderTest {
  store: TransactionStore;
  adminStore: AdminStore;
  /** Releases everything the factory opened (and drops what it created). */
  close(): Promise<void>;
}

export interface StoreContext {
  /** A short name for what the store is for ([a-z_]), e.g. to name a database. */
  label: string;
}

/** Opens an empty store (its own database, schema applied). */
export type StoreFactory = (ctx: StoreContext) => Promise<StoreUnderTest>;

export const T0 = 1_700_000_000_000;
export const MINUTE = 60_000;
export const LEASE_MS = 30_000;
export const BASE = 'http://127.0.0.1:9/dtx/account';

export function registration(branchId: string, base = BASE, payload = '{"amount":1}'): BranchRegistration {
  return { branchId, operations: { confirm: `${base}/confirm`, cancel: `${base}/cancel` }, payload };
}

export function gidOf(label: string): string {
  return `${label}-${randomBytes(5).toString('hex')}`;
}

export const ids = (snapshot: TransactionSnapshot | null | undefined) => snapshot?.branches.map((b) => b.branchId) ?? [];

/** Registers one store for the enclosing describe: opened before its tests, closed after. */
export function useStore(factory: StoreFactory, label: string): () => StoreUnderTest {
  let opened: StoreUnderTest | undefined;
  beforeAll(async () => {
    opened = await factory({ label });
  });
  afterAll(async () => {
    await opened?.close();
  });
  return () => {
    if (!opened) throw new Error('store not opened');
    return opened;
  };
}

/**
 * An operator's change as the engine makes it: load, decide on what was
 * loaded, apply guarded by it. Expects the change to apply (not `stale`).
 */
export async function operatorChange(
  { store, adminStore }: Pick<StoreUnderTest, 'store' | 'adminStore'>,
  audit: AuditEntry,
  decide: (snapshot: TransactionSnapshot) => OperatorChange,
): Promise<TransactionSnapshot> {
  const before = await store.load(audit.gid!);
  if (!before) throw new Error(`no transaction ${audit.gid}`);
  const after = await adminStore.applyOperatorChange({ before, change: decide(before), audit });
  if (after === null || after === 'stale') throw new Error(`operator change on ${audit.gid}: ${String(after)}`);
  return after;
}

/** Builders of the ports' inputs, on the store `store()` returns when called. */
export function contractOps(store: () => TransactionStore) {
  const begin = (gid: string, branchIds: string[], at = T0, caller: string | null = 'tests') =>
    store().begin({ gid, mode: 'tcc', now: at, deadlineAt: at + MINUTE, caller, branches: branchIds.map((id) => registration(id)) });

  /** A decision guarded as a submit is (open, before the deadline at its `now`) unless `guard` is given. */
  const decision = (gid: string, overrides: Partial<DecisionInput> = {}): DecisionInput => {
    const now = overrides.now ?? T0 + 1_000;
    return {
      gid,
      to: 'committing',
      guard: { from: 'open', deadlineAfter: now },
      reason: null,
      now,
      owner: 'owner-a',
      leaseUntil: now + LEASE_MS,
      actor: 'tests',
      ...overrides,
    };
  };

  /** Registered under the registration guard of a TCC transaction at `now`. */
  const register = (gid: string, branches: BranchRegistration[], now = T0 + 500, actor: string | null = 'tests') =>
    store().registerBranches({ gid, guard: { from: 'open', deadlineAfter: now, mode: 'tcc' }, now, branches, actor });

  const success = (branchId: string, attempt = 1, op: RoundCall['op'] = 'confirm'): RoundCall => ({
    branchId,
    op,
    outcome: 'success',
    httpStatus: 200,
    error: null,
    attempt,
  });
  const failure = (branchId: string, error: string, attempt = 1, op: RoundCall['op'] = 'confirm'): RoundCall => ({
    branchId,
    op,
    outcome: 'failure',
    httpStatus: 500,
    error,
    attempt,
  });

  const round = (gid: string, results: RoundRecord['results'], decisionOf: RoundDecision, overrides: Partial<RoundRecord> = {}): RoundRecord => ({
    gid,
    owner: 'owner-a',
    from: 'committing',
    results,
    skipped: [],
    decision: decisionOf,
    now: T0 + 2_000,
    leaseUntil: T0 + 17_000,
    ...overrides,
  });

  const audit = (gid: string, action: AuditEntry['action']): AuditEntry => ({
    at: T0,
    actor: 'ops',
    role: 'operator',
    action,
    gid,
    branchId: null,
    reason: 'contract',
    detail: null,
  });
  return { begin, decision, register, success, failure, round, audit };
}
