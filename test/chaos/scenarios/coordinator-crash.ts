import { windows } from '../schedule.ts';
import { coordinatorIndexes, scaled, type Scenario } from '../scenario.ts';

export const coordinatorCrash: Scenario = {
  name: 'coordinator-crash',
  proves:
    'Coordinators SIGKILLed at any moment (even all at once) lose nothing: another instance takes over each lease and finishes every decided transaction, and those left trying are aborted at their deadline.',
  plan: (random, budget, shape) =>
    windows(
      random,
      { count: scaled(5, budget), horizonMs: budget.horizonMs, targets: coordinatorIndexes(shape), minMs: 200, maxMs: 4_000 },
      (index, downMs) => ({
        kind: 'kill-coordinator',
        index: Number(index),
        downMs,
      }),
    ),
};
