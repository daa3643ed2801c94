import { ALL_LINK_FAULTS, linkFault, windows } from '../schedule.ts';
import { bankLinks, scaled, type Scenario } from '../scenario.ts';
import type { LinkName } from '../../../examples/bank-transfer/cluster/cluster.ts';

export const participantNetwork: Scenario = {
  name: 'participant-network',
  proves:
    'Confirm/cancel calls that are delayed, lost, reset, black-holed or refused on the way to a bank are retried with backoff until they succeed, and a call that landed although its reply was lost is applied only once.',
  plan: (random, budget, shape) =>
    windows(random, { count: scaled(8, budget), horizonMs: budget.horizonMs, targets: bankLinks(shape), minMs: 300, maxMs: 4_000 }, (link, ms) =>
      linkFault(random, link as LinkName, ms, ALL_LINK_FAULTS),
    ),
};
