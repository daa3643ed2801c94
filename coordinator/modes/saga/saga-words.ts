/** A saga's names: it runs its steps' actions, then succeeds, or compensates what ran. */
import type { ModeWords } from '../../domain/mode-words.ts';

export const SAGA_WORDS: ModeWords = {
  status: { open: 'created', committing: 'running', 'rolling-back': 'compensating', committed: 'succeeded', 'rolled-back': 'compensated' },
  branchStatus: { pending: 'pending', committed: 'succeeded', 'rolled-back': 'compensated' },
  op: { committing: 'action', 'rolling-back': 'compensate' },
};
