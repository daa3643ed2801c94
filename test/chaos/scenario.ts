/**
 * What a chaos scenario is: a name, the one sentence it proves, and a
 * function that builds its fault schedule from a seeded random source.
 */
import type { LinkName } from '../../examples/bank-transfer/cluster/cluster.ts';
import type { Random } from '../../examples/bank-transfer/cluster/random.ts';
import type { TransferMode } from '../../examples/bank-transfer/cluster/transfer-load.ts';
import type { DatabaseServerKind } from './database-servers.ts';
import type { FaultStep } from './schedule.ts';

export interface Budget {
  /** Every fault starts inside this window, from the start of the load. */
  horizonMs: number;
  /** Scales how many faults a scenario schedules (1 = the short variant). */
  intensity: number;
}

export interface ScenarioShape {
  coordinators: number;
}

export interface Scenario {
  name: string;
  /** What a pass shows, in one sentence (printed with the results and in docs/chaos.md). */
  proves: string;
  /** Probability of an injected handler error on any bank call (a participant fault). Default 0. */
  bankErrorRate?: number;
  /**
   * How the load's transfers run: TCC transactions (default), sagas, messages, XA or FMT transactions. The harness's
   * own forced orderings are TCC, except under FMT: FMT transactions of their own (a TCC try writing an account row
   * outside FMT's global locks would be a dirty write that no FMT rollback may overwrite).
   */
  mode?: TransferMode;
  /** The server the coordinators' log and both banks' databases are on: MySQL (MariaDB, the default) or PostgreSQL. */
  database?: DatabaseServerKind;
  plan(random: Random, budget: Budget, shape: ScenarioShape): FaultStep[];
}

export interface ScenarioSize {
  transfers: number;
  concurrency: number;
  budget: Budget;
}

/** `npm run chaos`: a short variant of every scenario (about half a minute each). */
export const SHORT: ScenarioSize = { transfers: 300, concurrency: 8, budget: { horizonMs: 15_000, intensity: 1 } };
/** `npm run chaos -- --soak`: long enough that the scenarios together send well over 10,000 transfers. */
export const SOAK: ScenarioSize = { transfers: 1_400, concurrency: 12, budget: { horizonMs: 60_000, intensity: 4 } };
/** The smoke run inside `npm test`. */
export const SMOKE: ScenarioSize = { transfers: 60, concurrency: 6, budget: { horizonMs: 6_000, intensity: 0.5 } };

/** `base` faults at intensity 1, scaled, at least one. */
export function scaled(base: number, budget: Budget): number {
  return Math.max(1, Math.round(base * budget.intensity));
}

export const coordinatorIndexes = (shape: ScenarioShape): string[] => Array.from({ length: shape.coordinators }, (_, i) => String(i));

export function bankLinks(shape: ScenarioShape): LinkName[] {
  return Array.from({ length: shape.coordinators }, (_, i) => [`coordinator-${i}->bank-a`, `coordinator-${i}->bank-b`] as LinkName[]).flat();
}

/** Each coordinator's link to its log on a `server`. */
export const logLinks = (shape: ScenarioShape, server: DatabaseServerKind): LinkName[] =>
  Array.from({ length: shape.coordinators }, (_, i) => `coordinator-${i}->${server}` as LinkName);
export const redisLinks = (shape: ScenarioShape): LinkName[] => Array.from({ length: shape.coordinators }, (_, i) => `coordinator-${i}->redis` as LinkName);
export const initiatorLinks = (shape: ScenarioShape): LinkName[] =>
  Array.from({ length: shape.coordinators }, (_, i) => `transfer-${i}->coordinator-${i}` as LinkName);
