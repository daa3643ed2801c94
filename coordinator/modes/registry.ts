/**
 * The modes this coordinator runs, by name. The engine, the API and the
 * metrics find a transaction's rules and words here; adding a mode is adding
 * its folder and one line below (docs/architecture.md, "Adding a mode").
 */
import { statusNamed, type ModeWords } from '../domain/mode-words.ts';
import type { GlobalStatus, Mode, Operation } from '../domain/transaction.ts';
import type { ModeRules } from './mode-rules.ts';
import { msgRules } from './msg/msg-rules.ts';
import { sagaRules } from './saga/saga-rules.ts';
import { tccRules } from './tcc/tcc-rules.ts';
import { xaRules } from './xa/xa-rules.ts';
import { fmtRules } from './fmt/fmt-rules.ts';

const RULES: Record<Mode, ModeRules> = { tcc: tccRules, saga: sagaRules, msg: msgRules, xa: xaRules, fmt: fmtRules };

/** The mode a begin that names none gets (the API's documented default). */
export const DEFAULT_MODE: Mode = 'tcc';

/** The rules of `mode`: how the engine validates, decides, recovers and plans phase two for it. */
export function rulesFor(mode: Mode): ModeRules {
  return RULES[mode];
}

/** The names `mode` gives the model's statuses and operations, as the API, console and metrics show them. */
export function wordsFor(mode: Mode): ModeWords {
  return RULES[mode].words;
}

/** Every mode's rules, e.g. to label metrics or list statuses for all modes. */
export const ALL_RULES: readonly ModeRules[] = Object.values(RULES);

/** Every word any mode uses for a transaction's status (for API schemas and filters). */
export const STATUS_WORDS: readonly string[] = [...new Set(ALL_RULES.flatMap((rules) => Object.values(rules.words.status)))];

/** The statuses a word names, by mode (an admin filter `status=confirmed` → TCC's committed). */
export function statusesNamed(word: string): { mode: Mode; status: GlobalStatus }[] {
  return ALL_RULES.flatMap((rules) => {
    const status = statusNamed(rules.words, word);
    return status ? [{ mode: rules.mode, status }] : [];
  });
}

/** Whether `operations` are exactly the ones a branch of `mode` registers (in any order). */
export function operationsOf(mode: Mode, operations: readonly Operation[]): boolean {
  const expected = RULES[mode].operations;
  return operations.length === expected.length && expected.every((op) => operations.includes(op));
}
