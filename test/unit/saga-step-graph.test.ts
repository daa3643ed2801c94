/**
 * A saga's step graph (coordinator/modes/saga/step-graph.ts): checked at
 * submit, actions forward once their prerequisites are done, compensations
 * backward in reverse graph order, for every step that ran or may have run.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  graphProblem,
  inOrder,
  needsCompensation,
  readyBackward,
  readyForward,
  type StepNode,
  type StepState,
} from '../../coordinator/modes/saga/step-graph.ts';

const state = (node: StepNode, overrides: Partial<StepState> = {}): StepState => ({ ...node, done: false, attempted: false, compensated: false, ...overrides });
const node = (id: string, ...dependsOn: string[]): StepNode => ({ id, dependsOn });
/** a ← b, a ← c, b & c ← d */
const DIAMOND = [node('a'), node('b', 'a'), node('c', 'a'), node('d', 'b', 'c')];

describe('graphProblem', () => {
  it('accepts a sequence, a diamond and independent steps', () => {
    expect(graphProblem(inOrder(['1', '2', '3']))).toBeNull();
    expect(graphProblem(DIAMOND)).toBeNull();
    expect(graphProblem([node('x'), node('y')])).toBeNull();
    expect(graphProblem([])).toBeNull();
  });

  it('refuses a step twice, a prerequisite that is no step, and cycles (naming the steps along them)', () => {
    expect(graphProblem([node('a'), node('a')])).toEqual({ code: 'DUPLICATE_STEP', step: 'a' });
    expect(graphProblem([node('a'), node('b', 'z')])).toEqual({ code: 'UNKNOWN_STEP', step: 'b', dependsOn: 'z' });
    expect(graphProblem([node('a', 'a')])).toEqual({ code: 'CYCLE', steps: ['a', 'a'] });
    expect(graphProblem([node('a', 'c'), node('b', 'a'), node('c', 'b'), node('d')])).toEqual({ code: 'CYCLE', steps: ['a', 'c', 'b', 'a'] });
  });
});

describe('inOrder', () => {
  it('makes each step depend on the one before', () => {
    expect(inOrder(['s1', 's2', 's3'])).toEqual([node('s1'), node('s2', 's1'), node('s3', 's2')]);
  });
});

describe('readyForward', () => {
  it('a sequence runs one step at a time; a step being retried stays ready', () => {
    const [s1, s2, s3] = inOrder(['s1', 's2', 's3']).map((n) => state(n));
    expect(readyForward([s1!, s2!, s3!])).toEqual(['s1']);
    expect(readyForward([{ ...s1!, attempted: true }, s2!, s3!])).toEqual(['s1']);
    expect(readyForward([{ ...s1!, done: true, attempted: true }, s2!, s3!])).toEqual(['s2']);
  });

  it('independent branches of a graph run together; a join waits for all its prerequisites', () => {
    const [a, b, c, d] = DIAMOND.map((n) => state(n));
    expect(readyForward([a!, b!, c!, d!])).toEqual(['a']);
    expect(readyForward([{ ...a!, done: true }, b!, c!, d!])).toEqual(['b', 'c']);
    expect(readyForward([{ ...a!, done: true }, { ...b!, done: true }, c!, d!])).toEqual(['c']);
    expect(readyForward([{ ...a!, done: true }, { ...b!, done: true }, { ...c!, done: true }, d!])).toEqual(['d']);
  });
});

describe('readyBackward', () => {
  it('compensates every step that ran or may have run, the failed one first, in reverse order; never one that did not run', () => {
    const [s1, s2, s3, s4] = inOrder(['s1', 's2', 's3', 's4']).map((n) => state(n));
    // s3's action was refused (or timed out): it may have run, so it is compensated too; s4 never ran.
    const steps = [{ ...s1!, done: true, attempted: true }, { ...s2!, done: true, attempted: true }, { ...s3!, attempted: true }, s4!];
    expect(steps.map(needsCompensation)).toEqual([true, true, true, false]);
    expect(readyBackward(steps)).toEqual(['s3']);
    steps[2] = { ...steps[2]!, compensated: true };
    expect(readyBackward(steps)).toEqual(['s2']);
    steps[1] = { ...steps[1]!, compensated: true };
    expect(readyBackward(steps)).toEqual(['s1']);
    steps[0] = { ...steps[0]!, compensated: true };
    expect(readyBackward(steps)).toEqual([]);
  });

  it('in a graph, the steps that depend on another are undone before it', () => {
    const [a, b, c, d] = DIAMOND.map((n) => state(n));
    const ran = { done: true, attempted: true };
    expect(readyBackward([{ ...a!, ...ran }, { ...b!, ...ran }, { ...c!, attempted: true }, d!])).toEqual(['b', 'c']);
    expect(readyBackward([{ ...a!, ...ran }, { ...b!, ...ran, compensated: true }, { ...c!, attempted: true }, d!])).toEqual(['c']);
    expect(readyBackward([{ ...a!, ...ran }, { ...b!, ...ran, compensated: true }, { ...c!, attempted: true, compensated: true }, d!])).toEqual(['a']);
  });

  it('property: any graph run forward to any point is undone completely, each step after every step that depends on it', () => {
    const graph = fc.integer({ min: 1, max: 9 }).chain((size) =>
      fc.tuple(
        // Each step may depend on any earlier one: always acyclic.
        fc.tuple(...Array.from({ length: size }, (_, i) => fc.subarray(Array.from({ length: i }, (_, j) => j)))),
        fc.integer({ min: 0, max: size }),
        fc.boolean(),
      ),
    );
    fc.assert(
      fc.property(graph, ([deps, forwardRounds, lastInDoubt]) => {
        const steps: StepState[] = deps.map((d, i) => state(node(`s${i}`, ...d.map((j) => `s${j}`))));
        expect(graphProblem(steps)).toBeNull();
        // Run forward some rounds (every ready action succeeds), then one round whose actions are in doubt.
        for (let round = 0; round < forwardRounds; round++) {
          const ready = new Set(readyForward(steps));
          steps.forEach((s, i) => ready.has(s.id) && (steps[i] = { ...s, done: true, attempted: true }));
        }
        if (lastInDoubt) {
          const ready = new Set(readyForward(steps));
          steps.forEach((s, i) => ready.has(s.id) && (steps[i] = { ...s, attempted: true }));
        }
        const order: string[] = [];
        for (let guard = 0; steps.some(needsCompensation); guard++) {
          expect(guard).toBeLessThan(steps.length + 1);
          const ready = readyBackward(steps);
          expect(ready.length).toBeGreaterThan(0);
          order.push(...ready);
          const undone = new Set(ready);
          steps.forEach((s, i) => undone.has(s.id) && (steps[i] = { ...s, compensated: true }));
        }
        // Every step that ran or may have run was undone, none that did not, and no step before one depending on it.
        expect(new Set(order)).toEqual(new Set(steps.filter((s) => s.attempted || s.done).map((s) => s.id)));
        for (const step of steps) {
          for (const prerequisite of step.dependsOn) {
            if (order.includes(step.id)) expect(order.indexOf(prerequisite)).toBeGreaterThan(order.indexOf(step.id));
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
