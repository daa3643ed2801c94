/** Every scenario, in the order `npm run chaos` runs them. */
import type { Scenario } from '../scenario.ts';
import { bankCrash } from './bank-crash.ts';
import { coordinatorCrash } from './coordinator-crash.ts';
import { databaseFaults } from './database-faults.ts';
import { everything } from './everything.ts';
import { fmtEverything } from './fmt-everything.ts';
import { forcedOrderings } from './forced-orderings.ts';
import { initiatorNetwork } from './initiator-network.ts';
import { msgEverything } from './msg-everything.ts';
import { participantNetwork } from './participant-network.ts';
import { postgresEverything } from './postgres-everything.ts';
import { redisLoss } from './redis-loss.ts';
import { sagaEverything } from './saga-everything.ts';
import { xaEverything } from './xa-everything.ts';

export const SCENARIOS: readonly Scenario[] = [
  coordinatorCrash,
  bankCrash,
  participantNetwork,
  databaseFaults,
  redisLoss,
  initiatorNetwork,
  forcedOrderings,
  everything,
  sagaEverything,
  msgEverything,
  xaEverything,
  fmtEverything,
  postgresEverything,
];

export function scenarioNamed(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name);
}
