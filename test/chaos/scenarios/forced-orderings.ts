import { inOrder, instants } from '../schedule.ts';
import { scaled, type Scenario } from '../scenario.ts';

export const forcedOrderings: Scenario = {
  name: 'forced-orderings',
  proves:
    'The barrier holds for every delivery order: a cancel before its try is a null compensation that blocks the late try, a try after a timeout abort is refused, and duplicated or reordered confirm/cancel deliveries change nothing.',
  plan: (random, budget) =>
    inOrder(
      instants(random, scaled(4, budget), budget.horizonMs, () => ({ kind: 'cancel-before-try' })),
      instants(random, scaled(3, budget), budget.horizonMs, () => ({ kind: 'try-after-timeout' })),
      instants(random, scaled(3, budget), budget.horizonMs, () => ({ kind: 'try-cancel-race' })),
      instants(random, scaled(4, budget), budget.horizonMs, () => ({ kind: 'replay-finished', count: 5 })),
      instants(random, scaled(4, budget), budget.horizonMs, () => ({ kind: 'replay-in-flight', count: 5 })),
    ),
};
