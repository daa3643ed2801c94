import type { DatabaseServerKind } from '../database-servers.ts';
import { ALL_LINK_FAULTS, inOrder, instants, linkFault, windows, type FaultAction } from '../schedule.ts';
import { logLinks, scaled, type Scenario } from '../scenario.ts';
import type { LinkName } from '../../../examples/bank-transfer/cluster/cluster.ts';

/** The action that SIGKILLs each kind of server, and how fault windows name that server. */
const SERVER_KILL = {
  mysql: { target: 'mariadb', kill: (downMs: number): FaultAction => ({ kind: 'kill-mariadb', downMs }) },
  postgres: { target: 'postgres', kill: (downMs: number): FaultAction => ({ kind: 'kill-postgres', downMs }) },
} as const;

/** Faulty links to the log, killed sessions of the coordinators and of the banks, and the database server SIGKILLed, on a `server`. */
export function databaseFaultsOn(server: DatabaseServerKind): Scenario['plan'] {
  const { target, kill } = SERVER_KILL[server];
  return (random, budget, shape) =>
    inOrder(
      windows(random, { count: scaled(5, budget), horizonMs: budget.horizonMs, targets: logLinks(shape, server), minMs: 300, maxMs: 3_000 }, (link, ms) =>
        linkFault(random, link as LinkName, ms, ALL_LINK_FAULTS),
      ),
      instants(random, scaled(3, budget), budget.horizonMs, () => ({ kind: 'kill-db-connections', of: 'coordinators' })),
      instants(random, scaled(1, budget), budget.horizonMs, () => ({ kind: 'kill-db-connections', of: 'banks' })),
      windows(random, { count: scaled(1, budget), horizonMs: budget.horizonMs, targets: [target], minMs: 500, maxMs: 3_000, gapMs: 5_000 }, (_, downMs) =>
        kill(downMs),
      ),
    );
}

export const databaseFaults: Scenario = {
  name: 'database-faults',
  proves:
    'Losing MySQL mid-transaction — a faulty link, killed connections, MariaDB SIGKILLed and restarted — never loses a logged decision nor applies one twice: writes whose commit is unknown are retried idempotently and recovery finishes the rest.',
  plan: databaseFaultsOn('mysql'),
};
