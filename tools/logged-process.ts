/**
 * Child processes whose output goes to a log file rather than to pipes, so
 * that a server left running keeps nothing of ours alive, and whose log's
 * tail explains a failure.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { killAtExit } from './exit-cleanup.ts';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

/** Another user to run a program as (a server that refuses to run as root); needs root. */
export interface RunAs {
  uid: number;
  gid: number;
}

export interface Spawned {
  readonly pid: number | undefined;
  /** Set once the process has exited (or failed to spawn). */
  readonly exited: ExitInfo | undefined;
  /** Resolves with the exit info, or undefined when `timeoutMs` passes first. */
  waitExit(timeoutMs: number): Promise<ExitInfo | undefined>;
  signal(signal: NodeJS.Signals): void;
}

/**
 * Spawns `command` with stdout/stderr appended to `logFile` (no pipes, so
 * nothing keeps the event loop alive), unref'd, and killed at exit.
 */
export function spawnLogged(command: string, args: string[], logFile: string, env?: NodeJS.ProcessEnv, user?: RunAs): Spawned {
  const fd = fs.openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(command, args, { stdio: ['ignore', fd, fd], env: env ?? process.env, ...(user ? { uid: user.uid, gid: user.gid } : {}) });
  } finally {
    fs.closeSync(fd);
  }
  let exitInfo: ExitInfo | undefined;
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('exit', (code, signal) => resolve((exitInfo = { code, signal })));
    child.once('error', (error) => resolve((exitInfo ??= { code: null, signal: null, error })));
  });
  killAtExit(child, exited);
  child.unref();
  return {
    pid: child.pid,
    get exited() {
      return exitInfo;
    },
    async waitExit(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      // The (ref'd) timer keeps the event loop alive while the unref'd child is awaited.
      const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), timeoutMs)));
      try {
        return await Promise.race([exited, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    signal(signal) {
      if (exitInfo || child.pid === undefined) return;
      try {
        process.kill(child.pid, signal);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
      }
    },
  };
}

/**
 * Runs a command to completion (SIGKILLed after `timeoutMs`), output appended
 * to `logFile`; throws with the log's tail when it fails or times out.
 */
export async function runLogged(command: string, args: string[], logFile: string, timeoutMs: number, env?: NodeJS.ProcessEnv, user?: RunAs): Promise<void> {
  fs.appendFileSync(logFile, `\n$ ${command} ${args.join(' ')}\n`);
  const child = spawnLogged(command, args, logFile, env, user);
  const result = await child.waitExit(timeoutMs);
  if (!result) child.signal('SIGKILL');
  if (!result || result.code !== 0) {
    throw new Error(`\`${command} ${args.join(' ')}\` ${result ? `failed (${describeExit(result)})` : 'timed out'}; ${logFile}:\n${await tail(logFile)}`);
  }
}

export function describeExit(info: ExitInfo): string {
  if (info.error) return `spawn error: ${info.error.message}`;
  return info.signal ? `killed by ${info.signal}` : `exit code ${info.code}`;
}

/** Last `lines` lines of `file` from byte `offset` on ('' if the file does not exist). */
export async function tail(file: string, offset = 0, lines = 40): Promise<string> {
  try {
    const text = (await fsp.readFile(file)).subarray(offset).toString('utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
