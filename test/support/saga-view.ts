/**
 * The coordinator's record of one saga (GET /v1/transactions/:gid), typed in
 * the saga's words for assertions, with polling helpers; and POST /v1/sagas
 * sent raw, for what the SDK's builder cannot express (bad graphs, re-sends).
 */
import type { DtxClient } from '../../participant-sdk/index.ts';
import type { EventKind } from '../../coordinator/domain/transaction.ts';
import { waitFor } from '../../tools/wait.ts';
import { TEST_API_HEADERS } from './coordinator-harness.ts';
import type { TestParticipant } from './test-participant.ts';

export type SagaStatus = 'created' | 'running' | 'compensating' | 'succeeded' | 'compensated';
export type StepStatus = 'pending' | 'succeeded' | 'compensated';
export type SagaOp = 'action' | 'compensate';

export interface SagaRecord {
  gid: string;
  mode: 'saga';
  status: SagaStatus;
  reason: string | null;
  retryCount: number;
  needsAttention: boolean;
  attentionReason: string | null;
  finishedAt: string | null;
}

export interface StepRecord {
  branchId: string;
  status: StepStatus;
  attempts: number;
  payload: unknown;
  opPayloads: Partial<Record<SagaOp, unknown>> | null;
  dependsOn: string[];
  maxAttempts: number | null;
  callTimeoutMs: number | null;
  lastError: string | null;
}

export interface SagaEvent {
  kind: EventKind;
  branchId: string | null;
  op: SagaOp | null;
  fromStatus: SagaStatus | null;
  toStatus: SagaStatus | null;
  outcome: string | null;
  attempt: number | null;
  message: string | null;
  actor: string | null;
}

export interface SagaView {
  transaction: SagaRecord;
  branches: StepRecord[];
  events: SagaEvent[];
}

export async function sagaView(dtx: DtxClient, gid: string): Promise<SagaView> {
  return (await dtx.coordinator.query(gid)) as unknown as SagaView;
}

export function stepOf(view: SagaView, id: string): StepRecord {
  const step = view.branches.find((b) => b.branchId === id);
  if (!step) throw new Error(`${view.transaction.gid} has no step ${id}`);
  return step;
}

/** Calls (and skips) of one step's op, oldest first. */
export function stepCalls(view: SagaView, id: string, op: SagaOp): SagaEvent[] {
  return view.events.filter((e) => e.kind === 'branch-call' && e.branchId === id && e.op === op);
}

/** The history's lines, shortened to what a reader checks: `status running→compensating`, `action a success`, … */
export function historyLines(view: SagaView): string[] {
  return view.events.map((e) => {
    if (e.kind === 'branch-call') return `${e.op} ${e.branchId} ${e.outcome}`;
    if (e.kind === 'status') return `status ${e.fromStatus}→${e.toStatus}`;
    return e.kind;
  });
}

/** Each step's applied [action, compensation] counts in a test participant's database. */
export async function stepEffects(bank: TestParticipant, gid: string, ids: readonly string[]): Promise<Record<string, readonly [number, number]>> {
  const entries = await Promise.all(ids.map(async (id) => [id, [await bank.effects(gid, 'action', id), await bank.effects(gid, 'compensate', id)]] as const));
  return Object.fromEntries(entries);
}

/** Polls the saga's record until `predicate` holds; returns that view. */
export async function waitForSaga(dtx: DtxClient, gid: string, what: string, predicate: (view: SagaView) => boolean, timeoutMs = 15_000): Promise<SagaView> {
  const view = await waitFor(
    async () => {
      const current = await sagaView(dtx, gid);
      return predicate(current) ? current : null;
    },
    { what: `${gid}: ${what}`, timeoutMs, intervalMs: 25 },
  );
  // waitFor only returns a truthy value.
  return view!;
}

export function waitForSagaStatus(dtx: DtxClient, gid: string, status: SagaStatus, timeoutMs = 15_000): Promise<SagaView> {
  return waitForSaga(dtx, gid, `status ${status}`, (view) => view.transaction.status === status, timeoutMs);
}

export interface RawReply {
  statusCode: number;
  body: Record<string, unknown>;
}

/** A request of the caller API as the tests' caller, the body sent as given. */
export async function postV1(coordinatorUrl: string, path: string, body: unknown): Promise<RawReply> {
  const response = await fetch(`${coordinatorUrl}/v1${path}`, {
    method: 'POST',
    headers: { ...TEST_API_HEADERS, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { statusCode: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** A step of POST /v1/sagas on one saga resource (`<resourceUrl>/action`, `<resourceUrl>/compensate`). */
export function wireStep(resourceUrl: string, id: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, action: { url: `${resourceUrl}/action` }, compensate: { url: `${resourceUrl}/compensate` }, ...extra };
}
