/**
 * Where an FMT transfer's time goes, from the FMT banks' own timings
 * (fmt-bank.ts, GET /bench/phases): the running totals of every phase —
 * requests by route, the execute handler, each kind of SQL statement, the
 * row lock requests to the coordinator — read around each step and turned
 * into calls and milliseconds per transaction. Wall time, not CPU: a phase's
 * time includes its round trip and any wait (for a row lock, a connection, an
 * event loop). Pure: no I/O here.
 */

/** Calls and total milliseconds of each phase, by name. */
export type PhaseTotals = Record<string, { count: number; ms: number }>;

/** What happened between two readings of the same totals: phases with no call in between are left out. */
export function phaseDelta(before: PhaseTotals, after: PhaseTotals): PhaseTotals {
  const out: PhaseTotals = {};
  for (const [phase, total] of Object.entries(after)) {
    const count = total.count - (before[phase]?.count ?? 0);
    if (count > 0) out[phase] = { count, ms: total.ms - (before[phase]?.ms ?? 0) };
  }
  return out;
}

/** The totals of several processes (both banks) as one. */
export function sumPhases(all: readonly PhaseTotals[]): PhaseTotals {
  const out: PhaseTotals = {};
  for (const totals of all) {
    for (const [phase, { count, ms }] of Object.entries(totals)) {
      const entry = (out[phase] ??= { count: 0, ms: 0 });
      entry.count += count;
      entry.ms += ms;
    }
  }
  return out;
}

/**
 * The phases in the order a transfer's requests run them at a bank, each
 * under its op (`execute: …`, `commit: …`; fmt-bank.ts): the request as a
 * whole, then its statements, the execute handler (whose own statements —
 * the images and the update — are nested in it), the lock request, and what
 * is left of the request; the undo records' deletion after the commit; the
 * floor's request last. Phases not named here (a rollback, an error reply, a
 * catalog read) follow, by name.
 */
export const PHASE_ORDER: readonly string[] = [
  'execute: request',
  'execute: sql set isolation',
  'execute: sql begin',
  'execute: sql barrier',
  'execute: handler (statement analysis, images, update)',
  'execute: sql before image (locking read)',
  'execute: sql business update',
  'execute: sql after image (read by key)',
  'execute: sql undo record',
  'execute: row lock request to the coordinator',
  'execute: sql commit',
  'execute: rest of the request (HTTP, signature, JavaScript)',
  'commit: request',
  'commit: sql set isolation',
  'commit: sql begin',
  'commit: sql barrier',
  'commit: sql commit',
  'commit: rest of the request (HTTP, signature, JavaScript)',
  'commit: sql undo delete (batched, after the reply)',
  'plain: request',
  'plain: sql begin',
  'plain: sql business update',
  'plain: sql commit',
  'plain: rest of the request (HTTP, signature, JavaScript)',
];

export interface PhaseRow {
  phase: string;
  /** Calls of the phase per transaction (both banks together). */
  callsPerTx: number;
  /** Mean wall time of one call. */
  meanMs: number;
  /** Wall time per transaction, both banks' calls summed (concurrent calls both count). */
  msPerTx: number;
}

/** Phase names in PHASE_ORDER, the others after them by name. */
export function sortPhases(names: readonly string[]): string[] {
  const rank = (phase: string) => {
    const i = PHASE_ORDER.indexOf(phase);
    return i < 0 ? PHASE_ORDER.length : i;
  };
  return [...names].sort((x, y) => rank(x) - rank(y) || x.localeCompare(y));
}

/** One row per phase, in PHASE_ORDER (sortPhases), for `transactions` transactions; none without any. */
export function phaseRows(phases: PhaseTotals, transactions: number): PhaseRow[] {
  if (!(transactions > 0)) return [];
  return sortPhases(Object.keys(phases)).map((phase) => {
    const { count, ms } = phases[phase]!;
    return { phase, callsPerTx: count / transactions, meanMs: ms / count, msPerTx: ms / transactions };
  });
}
