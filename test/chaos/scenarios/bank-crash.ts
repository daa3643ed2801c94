import { windows } from '../schedule.ts';
import { scaled, type Scenario } from '../scenario.ts';

export const bankCrash: Scenario = {
  name: 'bank-crash',
  proves:
    'A participant SIGKILLed before, during or after its local commit, or failing with a handler error (2% of calls), is retried until each confirm/cancel takes effect exactly once — an error is never taken for a success.',
  bankErrorRate: 0.02,
  plan: (random, budget) =>
    windows(random, { count: scaled(4, budget), horizonMs: budget.horizonMs, targets: ['a', 'b'], minMs: 200, maxMs: 3_000, gapMs: 1_000 }, (bank, downMs) => ({
      kind: 'kill-bank',
      bank: bank as 'a' | 'b',
      downMs,
    })),
};
