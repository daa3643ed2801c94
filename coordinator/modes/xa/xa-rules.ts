/**
 * XA: the initiator has each participant run its work and XA PREPARE it
 * while the transaction is `preparing`; a submit logs the commit decision,
 * an abort or the deadline the rollback decision, and phase two has every
 * participant XA COMMIT (or XA ROLLBACK) its branch. The coordinator's side
 * is TCC's; what differs is the participants' (the SDK's XA resource).
 */
import { twoPhaseRules } from '../two-phase-rules.ts';
import { XA_WORDS } from './xa-words.ts';

export const xaRules = twoPhaseRules('xa', XA_WORDS);
