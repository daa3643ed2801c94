/** XA's names: a transaction prepares (each branch an XA PREPARE in its participant's database), then commits or rolls back. */
import type { ModeWords } from '../../domain/mode-words.ts';

export const XA_WORDS: ModeWords = {
  status: { open: 'preparing', committing: 'committing', 'rolling-back': 'rolling-back', committed: 'committed', 'rolled-back': 'rolled-back' },
  branchStatus: { pending: 'prepared', committed: 'committed', 'rolled-back': 'rolled-back' },
  op: { committing: 'commit', 'rolling-back': 'rollback' },
};
