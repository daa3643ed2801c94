/**
 * The log stores the model's mode-neutral status names (`committed`,
 * `rolling-back`, …); the chaos oracle reads it directly and reports in
 * TCC's words, as the API and the bank example do.
 */
import { OPEN_STATUSES, TERMINAL_STATUSES, wordsFor, type GlobalStatus } from '@dtx/coordinator';

const TCC = wordsFor('tcc');

/** A status read from the log, in TCC's words. */
export function tccWord(status: string): string {
  return TCC.status[status as GlobalStatus] ?? status;
}

/** Statuses as the log stores them: terminal, and those of phase two (open, past the decision). */
export const LOGGED: { terminal: readonly GlobalStatus[]; phaseTwo: readonly GlobalStatus[] } = {
  terminal: TERMINAL_STATUSES,
  phaseTwo: OPEN_STATUSES.filter((status) => status !== 'open'),
};
