/**
 * Fault schedules: plain data built up front from a seed (so a run is
 * reproducible from its seed and can be printed before it starts), and the
 * generators scenarios build them with. Performing a step is faults.ts's job.
 */
import type { BankName, LinkName } from '../../examples/bank-transfer/cluster/cluster.ts';
import type { Random } from '../../examples/bank-transfer/cluster/random.ts';
import type { ProxyMode } from './fault-proxy.ts';

export type LinkFault = Exclude<ProxyMode, 'pass'>;

export type FaultAction =
  /** SIGKILL a coordinator process, restart it `downMs` later. */
  | { kind: 'kill-coordinator'; index: number; downMs: number }
  /** SIGKILL a bank process, restart it `downMs` later. */
  | { kind: 'kill-bank'; bank: BankName; downMs: number }
  /** SIGKILL Redis (no persistence: every key is lost), restart it `downMs` later. */
  | { kind: 'kill-redis'; downMs: number }
  /** FLUSHALL: the queue loses every job. */
  | { kind: 'flush-redis' }
  /** SIGKILL MariaDB, restart it on the same data `downMs` later. */
  | { kind: 'kill-mariadb'; downMs: number }
  /** SIGKILL PostgreSQL (the server and every session's process), restart it on the same data `downMs` later. */
  | { kind: 'kill-postgres'; downMs: number }
  /** End every database session of the coordinators (or of the banks): KILL CONNECTION, pg_terminate_backend. */
  | { kind: 'kill-db-connections'; of: 'coordinators' | 'banks' }
  /** Put a link's proxy in a fault mode for `durationMs`, then back to pass. */
  | { kind: 'link'; link: LinkName; mode: LinkFault; delayMs: number; durationMs: number }
  /** A branch's signed cancel before its try: null compensation, then the late try must be refused. */
  | { kind: 'cancel-before-try' }
  /** A transaction left to time out, then its tries arrive: both must be refused. */
  | { kind: 'try-after-timeout' }
  /** A try and its cancel sent at the same moment. */
  | { kind: 'try-cancel-race' }
  /** Confirm/cancel/try re-delivered, shuffled, to branches of finished transactions: must change nothing. */
  | { kind: 'replay-finished'; count: number }
  /** The decided op delivered directly to branches of transactions still in phase two, racing the coordinator. */
  | { kind: 'replay-in-flight'; count: number };

export interface FaultStep {
  /** When to start, in ms from the start of the schedule. */
  atMs: number;
  action: FaultAction;
}

/** The fault's kind as counted in reports: `kill-coordinator`, `bank-link:reset`, … */
export function faultKind(action: FaultAction): string {
  if (action.kind !== 'link') return action.kind;
  const [, to] = action.link.split('->') as [string, string];
  const side = action.link.startsWith('transfer-') ? 'initiator-link' : to.startsWith('bank-') ? 'bank-link' : `${to}-link`;
  return `${side}:${action.mode}`;
}

/** One line per step, for logs and for reproducing a run by hand. */
export function describeStep(step: FaultStep): string {
  const a = step.action;
  const at = `+${(step.atMs / 1000).toFixed(1)}s`.padStart(8);
  switch (a.kind) {
    case 'kill-coordinator':
      return `${at} SIGKILL coordinator-${a.index}, restart after ${a.downMs} ms`;
    case 'kill-bank':
      return `${at} SIGKILL bank-${a.bank}, restart after ${a.downMs} ms`;
    case 'kill-redis':
      return `${at} SIGKILL redis, restart after ${a.downMs} ms`;
    case 'kill-mariadb':
      return `${at} SIGKILL mariadb, restart after ${a.downMs} ms`;
    case 'kill-postgres':
      return `${at} SIGKILL postgres, restart after ${a.downMs} ms`;
    case 'link':
      return `${at} ${a.link} ${a.mode}${a.mode === 'delay' ? ` ${a.delayMs} ms` : ''} for ${a.durationMs} ms`;
    case 'kill-db-connections':
      return `${at} kill the ${a.of}' database sessions`;
    case 'replay-finished':
    case 'replay-in-flight':
      return `${at} ${a.kind} ×${a.count}`;
    default:
      return `${at} ${a.kind}`;
  }
}

export interface WindowSpec {
  count: number;
  horizonMs: number;
  /** What a fault applies to; two windows on the same target never overlap. */
  targets: readonly string[];
  minMs: number;
  maxMs: number;
  /** Quiet time kept between two windows on the same target. */
  gapMs?: number;
}

/**
 * Up to `count` fault windows, each on one target for a random duration,
 * all inside the horizon, never two at once on one target (the second would
 * be cut short by the first one's restore). Fewer if the horizon is full.
 */
export function windows(random: Random, spec: WindowSpec, make: (target: string, durationMs: number) => FaultAction): FaultStep[] {
  const taken = new Map<string, { from: number; to: number }[]>();
  const gap = spec.gapMs ?? 300;
  const steps: FaultStep[] = [];
  for (let i = 0; i < spec.count; i++) {
    for (let attempt = 0; attempt < 20; attempt++) {
      const target = random.pick(spec.targets);
      const duration = random.int(spec.minMs, spec.maxMs);
      const at = random.int(0, Math.max(0, spec.horizonMs - duration));
      const busy = taken.get(target) ?? [];
      if (busy.some((w) => at < w.to + gap && w.from < at + duration + gap)) continue;
      busy.push({ from: at, to: at + duration });
      taken.set(target, busy);
      steps.push({ atMs: at, action: make(target, duration) });
      break;
    }
  }
  return steps;
}

/** `count` one-off actions at random times inside the horizon. */
export function instants(random: Random, count: number, horizonMs: number, make: () => FaultAction): FaultStep[] {
  return Array.from({ length: count }, () => ({ atMs: random.int(0, horizonMs), action: make() }));
}

/** A proxy fault mode with its delay, drawn from `modes`. */
export function linkFault(random: Random, link: LinkName, durationMs: number, modes: readonly LinkFault[]): FaultAction {
  const mode = random.pick(modes);
  return { kind: 'link', link, mode, delayMs: mode === 'delay' ? random.int(50, 1500) : 0, durationMs };
}

export const ALL_LINK_FAULTS: readonly LinkFault[] = ['delay', 'drop', 'reset', 'blackhole', 'refuse'];

/** Steps in time order (stable for equal times). */
export function inOrder(...groups: FaultStep[][]): FaultStep[] {
  return groups.flat().sort((a, b) => a.atMs - b.atMs);
}
