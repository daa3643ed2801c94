/**
 * The fuzz's timing check, as pure logic: which requests cost far more than
 * others of their kind measured in the same run. A parser that backtracks
 * on some input (a regular expression gone quadratic on a run of spaces)
 * shows as one request of an otherwise cheap kind costing hundreds of ms.
 *
 * A request's cost is the CPU time the fuzz's process spent while it was
 * in flight (process.cpuUsage, every thread): the coordinator and the
 * participants run in that process, and the fuzz does nothing else
 * meanwhile. CPU time is not stretched by other processes on a shared
 * machine, nor by waits on the databases, as wall time is.
 *
 * The bound of a kind is robust to the noise that remains (garbage
 * collection, a reconciler tick landing in a request) and to kinds whose
 * requests legitimately differ:
 *
 *   median + max(slack, spread × MAD) + size × per-KiB allowance
 *
 * - the median and the median absolute deviation (MAD) of the kind ignore
 *   any minority of outliers, the slow request itself included;
 * - `slack` (a few ms) is what any request may cost beyond its kind's
 *   median, however uniform the kind; a broader kind (other routes of the
 *   target) gets a larger slack, as routes differ by a store transaction
 *   or two (a refused registration reads under lock, a refused submit does
 *   one guarded write): still a tenth of what a quadratic parse costs;
 * - the size allowance lets a request's cost grow linearly with its bytes
 *   (a large body is read, scanned and parsed), far above what linear work
 *   costs, far below what a quadratic parse of even 16 KiB costs.
 *
 * A request above its bound is only a suspect: it is sent again, and only
 * when the fastest of its measurements is still above the bound is it a
 * finding (noise adds time; it does not strike every repetition).
 */

/** The check's constants; see the module's comment. */
export const TIMING = {
  /** Samples a kind needs before its median is trusted; fewer and the next, broader kind is used. */
  minSamples: 8,
  /** What a request may cost beyond its route's median whatever the spread (ms). */
  slackMs: 5,
  /** The same, when the request is compared with other routes of its target (ms). */
  broadSlackMs: 20,
  /** Spread allowed beyond the median, in median absolute deviations. */
  spreadMads: 6,
  /**
   * Allowance for the request's size (ms per KiB sent): several times what
   * linear work costs per byte on a slow shared machine (a large body is
   * read, scanned, parsed and validated for up to 0.4 ms per KiB), a
   * fifteenth of what the quadratic parse of a 16 KiB header cost.
   */
  msPerKiB: 1,
  /** Times a suspect is sent again; the fastest of all its measurements is judged. */
  repeats: 2,
} as const;

/**
 * The kinds a request's cost is compared within, narrowest first: its route
 * and answer; every route of its target with that answer; every route of
 * its target with an answer of that class (a refusal costs about the same
 * whatever its route and status). A kind with too few samples gives way to
 * the next; a request with none is not judged. Classes are never mixed: an
 * accepted write costs the log's work, an unanswered request the background
 * work of the time it waited.
 */
export function costKinds(target: string, route: string, answer: string): string[] {
  const kinds = [`${route} → ${answer}`, `${target} → ${answer}`];
  if (/^\d{3}$/.test(answer)) kinds.push(`${target} → ${answer[0]}xx`);
  return kinds;
}

export interface CostBound {
  kind: string;
  samples: number;
  medianMs: number;
  madMs: number;
  boundMs: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** The median absolute deviation from `center`. */
export function medianAbsoluteDeviation(values: readonly number[], center: number): number {
  return median(values.map((v) => Math.abs(v - center)));
}

/** The costs measured in one run, by kind. */
export class CostBook {
  readonly #samples = new Map<string, number[]>();
  /** Each kind's median and MAD, computed once per kind while no cost is added (a run judges thousands of requests). */
  readonly #spread = new Map<string, { medianMs: number; madMs: number }>();

  /** Records one measured request under each of its kinds. */
  add(kinds: readonly string[], costMs: number): void {
    for (const kind of kinds) {
      const list = this.#samples.get(kind);
      if (list) list.push(costMs);
      else this.#samples.set(kind, [costMs]);
      this.#spread.delete(kind);
    }
  }

  /** The bound for a request of `bytes` bytes, from its narrowest kind with enough samples; null when none has. */
  bound(kinds: readonly string[], bytes: number): CostBound | null {
    for (const [index, kind] of kinds.entries()) {
      const samples = this.#samples.get(kind) ?? [];
      if (samples.length < TIMING.minSamples) continue;
      let spread = this.#spread.get(kind);
      if (!spread) {
        const center = median(samples);
        spread = { medianMs: center, madMs: medianAbsoluteDeviation(samples, center) };
        this.#spread.set(kind, spread);
      }
      const { medianMs, madMs } = spread;
      const slackMs = index === 0 ? TIMING.slackMs : TIMING.broadSlackMs;
      const boundMs = medianMs + Math.max(slackMs, TIMING.spreadMads * madMs) + (bytes / 1024) * TIMING.msPerKiB;
      return { kind, samples: samples.length, medianMs, madMs, boundMs };
    }
    return null;
  }
}
