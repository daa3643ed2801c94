/**
 * A Node process of the system under test (coordinator, bank, empty
 * participant), started like production: its own process, run by
 * `node --import tsx <entry>` or, with `--runtime=compiled`, by plain node on
 * an esbuild bundle of the same entry. Output goes to a log file; readiness is
 * a health URL; stop is SIGTERM (a graceful exit also writes a --cpu-prof profile).
 * The process handling itself is the demo's and chaos suite's ManagedProcess.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
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

const BUILD_DIR = '.tmp/bench/build';

/**
 * In a bundle every module's import.meta.url would be the bundle's; files
 * found relative to their module (the admin console's assets) would be
 * looked for in the build folder. Each module keeps its source file's URL.
 */
const keepModuleUrls = {
  name: 'keep-module-urls',
  setup(b: { onLoad(o: { filter: RegExp }, cb: (args: { path: string }) => Promise<{ contents: string; loader: 'ts' }>): void }) {
    b.onLoad({ filter: /\.ts$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      return { contents: source.replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href)), loader: 'ts' };
    });
  },
};
const built = new Map<string, Promise<string>>();

/** Bundles `entry` once per run with esbuild (dependencies stay in node_modules); returns the .mjs path. */
function compiled(entry: string): Promise<string> {
  let file = built.get(entry);
  if (!file) {
    file = (async () => {
      // esbuild comes with tsx; loaded only for --runtime=compiled.
      const { build } = await import('esbuild');
      await mkdir(BUILD_DIR, { recursive: true });
      const outfile = resolve(BUILD_DIR, `${basename(entry, '.ts')}-${built.size}.mjs`);
      await build({
        entryPoints: [entry],
        outfile,
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node20',
        packages: 'external',
        sourcemap: false,
        logLevel: 'error',
        plugins: [keepModuleUrls],
      });
      return outfile;
    })();
    built.set(entry, file);
  }
  return file;
}

export class BenchProcess extends ManagedProcess {
  constructor(options: BenchProcessOptions) {
    super({
      ...options,
      ...(options.runtime === 'compiled' ? { script: async (entry: string) => [await compiled(entry)] } : {}),
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
