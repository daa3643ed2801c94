import { ALL_LINK_FAULTS, linkFault, windows } from '../schedule.ts';
import { initiatorLinks, scaled, type Scenario } from '../scenario.ts';
import type { LinkName } from '../../../examples/bank-transfer/cluster/cluster.ts';

export const initiatorNetwork: Scenario = {
  name: 'initiator-network',
  proves:
    'When begin, register, submit or abort are delayed, lost or answered into the void, re-sent requests are idempotent, an initiator that gives up leaves nothing behind (the deadline aborts it), and what the caller was told always matches the outcome.',
  plan: (random, budget, shape) =>
    windows(random, { count: scaled(8, budget), horizonMs: budget.horizonMs, targets: initiatorLinks(shape), minMs: 300, maxMs: 4_000 }, (link, ms) =>
      linkFault(random, link as LinkName, ms, ALL_LINK_FAULTS),
    ),
};
