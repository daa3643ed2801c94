import type { Scenario } from '../scenario.ts';
import { everything } from './everything.ts';

/** The transfers of `everything` as XA transactions of the two banks' databases, under the same schedule of faults. */
export const xaEverything: Scenario = {
  name: 'xa-everything',
  proves:
    "XA transfers under every fault at once end committed with both banks' prepared work committed once, or rolled back with nothing of either applied — MariaDB itself killed between prepare and commit included; no branch stays prepared; replayed commits, rollbacks and late prepares change nothing.",
  mode: 'xa',
  bankErrorRate: everything.bankErrorRate,
  plan: (random, budget, shape) => everything.plan(random, budget, shape),
};
