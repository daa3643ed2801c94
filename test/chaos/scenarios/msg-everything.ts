import type { Scenario } from '../scenario.ts';
import { everything } from './everything.ts';

/** The transfers of `everything` as transactional messages sent by the payer's bank, under the same schedule of faults. */
export const msgEverything: Scenario = {
  name: 'msg-everything',
  proves:
    "Message transfers under every fault at once: a message is delivered exactly when the payer's debit committed — every committed debit's credit applied once, no credit without its debit — and the check-back settles messages whose sender never submitted; replayed deliveries and check-backs change nothing.",
  mode: 'msg',
  bankErrorRate: everything.bankErrorRate,
  plan: (random, budget, shape) => everything.plan(random, budget, shape),
};
