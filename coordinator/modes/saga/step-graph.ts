/**
 * A saga's steps as a dependency graph, for the saga mode's rules: checking
 * a graph at submit, and which steps phase two may call next — actions
 * forward once their prerequisites are done, compensations backward once
 * every step that depends on them is undone (reverse graph order).
 *
 * Steps without declared dependencies run in the order given: each depends
 * on the one before (`inOrder`). Pure functions; the rules read the state of
 * each step from its branch row.
 */

export interface StepNode {
  id: string;
  /** The steps whose actions must have succeeded before this one's action runs. */
  dependsOn: readonly string[];
}

/** Where a step stands, as its branch row shows it. */
export interface StepState extends StepNode {
  /** Its action succeeded. */
  done: boolean;
  /** Its action was called at least once: it ran, or may have run (a timeout, a lost reply, a refusal). */
  attempted: boolean;
  /** Its compensation succeeded (or it was marked as needing none). */
  compensated: boolean;
}

export type GraphProblem =
  { code: 'DUPLICATE_STEP'; step: string } | { code: 'UNKNOWN_STEP'; step: string; dependsOn: string } | { code: 'CYCLE'; steps: string[] };

/** Each step depends on the one before it: the default, sequential saga. */
export function inOrder(ids: readonly string[]): StepNode[] {
  return ids.map((id, index) => ({ id, dependsOn: index === 0 ? [] : [ids[index - 1]!] }));
}

/** The first problem of a graph (a step twice, a prerequisite that is not a step, a cycle), or null when it can run. */
export function graphProblem(steps: readonly StepNode[]): GraphProblem | null {
  const ids = new Set<string>();
  for (const step of steps) {
    if (ids.has(step.id)) return { code: 'DUPLICATE_STEP', step: step.id };
    ids.add(step.id);
  }
  for (const step of steps) {
    const unknown = step.dependsOn.find((id) => !ids.has(id));
    if (unknown !== undefined) return { code: 'UNKNOWN_STEP', step: step.id, dependsOn: unknown };
  }
  const cycle = findCycle(steps);
  return cycle ? { code: 'CYCLE', steps: cycle } : null;
}

/** A cycle as the steps along it (the first repeated at the end), found by depth-first search; null if none. */
function findCycle(steps: readonly StepNode[]): string[] | null {
  const byId = new Map(steps.map((step) => [step.id, step]));
  const finished = new Set<string>();
  const path: string[] = [];
  const onPath = new Set<string>();
  const visit = (id: string): string[] | null => {
    if (finished.has(id)) return null;
    if (onPath.has(id)) return [...path.slice(path.indexOf(id)), id];
    onPath.add(id);
    path.push(id);
    for (const next of byId.get(id)?.dependsOn ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    path.pop();
    onPath.delete(id);
    finished.add(id);
    return null;
  };
  for (const step of steps) {
    const cycle = visit(step.id);
    if (cycle) return cycle;
  }
  return null;
}

/** Steps whose action may be called now: not done, every prerequisite done. A step being retried stays ready. */
export function readyForward(steps: readonly StepState[]): string[] {
  const done = new Set(steps.filter((step) => step.done).map((step) => step.id));
  return steps.filter((step) => !step.done && step.dependsOn.every((id) => done.has(id))).map((step) => step.id);
}

/** A step whose action ran or may have run has something to undo (a null compensation when it had not). */
export function needsCompensation(step: StepState): boolean {
  return (step.done || step.attempted) && !step.compensated;
}

/**
 * Steps whose compensation may be called now: they need one, and every step
 * that depends on them needs none any more (compensated, or never ran) —
 * the reverse of the order their actions ran in.
 */
export function readyBackward(steps: readonly StepState[]): string[] {
  const pending = new Set(steps.filter(needsCompensation).map((step) => step.id));
  const blocked = new Set(steps.filter((step) => pending.has(step.id)).flatMap((step) => step.dependsOn));
  return steps.filter((step) => pending.has(step.id) && !blocked.has(step.id)).map((step) => step.id);
}
