import { ALL_LINK_FAULTS, inOrder, instants, linkFault, windows } from '../schedule.ts';
import { mysqlLinks, scaled, type Scenario } from '../scenario.ts';
import type { LinkName } from '../../../examples/bank-transfer/cluster/cluster.ts';

export const databaseFaults: Scenario = {
  name: 'database-faults',
  proves:
    'Losing MySQL mid-transaction — a faulty link, killed connections, MariaDB SIGKILLed and restarted — never loses a logged decision nor applies one twice: writes whose commit is unknown are retried idempotently and recovery finishes the rest.',
  plan: (random, budget, shape) =>
    inOrder(
      windows(random, { count: scaled(5, budget), horizonMs: budget.horizonMs, targets: mysqlLinks(shape), minMs: 300, maxMs: 3_000 }, (link, ms) =>
        linkFault(random, link as LinkName, ms, ALL_LINK_FAULTS),
      ),
      instants(random, scaled(3, budget), budget.horizonMs, () => ({ kind: 'kill-db-connections', of: 'coordinators' })),
      instants(random, scaled(1, budget), budget.horizonMs, () => ({ kind: 'kill-db-connections', of: 'banks' })),
      windows(random, { count: scaled(1, budget), horizonMs: budget.horizonMs, targets: ['mariadb'], minMs: 500, maxMs: 3_000, gapMs: 5_000 }, (_, downMs) => ({
        kind: 'kill-mariadb',
        downMs,
      })),
    ),
};
