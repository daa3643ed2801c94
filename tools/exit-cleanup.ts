/**
 * Servers must not outlive the process that started them: children spawned
 * through logged-process.ts and temp dirs made here are SIGKILLed / removed
 * when this process exits or is terminated.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const liveChildren = new Set<ChildProcess>();
const ownedDirs = new Set<string>();
let hooksInstalled = false;

/** Kills `child` at exit unless it has exited by then. */
export function killAtExit(child: ChildProcess, exited: Promise<unknown>): void {
  installCleanupHooks();
  if (child.pid === undefined) return;
  liveChildren.add(child);
  void exited.then(() => liveChildren.delete(child));
}

/** A server's folder: either given by the caller (kept) or a temp dir owned here (removed by release() or at exit). */
export interface BaseDir {
  readonly path: string;
  /** Removes the folder if it is an owned temp dir; a no-op for a given one. */
  release(): Promise<void>;
}

/** `given` (created if needed), or a fresh `<os.tmpdir()>/<prefix>XXXXXX`. */
export async function prepareBaseDir(prefix: string, given: string | undefined): Promise<BaseDir> {
  if (given) {
    const dir = path.resolve(given);
    await fsp.mkdir(dir, { recursive: true });
    return { path: dir, release: async () => {} };
  }
  installCleanupHooks();
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), prefix));
  ownedDirs.add(dir);
  return {
    path: dir,
    release: async () => {
      ownedDirs.delete(dir);
      await fsp.rm(dir, { recursive: true, force: true, maxRetries: 3 });
    },
  };
}

function killAllSync(): void {
  for (const child of liveChildren) {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  liveChildren.clear();
  for (const dir of ownedDirs) {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
  ownedDirs.clear();
}

const TERMINATING_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

/**
 * On process exit, SIGKILL every server still running and remove temp dirs.
 * 'exit' alone is not enough: vitest stops its fork workers with SIGTERM,
 * which by default ends a process without an 'exit' event. So, for the
 * terminating signals, when nobody else handles the signal we clean up and
 * re-raise it. When somebody else does (e.g. scripts/dev-servers.ts, which
 * stops its servers gracefully), we leave it to them; 'exit' is the backstop.
 */
function installCleanupHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.once('exit', killAllSync);
  for (const sig of TERMINATING_SIGNALS) {
    const handler = () => {
      if (process.listenerCount(sig) > 1) return;
      killAllSync();
      process.off(sig, handler);
      // Let other (once-)handlers that already ran finish; then default action.
      setTimeout(() => process.kill(process.pid, sig), 100).unref();
    };
    process.on(sig, handler);
  }
}
