/** A transactional message's names: prepared, then submitted and delivered, or aborted (dropped). */
import type { ModeWords } from '../../domain/mode-words.ts';

export const MSG_WORDS: ModeWords = {
  status: { open: 'prepared', committing: 'submitted', 'rolling-back': 'aborting', committed: 'delivered', 'rolled-back': 'aborted' },
  branchStatus: { pending: 'pending', committed: 'delivered', 'rolled-back': 'dropped' },
  // Nothing is called when a message is aborted: its branches are dropped without a call.
  op: { committing: 'deliver', 'rolling-back': 'deliver' },
};
