/** FMT's names: a transaction executes (each branch its SQL, with undo records), then commits or rolls back. */
import type { ModeWords } from '../../domain/mode-words.ts';

export const FMT_WORDS: ModeWords = {
  status: { open: 'executing', committing: 'committing', 'rolling-back': 'rolling-back', committed: 'committed', 'rolled-back': 'rolled-back' },
  branchStatus: { pending: 'executed', committed: 'committed', 'rolled-back': 'rolled-back' },
  op: { committing: 'commit', 'rolling-back': 'rollback' },
};
