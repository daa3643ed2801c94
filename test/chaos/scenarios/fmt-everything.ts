import type { Scenario } from '../scenario.ts';
import { everything } from './everything.ts';

/** The transfers of `everything` as FMT transactions (plain SQL undone from row images), under the same schedule of faults. */
export const fmtEverything: Scenario = {
  name: 'fmt-everything',
  proves:
    "FMT transfers under every fault at once end committed with both banks' executed SQL kept once, or rolled back with every row it wrote restored from its undo record — a bank SIGKILLed between its local commit and its reply, a coordinator mid-rollback, MariaDB between the phases included; no undo record is left in a bank and no global row lock stays held; a rollback before its execute refuses the late execute; replayed commits, rollbacks and late executes change nothing.",
  mode: 'fmt',
  bankErrorRate: everything.bankErrorRate,
  plan: (random, budget, shape) => everything.plan(random, budget, shape),
};
