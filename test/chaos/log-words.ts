/**
 * The log stores the model's mode-neutral status names (`committed`,
 * `rolling-back`, …); the chaos oracle reads it directly and reports in the
 * transaction's mode's words, as the API and the bank example do: TCC's
 * (`confirmed`) for TCC transfers and the forced orderings, a saga's
 * (`succeeded`, `compensated`) and a message's (`delivered`, `aborted`) for
 * theirs.
 */
import { ALL_RULES, OPEN_STATUSES, TERMINAL_STATUSES, wordsFor, type GlobalStatus } from '@dtx/coordinator';

/** A status read from the log, in the words of the transaction's mode (its `mode` column); TCC's for a mode this build does not know. */
export function logWord(mode: string, status: string): string {
  const known = ALL_RULES.find((rules) => rules.mode === mode)?.mode ?? 'tcc';
  return wordsFor(known).status[status as GlobalStatus] ?? status;
}

/** Statuses as the log stores them: terminal, and those of phase two (open, past the decision). */
export const LOGGED: { terminal: readonly GlobalStatus[]; phaseTwo: readonly GlobalStatus[] } = {
  terminal: TERMINAL_STATUSES,
  phaseTwo: OPEN_STATUSES.filter((status) => status !== 'open'),
};
