/**
 * The coordinator's record of one transaction (GET /v1/transactions/:gid),
 * typed for assertions, with polling helpers; and signed calls straight to a
 * participant's branch endpoints, for tests that drive the protocol by hand.
 */
import type { DtxClient } from '../../participant-sdk/index.ts';
import { callHeaders, isInitiatorOp, type BranchOp } from '../../protocol/index.ts';
import { TEST_INITIATOR_KEY, TEST_SECRET } from './coordinator-harness.ts';
import { waitFor } from '../../tools/wait.ts';
import type { EventKind } from '../../coordinator/domain/transaction.ts';

/** A TCC transaction's status as the API shows it (the mode's words). */
export type GlobalStatus = 'trying' | 'confirming' | 'cancelling' | 'confirmed' | 'cancelled';

export interface TransactionRecord {
  gid: string;
  status: GlobalStatus;
  reason: string | null;
  updatedAt: string;
  deadlineAt: string;
  finishedAt: string | null;
  retryCount: number;
  nextRetryAt: string | null;
  needsAttention: boolean;
  attentionReason: string | null;
  leaseUntil: string | null;
}

export interface BranchRecord {
  branchId: string;
  status: 'prepared' | 'confirmed' | 'cancelled';
  attempts: number;
  lastError: string | null;
}

export interface EventRecord {
  id: number;
  kind: EventKind;
  branchId: string | null;
  op: string | null;
  fromStatus: GlobalStatus | null;
  toStatus: GlobalStatus | null;
  outcome: string | null;
  attempt: number | null;
  message: string | null;
  actor: string | null;
}

export interface TransactionView {
  transaction: TransactionRecord;
  branches: BranchRecord[];
  events: EventRecord[];
}

export async function viewOf(dtx: DtxClient, gid: string): Promise<TransactionView> {
  return (await dtx.coordinator.query(gid)) as unknown as TransactionView;
}

/** Between two rounds (no lease held), the delay the last round chose before the next one. */
export function scheduledDelayMs(view: TransactionView): number | null {
  const { nextRetryAt, updatedAt, leaseUntil } = view.transaction;
  if (leaseUntil !== null || nextRetryAt === null) return null;
  return Date.parse(nextRetryAt) - Date.parse(updatedAt);
}

export function branchOf(view: TransactionView, branchId: string): BranchRecord {
  const branch = view.branches.find((b) => b.branchId === branchId);
  if (!branch) throw new Error(`${view.transaction.gid} has no branch ${branchId}`);
  return branch;
}

/** Branch-call events of one branch and op, oldest first. */
export function callsOf(view: TransactionView, branchId: string, op: BranchOp): EventRecord[] {
  return view.events.filter((e) => e.kind === 'branch-call' && e.branchId === branchId && e.op === op);
}

/** Polls the coordinator's record until `predicate` holds; returns that view. */
export async function waitForView(
  dtx: DtxClient,
  gid: string,
  what: string,
  predicate: (view: TransactionView) => boolean,
  timeoutMs = 15_000,
): Promise<TransactionView> {
  const view = await waitFor(
    async () => {
      const current = await viewOf(dtx, gid);
      return predicate(current) ? current : null;
    },
    { what: `${gid}: ${what}`, timeoutMs, intervalMs: 50 },
  );
  // waitFor only returns a truthy value.
  return view!;
}

export function waitForStatus(dtx: DtxClient, gid: string, status: GlobalStatus, timeoutMs = 15_000): Promise<TransactionView> {
  return waitForView(dtx, gid, `status ${status}`, (view) => view.transaction.status === status, timeoutMs);
}

/**
 * Calls one branch op the way its sender does: signed, with the dtx headers, for the `tests` caller —
 * a try or a prepare as the initiator sends it (its own key, with `registration`: the proof the
 * coordinator's reply to the branch's registration carried, without which a participant refuses it
 * 409 NOT_REGISTERED), any other op as the coordinator does (the coordinator's key, naming the
 * caller that registered the branch).
 */
export async function callBranch(
  url: string,
  call: { gid: string; branchId: string; op: BranchOp; payload?: unknown; registration?: string },
  key: string = isInitiatorOp(call.op) ? TEST_INITIATOR_KEY : TEST_SECRET,
): Promise<{ statusCode: number; body: unknown }> {
  const body = JSON.stringify(call.payload ?? null);
  const response = await fetch(url, {
    method: 'POST',
    headers: callHeaders(key, {
      url,
      gid: call.gid,
      branchId: call.branchId,
      op: call.op,
      body,
      timestamp: Date.now(),
      caller: 'tests',
      registration: call.registration,
    }),
    body,
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { statusCode: response.status, body: parsed };
}
