/**
 * A user's project outside the repository, made of the packages' tarballs:
 * `npm pack` of the workspaces (their `prepack` builds dist/), then
 * `npm install` of the tarballs and of the peer dependencies a user adds.
 * The project has exactly what the tarballs declare, so a file missing from
 * a package or an undeclared runtime dependency fails there, as it would for
 * a user.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { appendFile, copyFile, mkdir, open, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { killAtExit } from '../../tools/exit-cleanup.ts';
import { tail } from '../../tools/logged-process.ts';

/** The workspaces published, in dependency order. */
export const WORKSPACES = ['protocol', 'participant-sdk', 'coordinator'] as const;

export type Workspace = (typeof WORKSPACES)[number];

/**
 * Packs the workspaces into `destination` and returns each one's tarball.
 * Throws with the log's tail when npm fails (a build error, a missing file).
 */
export async function packWorkspaces(repoRoot: string, destination: string, logFile: string, timeoutMs: number): Promise<Record<Workspace, string>> {
  const args = ['pack', ...WORKSPACES.flatMap((w) => ['--workspace', w]), '--pack-destination', destination];
  await runIn(repoRoot, 'npm', args, logFile, timeoutMs);
  const names = await readdir(destination);
  const tarballs = {} as Record<Workspace, string>;
  for (const workspace of WORKSPACES) {
    // npm names a tarball after the package: @dtx/<workspace> → dtx-<workspace>-<version>.tgz
    const name = names.find((n) => n.startsWith(`dtx-${workspace}-`) && n.endsWith('.tgz'));
    if (!name) throw new Error(`no tarball of ${workspace} in ${destination}: ${names.join(', ') || 'empty'}`);
    tarballs[workspace] = join(destination, name);
  }
  return tarballs;
}

/**
 * A project in `dir` (an ES module package) with the tarballs and `extra`
 * (name@version specs) installed. `--prefer-offline` lets the npm cache that
 * `npm ci` filled serve the registry packages.
 */
export async function installScratchProject(
  dir: string,
  tarballs: readonly string[],
  extra: readonly string[],
  logFile: string,
  timeoutMs: number,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'package.json'), `${JSON.stringify({ name: 'dtx-tarball-check', version: '1.0.0', private: true, type: 'module' }, null, 2)}\n`);
  const args = ['install', '--prefer-offline', '--no-audit', '--no-fund', '--no-update-notifier', ...tarballs, ...extra];
  await runIn(dir, 'npm', args, logFile, timeoutMs);
}

/** Copies the scripts of test/packaging/scratch/ into the project. */
export async function copyScratchScripts(dir: string, names: readonly string[]): Promise<void> {
  for (const name of names) await copyFile(join(import.meta.dirname, 'scratch', name), join(dir, name));
}

/** `name@version` of a package as installed in the repository (so that the npm cache has it). */
export async function lockedSpec(repoRoot: string, name: string): Promise<string> {
  const manifest = JSON.parse(await readFile(join(repoRoot, 'node_modules', name, 'package.json'), 'utf8')) as { version: string };
  return `${name}@${manifest.version}`;
}

/**
 * The environment of a process of the scratch project: a user's shell, not
 * this test's — no NODE_OPTIONS (no tsx, no source condition), and the node
 * running this test first on the PATH (the bin's `#!/usr/bin/env node`).
 */
export function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key === 'NODE_OPTIONS' || key.startsWith('npm_package_') || key.startsWith('npm_lifecycle_') || key.startsWith('VITEST')) continue;
    env[key] = value;
  }
  env.PATH = `${dirname(process.execPath)}:${process.env.PATH ?? ''}`;
  return { ...env, ...extra };
}

/** Runs `command` in `cwd` to its end, output appended to `logFile`; throws with the log's tail unless it exits with 0 in time. */
async function runIn(cwd: string, command: string, args: readonly string[], logFile: string, timeoutMs: number): Promise<void> {
  await appendFile(logFile, `\n$ (cd ${cwd} && ${command} ${args.join(' ')})\n`);
  const log = await open(logFile, 'a');
  try {
    const child = spawn(command, args, { cwd, env: userEnv(), stdio: ['ignore', log.fd, log.fd] });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    try {
      const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
      if (code !== 0) {
        const how = signal ? `was killed by ${signal}${signal === 'SIGKILL' ? ` (timeout ${timeoutMs} ms?)` : ''}` : `exited with ${code}`;
        throw new Error(`\`${command} ${args.join(' ')}\` ${how}; ${logFile}:\n${await tail(logFile, 0, 60)}`);
      }
    } finally {
      clearTimeout(timer);
    }
  } finally {
    await log.close();
  }
}

/** A long-running process of the scratch project. */
export interface ScratchProcess {
  readonly logFile: string;
  /** Resolves when the process has exited (or could not be spawned: code null, signal null). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Whether it has exited. */
  readonly done: boolean;
  signal(signal: NodeJS.Signals): void;
}

/**
 * Starts `command` in `cwd` with `env`, output appended to `logFile`; killed
 * (SIGKILL) if this process exits first.
 */
export async function startIn(cwd: string, command: string, args: readonly string[], env: NodeJS.ProcessEnv, logFile: string): Promise<ScratchProcess> {
  await appendFile(logFile, `\n$ (cd ${cwd} && ${command} ${args.join(' ')})\n`);
  const log = await open(logFile, 'a');
  let child;
  try {
    child = spawn(command, args, { cwd, env, stdio: ['ignore', log.fd, log.fd] });
  } finally {
    await log.close();
  }
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', () => resolve({ code: null, signal: null }));
  }).finally(() => {
    done = true;
  });
  killAtExit(child, exited);
  return {
    logFile,
    exited,
    get done() {
      return done;
    },
    signal: (signal) => {
      if (!done) child.kill(signal);
    },
  };
}
