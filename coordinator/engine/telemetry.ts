/**
 * What the engine reports as it works, for metrics and alerts. The engine
 * only calls this interface; Prometheus (metrics/) and the alert hook
 * (alerts/) implement it, so the engine never imports either.
 *
 * Implementations must be cheap and must not throw: they run on the
 * transaction's own path (wrap them with `guardTelemetry` when wiring).
 */
import type { Logger } from 'pino';
import type { BranchOutcome } from '@dtx/protocol';
import type { GlobalStatus, Mode, Operation, PhaseTwoStatus, TerminalStatus } from '../domain/transaction.ts';

/** A transaction was created (a re-sent begin of an existing gid is not one). */
export interface BeginEvent {
  mode: Mode;
}

/** A transaction reached its terminal status. */
export interface FinishEvent {
  gid: string;
  mode: Mode;
  status: TerminalStatus;
  /** When the decision was logged; null when unknown (e.g. closed by an operator while open). */
  decidedAt: number | null;
  /** When the terminal status was recorded. */
  at: number;
  /** `operator` when an operator action ended it (resolve the last branch, close). */
  by: 'phase-two' | 'operator';
}

/** One phase-two call ended, whatever its outcome. */
export interface BranchCallEvent {
  mode: Mode;
  op: Operation;
  outcome: BranchOutcome;
  durationMs: number;
}

/** A phase-two round was recorded incomplete and the next round scheduled. */
export interface RetryEvent {
  gid: string;
  mode: Mode;
  /** The phase two that is incomplete. */
  status: PhaseTwoStatus;
  retryCount: number;
  nextRetryAt: number;
}

/** A recorded round (or an unanswered check-back) raised the needs-attention flag (or changed its reason). */
export interface AttentionEvent {
  gid: string;
  mode: Mode;
  status: GlobalStatus;
  reason: string;
  retryCount: number;
  at: number;
}

export interface Telemetry {
  onBegin(event: BeginEvent): void;
  onFinish(event: FinishEvent): void;
  onBranchCall(event: BranchCallEvent): void;
  onRetry(event: RetryEvent): void;
  onAttention(event: AttentionEvent): void;
}

export const noopTelemetry: Telemetry = {
  onBegin: () => undefined,
  onFinish: () => undefined,
  onBranchCall: () => undefined,
  onRetry: () => undefined,
  onAttention: () => undefined,
};

/**
 * One Telemetry that reports to each of `observers` (each may implement only
 * part of the interface). An observer that throws is logged and skipped: a
 * metrics or alert bug must never fail a transaction.
 */
export function fanOutTelemetry(logger: Logger, ...observers: Partial<Telemetry>[]): Telemetry {
  const each = <K extends keyof Telemetry>(name: K) =>
    ((event: Parameters<Telemetry[K]>[0]) => {
      for (const observer of observers) {
        const handler = observer[name] as ((e: typeof event) => void) | undefined;
        if (!handler) continue;
        try {
          handler.call(observer, event);
        } catch (error) {
          logger.error({ err: error, hook: name }, 'telemetry observer failed');
        }
      }
    }) as Telemetry[K];
  return {
    onBegin: each('onBegin'),
    onFinish: each('onFinish'),
    onBranchCall: each('onBranchCall'),
    onRetry: each('onRetry'),
    onAttention: each('onAttention'),
  };
}
