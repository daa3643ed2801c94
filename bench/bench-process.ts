/**
 * A Node process of the system under test (coordinator, bank, empty
 * participant), started like production: its own process, run by
 * `node --import tsx <entry>` or, with `--runtime=compiled`, by plain node on
 * an esbuild bundle of the same entry. Output goes to a log file; readiness is
 * a health URL; stop is SIGTERM (a graceful exit also writes a --cpu-prof profile).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { waitFor } from '../test/support/wait.ts';
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

export class BenchProcess {
  #child: ChildProcess | null = null;
  #log: WriteStream | null = null;
  #exited: Promise<unknown> = Promise.resolve();

  constructor(readonly options: BenchProcessOptions) {}

  get name(): string {
    return this.options.name;
  }

  get pid(): number {
    const pid = this.#child?.pid;
    if (pid === undefined) throw new Error(`${this.name} is not running`);
    return pid;
  }

  async start(): Promise<void> {
    const script = this.options.runtime === 'compiled' ? [await compiled(this.options.entry)] : ['--import', 'tsx', this.options.entry];
    this.#log = createWriteStream(this.options.logFile, { flags: 'a' });
    await once(this.#log, 'open');
    const child = spawn(process.execPath, [...(this.options.nodeArgs ?? []), ...script], {
      env: { ...process.env, ...this.options.env },
      stdio: ['ignore', this.#log, this.#log],
    });
    this.#child = child;
    this.#exited = once(child, 'exit');
    await waitFor(
      async (bail) => {
        if (child.exitCode !== null || child.signalCode !== null) {
          bail(new Error(`${this.name} exited during start (code ${child.exitCode}); see ${this.options.logFile}`));
        }
        const response = await fetch(this.options.healthUrl).catch(() => null);
        return response?.ok ?? false;
      },
      { what: `${this.name} to answer ${this.options.healthUrl}`, timeoutMs: 60_000, intervalMs: 100 },
    );
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 20_000): Promise<void> {
    const child = this.#child;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await this.#exited;
      clearTimeout(timer);
    }
    this.#log?.end();
    this.#log = null;
  }
}

export function logPath(dir: string, name: string): string {
  return join(dir, `${name}.log`);
}
