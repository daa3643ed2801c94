import { inOrder } from '../schedule.ts';
import type { Scenario } from '../scenario.ts';
import { bankCrash } from './bank-crash.ts';
import { coordinatorCrash } from './coordinator-crash.ts';
import { databaseFaults } from './database-faults.ts';
import { forcedOrderings } from './forced-orderings.ts';
import { initiatorNetwork } from './initiator-network.ts';
import { participantNetwork } from './participant-network.ts';
import { redisLoss } from './redis-loss.ts';

/** The plans of `parts` at once, each at 60% of its own rate: together they still overlap constantly. */
export function overlapping(parts: readonly Pick<Scenario, 'plan'>[]): Scenario['plan'] {
  return (random, budget, shape) => inOrder(...parts.map((part) => part.plan(random, { ...budget, intensity: budget.intensity * 0.6 }, shape)));
}

/** Every single-kind scenario but the database's, in the order `everything` draws them (the database's goes fourth). */
export const everythingBut = (database: Pick<Scenario, 'plan'>): Pick<Scenario, 'plan'>[] => [
  coordinatorCrash,
  bankCrash,
  participantNetwork,
  database,
  redisLoss,
  initiatorNetwork,
  forcedOrderings,
];

export const everything: Scenario = {
  name: 'everything',
  proves: 'All of the above at once, overlapping: the invariants do not depend on faults arriving one at a time.',
  bankErrorRate: 0.02,
  plan: overlapping(everythingBut(databaseFaults)),
};
