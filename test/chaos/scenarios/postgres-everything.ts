import type { Scenario } from '../scenario.ts';
import { databaseFaultsOn } from './database-faults.ts';
import { everything, everythingBut, overlapping } from './everything.ts';

/** The TCC transfers and faults of `everything`, on a system whose log and banks are all on PostgreSQL. */
export const postgresEverything: Scenario = {
  name: 'postgres-everything',
  proves:
    "Everything above at once with the coordinators' log and both banks on PostgreSQL: a faulty link to the log, the system's sessions ended by pg_terminate_backend and the PostgreSQL server SIGKILLed (every session's process with it) and restarted never lose a logged decision nor apply a confirm or cancel twice — the barrier holds on PostgreSQL as on MySQL.",
  database: 'postgres',
  bankErrorRate: everything.bankErrorRate,
  plan: overlapping(everythingBut({ plan: databaseFaultsOn('postgres') })),
};
