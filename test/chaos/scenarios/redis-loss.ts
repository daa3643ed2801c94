import { ALL_LINK_FAULTS, inOrder, instants, linkFault, windows } from '../schedule.ts';
import { redisLinks, scaled, type Scenario } from '../scenario.ts';
import type { LinkName } from '../../../examples/bank-transfer/cluster/cluster.ts';

export const redisLoss: Scenario = {
  name: 'redis-loss',
  proves:
    'Redis is disposable: after FLUSHALL, a SIGKILL without persistence or a faulty link, the reconciler finds every due transaction again in MySQL and each one finishes.',
  plan: (random, budget, shape) =>
    inOrder(
      instants(random, scaled(3, budget), budget.horizonMs, () => ({ kind: 'flush-redis' })),
      windows(random, { count: scaled(2, budget), horizonMs: budget.horizonMs, targets: ['redis'], minMs: 500, maxMs: 4_000, gapMs: 1_000 }, (_, downMs) => ({
        kind: 'kill-redis',
        downMs,
      })),
      windows(random, { count: scaled(4, budget), horizonMs: budget.horizonMs, targets: redisLinks(shape), minMs: 300, maxMs: 4_000 }, (link, ms) =>
        linkFault(random, link as LinkName, ms, ALL_LINK_FAULTS),
      ),
    ),
};
