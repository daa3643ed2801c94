/**
 * The transaction a begin that logged its decision in the same commit (a
 * saga, submitted whole) wrote, rebuilt from the begin's own input: phase two
 * starts on it at once, without reading the log back.
 */
import { participantOfBranch, type TransactionSnapshot } from '../domain/transaction.ts';
import type { BeginInput } from '../store/ports/transaction-store.ts';

/** The snapshot a begin that logged its decision wrote (no read needed: every value is the caller's). */
export function beganDecided(input: BeginInput & Required<Pick<BeginInput, 'decision'>>): TransactionSnapshot {
  const { gid, mode, now, decision } = input;
  return {
    transaction: {
      gid,
      mode,
      status: decision.to,
      reason: decision.reason,
      caller: input.caller,
      createdAt: now,
      updatedAt: now,
      deadlineAt: input.deadlineAt,
      decidedAt: now,
      decidedBy: decision.actor,
      finishedAt: null,
      retryCount: 0,
      nextRetryAt: decision.leaseUntil,
      needsAttention: false,
      attentionReason: null,
      paused: false,
      leaseOwner: decision.owner,
      leaseUntil: decision.leaseUntil,
      checkUrl: input.checkUrl ?? null,
      notBefore: input.notBefore ?? null,
      joinableBy: [...(input.joinableBy ?? [])],
    },
    branches: input.branches.map((b) => ({
      gid,
      branchId: b.branchId,
      operations: b.operations,
      participant: participantOfBranch(b.operations),
      payload: b.payload,
      opPayloads: b.opPayloads ?? null,
      dependsOn: b.dependsOn ?? null,
      maxAttempts: b.maxAttempts ?? null,
      callTimeoutMs: b.callTimeoutMs ?? null,
      status: 'pending',
      attempts: 0,
      lastError: null,
      createdAt: now,
      updatedAt: now,
      registeredBy: input.caller,
      completion: null,
    })),
  };
}
