/**
 * Where the looks that recovery takes at a transaction are scheduled and run
 * from: BullMQ on Redis (production: shared by every instance, survives a
 * restart of one), or timers in this process (the development coordinator,
 * and an application running the engine itself). The engine knows only its
 * RetryScheduler port; the store stays the truth either way — the
 * reconciler finds every due transaction there, whatever a backend lost.
 */
import type { RetryScheduler } from '../engine/ports.ts';

/** The recovery backends a coordinator can run. */
export type RecoveryKind = 'bullmq' | 'in-process';

export interface RecoveryBackend {
  readonly kind: RecoveryKind;
  /** The engine's port: look at a transaction again at a time. */
  readonly scheduler: RetryScheduler;
  /** Where it is, safe to log. */
  readonly description: string;
  /** Starts delivering the scheduled looks to `recover` (at most the configured number at once). */
  start(recover: (gid: string) => Promise<unknown>): void;
  /**
   * Stops taking work at once, then waits up to `graceMs` for the looks
   * running; false when some still were (their leases run out and recovery
   * takes them over). Closes its connections.
   */
  close(graceMs: number): Promise<boolean>;
  /** Looks waiting or running (metrics, tests). */
  depth(): Promise<number>;
  /** Readiness: resolves when the backend's own server answers; null when it has none. */
  readonly check: (() => Promise<void>) | null;
}
