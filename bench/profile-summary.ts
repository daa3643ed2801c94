/**
 * Summarises a V8 .cpuprofile (node --cpu-prof): self time per function and
 * per origin (a package in node_modules, node internals, this project's
 * folders, GC, idle). Also a CLI:
 *
 *   npx tsx bench/profile-summary.ts .tmp/bench/profiles/coordinator-a/CPU.*.cpuprofile [--top=30] [--skip-seconds=5]
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileEntry {
  name: string;
  selfMs: number;
  /** Share of busy time (everything but idle). */
  busyShare: number;
}

export interface ProfileSummary {
  totalMs: number;
  idleMs: number;
  busyMs: number;
  functions: ProfileEntry[];
  origins: ProfileEntry[];
  /**
   * Self time charged to the nearest package or project frame up the stack:
   * a socket write under mysql2 counts for mysql2, under fastify's reply for
   * fastify. Shows who causes native and node-internal time.
   */
  responsible: ProfileEntry[];
}

/** Where a function comes from: a package, node internals, a project folder, or a V8 pseudo-node. */
export function originOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return 'node internals';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  const project = /\/(coordinator|participant-sdk|protocol|examples|bench|test)\/([^/]+)/.exec(url);
  if (project) return `${project[1]}/${project[2]!.replace(/\.[cm]?[jt]s$/, '')}`;
  return url.replace(/^file:\/\//, '');
}

function shortUrl(url: string): string {
  const pkg = /node_modules\/(.+)$/.exec(url);
  if (pkg) return pkg[1]!;
  const project = /\/((?:coordinator|participant-sdk|protocol|examples|bench|test)\/.+)$/.exec(url);
  if (project) return project[1]!;
  return url.replace(/^file:\/\//, '');
}

/** `skipMs`: leave out the first milliseconds of the profile (start-up: module loading, tsx transforms, migrations). */
export function summariseProfile(profile: CpuProfile, top = 30, skipMs = 0): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  let elapsedUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    const delta = profile.timeDeltas[i] ?? 0;
    elapsedUs += delta;
    if (elapsedUs < skipMs * 1000) continue;
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
  }
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id);
  const responsibleOf = (id: number): string => {
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const origin = originOf(byId.get(at)!.callFrame);
      if (origin !== 'node internals' && origin !== '(native)' && origin !== '(root)' && !origin.startsWith('(')) return origin;
    }
    return originOf(byId.get(id)!.callFrame);
  };
  const functions = new Map<string, number>();
  const origins = new Map<string, number>();
  const responsible = new Map<string, number>();
  let idleUs = 0;
  let totalUs = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame;
    totalUs += us;
    if (frame.functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    const name = frame.url ? `${frame.functionName || '(anonymous)'}  ${shortUrl(frame.url)}:${frame.lineNumber + 1}` : frame.functionName || '(anonymous)';
    functions.set(name, (functions.get(name) ?? 0) + us);
    const origin = originOf(frame);
    origins.set(origin, (origins.get(origin) ?? 0) + us);
    const who = responsibleOf(id);
    responsible.set(who, (responsible.get(who) ?? 0) + us);
  }
  const busyUs = totalUs - idleUs;
  const rank = (m: Map<string, number>, n: number): ProfileEntry[] =>
    [...m]
      .sort((x, y) => y[1] - x[1])
      .slice(0, n)
      .map(([name, us]) => ({ name, selfMs: us / 1000, busyShare: busyUs > 0 ? us / busyUs : 0 }));
  return {
    totalMs: totalUs / 1000,
    idleMs: idleUs / 1000,
    busyMs: busyUs / 1000,
    functions: rank(functions, top),
    origins: rank(origins, top),
    responsible: rank(responsible, top),
  };
}

export function formatProfileSummary(title: string, s: ProfileSummary): string {
  const pct = (x: number) => `${(x * 100).toFixed(1).padStart(5)}%`;
  const lines = [
    `${title}: ${(s.totalMs / 1000).toFixed(1)} s sampled, busy ${(s.busyMs / 1000).toFixed(1)} s, idle ${(s.idleMs / 1000).toFixed(1)} s`,
    '  self time by origin (share of busy time):',
    ...s.origins.slice(0, 15).map((e) => `    ${pct(e.busyShare)}  ${e.selfMs.toFixed(0).padStart(7)} ms  ${e.name}`),
    '  self time charged to the nearest package/project frame up the stack:',
    ...s.responsible.slice(0, 20).map((e) => `    ${pct(e.busyShare)}  ${e.selfMs.toFixed(0).padStart(7)} ms  ${e.name}`),
    '  top functions by self time:',
    ...s.functions.map((e) => `    ${pct(e.busyShare)}  ${e.selfMs.toFixed(0).padStart(7)} ms  ${e.name}`),
  ];
  return lines.join('\n');
}

export function readProfile(file: string): CpuProfile {
  return JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const files = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const topArg = process.argv.find((a) => a.startsWith('--top='));
  const top = topArg ? Number(topArg.slice('--top='.length)) : 30;
  const skipArg = process.argv.find((a) => a.startsWith('--skip-seconds='));
  const skipMs = skipArg ? Number(skipArg.slice('--skip-seconds='.length)) * 1000 : 0;
  if (files.length === 0) {
    process.stderr.write('usage: tsx bench/profile-summary.ts <file.cpuprofile>... [--top=N]\n');
    process.exit(2);
  }
  for (const file of files) process.stdout.write(`${formatProfileSummary(file, summariseProfile(readProfile(file), top, skipMs))}\n\n`);
}
