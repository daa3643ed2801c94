/** Findings and run statistics as text, for the test's failure message and `npm run fuzz`. */
import type { Finding, FuzzStats } from './fuzz-runner.ts';

export function formatFinding(finding: Finding, seed: number): string {
  const lines = [
    `● ${finding.label} (transaction under test: ${finding.subject}; replay: npm run fuzz -- --seed ${seed} --path ${finding.path})`,
    ...finding.problems.map((p) => `  ${p.kind}: ${p.detail}`),
    `  request:\n${indent(finding.request, '    | ')}`,
    `  answer: ${finding.answer}`,
  ];
  if (finding.logs.length > 0) lines.push(`  logged:\n${indent(finding.logs.slice(-6).join('\n'), '    ')}`);
  return lines.join('\n');
}

function indent(text: string, prefix: string): string {
  const lines = text.split('\n');
  const shown = lines.length > 24 ? [...lines.slice(0, 20), `… ${lines.length - 22} more lines …`, ...lines.slice(-2)] : lines;
  return shown.map((line) => `${prefix}${printable(line.length > 600 ? `${line.slice(0, 600)}…` : line)}`).join('\n');
}

/** Control characters shown as escapes, so that a report cannot garble the terminal. */
function printable(text: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * Findings of one kind: the same answer shape whatever the route (an error
 * body from the HTTP layer looks the same on every route), the same logged
 * error on the same route for 5xx, the same detail on the same route otherwise.
 */
function kindOf(finding: Finding): string {
  const route = finding.label
    .split(' / ')[0]!
    .split(' + ')[0]!
    .replace(/ \(bad path (gid|id)\)$/, '');
  return finding.problems
    .map((p) => {
      if (p.kind === 'error-shape') return `error-shape ${p.detail.slice(0, 110)}`;
      // Costs differ from one slow request to the next; the route is the kind.
      if (p.kind === 'slow') return `slow on ${route}`;
      if (p.kind === 'server-error') {
        const logged = finding.logs.map((l) => /"type":"(\w+)","message":"([^"]{0,100})/.exec(l)).find(Boolean);
        return `server-error on ${route}: ${p.detail}${logged ? ` ${logged[1]}: ${logged[2]}` : ''}`;
      }
      return `${p.kind} on ${route}: ${p.detail.replace(/\d{4,}/g, 'N').slice(0, 110)}`;
    })
    .join(' + ');
}

export function groupFindings(findings: readonly Finding[]): { key: string; count: number; first: Finding }[] {
  const groups = new Map<string, { key: string; count: number; first: Finding }>();
  for (const finding of findings) {
    const key = kindOf(finding);
    const group = groups.get(key);
    if (group) group.count++;
    else groups.set(key, { key, count: 1, first: finding });
  }
  return [...groups.values()].sort((a, b) => b.count - a.count);
}

export function formatStats(stats: FuzzStats): string {
  const statuses = Object.entries(stats.byStatus)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([status, n]) => `${status}×${n}`)
    .join(' ');
  const total = (classes: Record<string, number>) => Object.values(classes).reduce((a, b) => a + b, 0);
  const routes = Object.entries(stats.byRoute)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(
      ([route, classes]) =>
        `  ${route.padEnd(34)} ${String(total(classes)).padStart(5)}  ${Object.entries(classes)
          .sort()
          .map(([c, n]) => `${c} ${n}`)
          .join(', ')}`,
    )
    .join('\n');
  const t = stats.timing;
  return [
    `cases ${stats.cases}, HTTP requests ${stats.requests} (the cases' and those preparing transactions under test), refused requests checked for writes ${stats.refusalsChecked}`,
    `answers: ${statuses}`,
    `timing: ${t.judged} requests compared with their kind, ${t.suspects} above its bound: ${t.slow} still above it when measured again (findings), ${t.unconfirmed} not measurable again for the same work`,
    `cases by route (answer classes):\n${routes}`,
  ].join('\n');
}
