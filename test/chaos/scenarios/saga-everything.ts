import type { Scenario } from '../scenario.ts';
import { everything } from './everything.ts';

/** The transfers of `everything` as sagas, under the same schedule of faults. */
export const sagaEverything: Scenario = {
  name: 'saga-everything',
  proves:
    'Saga transfers under every fault at once end succeeded with each action applied once and nothing compensated, or compensated with every action that applied undone once (a step that may have run gets its compensation — a null one if its action never ran, which then refuses that action late; a step whose prerequisites never succeeded is skipped); replayed actions and compensations change nothing.',
  mode: 'saga',
  bankErrorRate: everything.bankErrorRate,
  plan: (random, budget, shape) => everything.plan(random, budget, shape),
};
