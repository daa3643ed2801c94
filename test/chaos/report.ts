/** Printing scenario results: a block per scenario, and a summary table of the whole run. */
import { ALL_RULES } from '@dtx/coordinator';
import type { AdversaryReport, KindTally } from './adversary.ts';
import type { ScenarioReport } from './run-scenario.ts';

type Say = (line: string) => void;

const seconds = (ms: number | null) => (ms === null ? '—' : `${(ms / 1000).toFixed(1)} s`);

function list(entries: [string, number][]): string {
  return entries.length === 0 ? 'none' : entries.map(([kind, n]) => `${kind} ×${n}`).join(', ');
}

/** The final statuses, in each mode's words, that mean committed / rolled back (read from the modes' own words). */
const COMMITTED_WORDS = [...new Set(ALL_RULES.map((rules) => rules.words.status.committed))];
const ROLLED_BACK_WORDS = [...new Set(ALL_RULES.map((rules) => rules.words.status['rolled-back']))];
const sumOf = (r: ScenarioReport, words: readonly string[]) => words.reduce((sum, word) => sum + (r.final[word] ?? 0), 0);

/** Transactions that ended committed / rolled back, in any mode (TCC's confirmed and cancelled, a saga's succeeded and compensated, …). */
export const committed = (r: ScenarioReport) => sumOf(r, COMMITTED_WORDS);
const rolledBack = (r: ScenarioReport) => sumOf(r, ROLLED_BACK_WORDS);

/** Faults actually injected (actions, not the totals counted alongside them). */
export function faultCount(report: ScenarioReport): number {
  return report.faults.filter(([kind]) => kind !== 'db-connections-killed' && kind !== 'replayed-calls').reduce((sum, [, n]) => sum + n, 0);
}

export function printScenario(report: ScenarioReport, say: Say): void {
  const a = report.answers;
  const rule = '━'.repeat(Math.max(4, 78 - report.scenario.length - String(report.seed).length - 12));
  say('');
  say(`━━ ${report.scenario} · seed ${report.seed} ${rule}`);
  say(`  proves       ${report.proves}`);
  say(
    `  transfers    ${report.transfers} sent in ${seconds(report.loadMs)}; answered: confirmed ${a.confirmed}, confirming ${a.pending}${a.undecided ? `, still running ${a.undecided}` : ''}, insufficient funds ${a['insufficient-funds']}, refused ${a.refused}, failed ${a.failed}`,
  );
  say(
    `  outcome      ${
      Object.entries(report.final)
        .map(([s, n]) => `${s} ${n}`)
        .join(', ') || 'no transactions'
    }${report.needsAttention ? `; ${report.needsAttention} flagged needs-attention on the way` : ''}`,
  );
  say(`  faults       ${faultCount(report)} in ${seconds(report.faultsMs)}: ${list(report.faults)}`);
  if (report.connectionsAffected.length > 0) say(`  connections  hit by proxy faults: ${list(report.connectionsAffected)}`);
  say(
    `  converged    ${report.convergeMs === null ? 'NO — transactions still open after the bound' : `${seconds(report.convergeMs)} after the faults and the load ended`}`,
  );
  say(`  money        ${report.money.before} before, ${report.money.after} after`);
  printAdversary(report.adversary, say);
  if (report.notes.length > 0) {
    say(`  not done     ${report.notes.length} fault action(s) could not be carried out (their target was down):`);
    for (const note of report.notes.slice(0, 5)) say(`                 ${note}`);
  }
  if (report.violations.length === 0) {
    say('  violations   none ✓');
    return;
  }
  say(`  violations   ${report.violations.length} ✗  — reproduce: npm run chaos -- --scenario ${report.scenario} --seed ${report.seed}`);
  for (const v of report.violations.slice(0, 30))
    say(`    ✗ ${v.invariant}: ${v.detail}${v.gids.length ? ` [${v.gids.slice(0, 5).join(', ')}${v.gids.length > 5 ? ', …' : ''}]` : ''}`);
  if (report.violations.length > 30) say(`    … and ${report.violations.length - 30} more`);
  for (const history of report.histories) {
    say(`  history of ${history.gid} (${history.status ?? 'not in the log'}):`);
    for (const line of history.lines) say(`    ${line}`);
  }
  say(`  logs         ${report.logDir}`);
}

