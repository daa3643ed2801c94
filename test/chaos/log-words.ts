/**
 * The log stores the model's mode-neutral status names (`committed`,
 * `rolling-back`, …); the chaos oracle reads it directly and reports in the
 * transaction's mode's words, as the API and the bank example do: TCC's
 * (`confirmed`) for TCC transfers and the forced orderings, a saga's
 * (`succeeded`, `compensated`) for saga transfers.
 */
import { OPEN_STATUSES, TERMINAL_STATUSES, wordsFor, type GlobalStatus } from '@dtx/coordinator';

const TCC = wordsFor('tcc');
const SAGA = wordsFor('saga');

/** A status read from the log, in TCC's words. */
export function tccWord(status: string): string {
  return TCC.status[status as GlobalStatus] ?? status;
}

/** A status read from the log, in a saga's words. */
export function sagaWord(status: string): string {
  return SAGA.status[status as GlobalStatus] ?? status;
}

/** A status read from the log, in the words of the transaction's mode (its `mode` column); TCC's for any other mode. */
export function logWord(mode: string, status: string): string {
  return mode === 'saga' ? sagaWord(status) : tccWord(status);
}

/** Statuses as the log stores them: terminal, and those of phase two (open, past the decision). */
export const LOGGED: { terminal: readonly GlobalStatus[]; phaseTwo: readonly GlobalStatus[] } = {
  terminal: TERMINAL_STATUSES,
  phaseTwo: OPEN_STATUSES.filter((status) => status !== 'open'),
};
