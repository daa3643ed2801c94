/**
 * TCC: the initiator tries each branch while the transaction is `trying`;
 * a submit logs the confirm decision, an abort or the deadline the cancel
 * decision, and phase two confirms (or cancels) every branch.
 */
import { twoPhaseRules } from '../two-phase-rules.ts';
import { TCC_WORDS } from './tcc-words.ts';

export const tccRules = twoPhaseRules('tcc', TCC_WORDS);
