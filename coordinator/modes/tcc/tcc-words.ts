/** TCC's names: a transaction tries, then confirms or cancels; so do its branches. */
import type { ModeWords } from '../../domain/mode-words.ts';

export const TCC_WORDS: ModeWords = {
  status: { open: 'trying', committing: 'confirming', 'rolling-back': 'cancelling', committed: 'confirmed', 'rolled-back': 'cancelled' },
  branchStatus: { pending: 'prepared', committed: 'confirmed', 'rolled-back': 'cancelled' },
  op: { committing: 'confirm', 'rolling-back': 'cancel' },
};
