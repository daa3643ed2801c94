/**
 * A Node process of the system under test (coordinator, bank, empty
 * participant), started like production: its own process, run by plain
 * node on the JavaScript `npm run build` emitted — the packages' and the
 * example's dist/, the shape users deploy — or, with `--runtime=tsx`, by
 * `node --conditions=dtx-source --import tsx <entry>` on the TypeScript source. Output goes to a log file; readiness is a
 * health URL; stop is SIGTERM (a graceful exit also writes a --cpu-prof profile).
 * The process handling itself is the demo's and chaos suite's ManagedProcess.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ManagedProcess } from '../examples/bank-transfer/cluster/managed-process.ts';
import type { Runtime } from './options.ts';

export interface BenchProcessOptions {
  name: string;
  /** TypeScript entry point, relative to the repository root. */
  entry: string;
  env: Record<string, string>;
  healthUrl: string;
  logFile: string;
  runtime: Runtime;
  /** Extra node flags, e.g. --cpu-prof. */
  nodeArgs?: string[];
}

/** The folders `npm run build` compiles, each into its own dist/ (package.json "build", the tsconfig.build.json files). */
const BUILT_ROOTS = ['coordinator', 'examples/bank-transfer', 'bench'] as const;

/** Where the build put an entry's JavaScript: `coordinator/main.ts` → `coordinator/dist/main.js`. */
export function builtEntry(entry: string): string {
  const root = BUILT_ROOTS.find((r) => entry.startsWith(`${r}/`));
  if (!root || !entry.endsWith('.ts')) throw new Error(`${entry} is not in a folder npm run build compiles (${BUILT_ROOTS.join(', ')})`);
  return `${root}/dist/${entry.slice(root.length + 1, -'.ts'.length)}.js`;
}

function compiled(entry: string): string[] {
  const file = builtEntry(entry);
  if (!existsSync(file)) throw new Error(`${file} is missing: run npm run build first (npm run bench does)`);
  return [file];
}

export class BenchProcess extends ManagedProcess {
  constructor(options: BenchProcessOptions) {
    super({
      ...options,
      ...(options.runtime === 'compiled' ? { script: async (entry: string) => compiled(entry) } : {}),
    });
  }

  override get pid(): number {
    const pid = super.pid;
    if (pid === undefined) throw new Error(`${this.name} is not running`);
    return pid;
  }
}

export function logPath(dir: string, name: string): string {
  return join(dir, `${name}.log`);
}