const total = (map: Map<string, number>) => [...map.values()].reduce((sum, n) => sum + n, 0);
const tally = (map: Map<string, number>) => [...map.entries()].map(([key, n]) => `${key} ×${n}`).join(', ');
/** Attempts answered neither with their refusal nor with silence: each one is a violation. */
const letThrough = (k: KindTally) => k.attempts - total(k.refused) - total(k.unanswered);

/** Attempts the adversary sent in all. */
export const adversaryAttempts = (report: ScenarioReport) => report.adversary.kinds.reduce((sum, k) => sum + k.attempts, 0);

/** One line per kind of attempt: how many, refused with which code, unanswered why, and how many found their target open. */
function printAdversary(adversary: AdversaryReport, say: Say): void {
  const kinds = adversary.kinds;
  const sum = (of: (k: KindTally) => number) => kinds.reduce((n, k) => n + of(k), 0);
  const through = sum(letThrough);
  say(
    `  adversary    ${sum((k) => k.attempts)} attempts as ${adversary.caller} (${adversary.scope}): ${sum((k) => total(k.refused))} refused as documented, ${sum((k) => total(k.unanswered))} unanswered, ${through === 0 ? 'none let through ✓' : `${through} answered otherwise ✗`}`,
  );
  const width = Math.max(...kinds.map((k) => k.kind.length));
  for (const k of kinds) {
    const parts = [
      k.refused.size > 0 ? tally(k.refused) : 'none refused',
      ...(k.unanswered.size > 0 ? [`unanswered: ${tally(k.unanswered)}`] : []),
      ...(letThrough(k) > 0 ? [`✗ ${letThrough(k)} answered otherwise`] : []),
      ...(k.onOpen > 0 ? [`on an open transaction ${k.onOpen}, refused ${k.refusedOnOpen}`] : []),
      ...(k.noTarget > 0 ? [`${k.noTarget} not sent (no target yet)`] : []),
    ];
    say(`               ${k.kind.padEnd(width)} ${String(k.attempts).padStart(3)}  ${parts.join(' · ')}`);
  }
  for (const note of adversary.notes.slice(0, 5)) say(`               not done: ${note}`);
}

export function printSummary(reports: ScenarioReport[], totalMs: number, say: Say): void {
  const header = ['scenario', 'seed', 'transfers', 'faults', 'attacks', 'confirmed', 'cancelled', 'insufficient', 'failed', 'converge', 'violations'];
  const rows = reports.map((r) => [
    r.scenario,
    String(r.seed),
    String(r.transfers),
    String(faultCount(r)),
    String(adversaryAttempts(r)),
    String(committed(r)),
    String(rolledBack(r)),
    String(r.answers['insufficient-funds']),
    String(r.answers.failed),
    seconds(r.convergeMs),
    r.violations.length === 0 ? '0 ✓' : `${r.violations.length} ✗`,
  ]);
  const total = [
    'total',
    '',
    String(reports.reduce((s, r) => s + r.transfers, 0)),
    String(reports.reduce((s, r) => s + faultCount(r), 0)),
    String(reports.reduce((s, r) => s + adversaryAttempts(r), 0)),
    String(reports.reduce((s, r) => s + committed(r), 0)),
    String(reports.reduce((s, r) => s + rolledBack(r), 0)),
    String(reports.reduce((s, r) => s + r.answers['insufficient-funds'], 0)),
    String(reports.reduce((s, r) => s + r.answers.failed, 0)),
    '',
    String(reports.reduce((s, r) => s + r.violations.length, 0)),
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...[...rows, total].map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  say('');
  say(line(header));
  say(widths.map((w) => '─'.repeat(w)).join('  '));
  for (const row of rows) say(line(row));
  say(widths.map((w) => '─'.repeat(w)).join('  '));
  say(line(total));
  say(
    `(attacks: the adversary's attempts, each refused as documented or unanswered, or a violation; confirmed/cancelled: final statuses in the coordinator's log, every mode's committed and rolled-back statuses counted with them; insufficient/failed: what the callers were told; ${seconds(totalMs)} in all)`,
  );
}
