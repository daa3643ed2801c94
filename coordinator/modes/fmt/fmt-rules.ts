/**
 * FMT: the initiator has each participant execute its ordinary SQL while
 * the transaction is `executing`; the participant's SDK keeps undo records
 * of the rows it changed and, before its local commit, takes the global
 * locks of those rows here. A submit logs the commit decision (the rows are
 * final: their locks are released at once), an abort or the deadline the
 * rollback decision (the locks are held until every branch restored its
 * rows), and phase two has every participant drop its undo records (commit)
 * or restore the rows from them (rollback). The coordinator's side is
 * TCC's, with the row locks; what differs is the participants'.
 */
import type { ModeRules } from '../mode-rules.ts';
import { twoPhaseRules } from '../two-phase-rules.ts';
import { FMT_WORDS } from './fmt-words.ts';

export const fmtRules: ModeRules = { ...twoPhaseRules('fmt', FMT_WORDS), rowLocks: true };
