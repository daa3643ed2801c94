/**
 * A saga's steps from their wire form to branch registrations: the action
 * and compensation URLs as the branch's operations, each payload as the
 * exact JSON text the caller sent (the compensation's defaults to the
 * action's), and the step graph spelled out — a step that names no
 * prerequisites depends on the one before it.
 */
import type { BranchRegistration } from '../domain/transaction.ts';
import { rawPayloadsOf } from './raw-payloads.ts';
import type { SagaStepBody } from './schemas.ts';

export function sagaRegistrations(steps: readonly SagaStepBody[], rawJson: string | undefined): BranchRegistration[] {
  const raw = rawJson === undefined ? [] : rawPayloadsOf(rawJson, 'steps');
  return steps.map((step, index) => {
    const found = raw[index];
    const action = found?.get('action.payload') ?? JSON.stringify(step.action.payload ?? null);
    const compensate = found?.get('compensate.payload') ?? (step.compensate.payload === undefined ? action : JSON.stringify(step.compensate.payload));
    return {
      branchId: step.id,
      operations: { action: step.action.url, compensate: step.compensate.url },
      payload: action,
      opPayloads: compensate === action ? null : { compensate },
      dependsOn: step.dependsOn ?? (index === 0 ? [] : [steps[index - 1]!.id]),
      maxAttempts: step.retryLimit === undefined ? null : step.retryLimit + 1,
      callTimeoutMs: step.timeoutMs ?? null,
    };
  });
}
