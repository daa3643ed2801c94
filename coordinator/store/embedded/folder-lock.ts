/**
 * One process per embedded data folder. PGlite is a single-user database
 * with no lock of its own: two processes opening one folder would both
 * write its files and corrupt the log. The first to open it writes
 * `dtx.lock` (its process id) exclusively; another is refused while that
 * process lives. A lock left by a process that died (SIGKILL, a crash) is
 * taken over: its writer can no longer touch the folder.
 */
import { link, open, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';

export const LOCK_FILE = 'dtx.lock';

/** The folder is open in another live process. */
export class EmbeddedLogInUseError extends Error {
  override readonly name = 'EmbeddedLogInUseError';
  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super(
      `the embedded log ${dataDir} is in use by process ${pid}: one process per data folder ` +
        `(stop that one, or use another folder; if no dtx process runs, remove ${path.join(dataDir, LOCK_FILE)})`,
    );
  }
}

/** Releases the lock (the folder may then be opened by another process). */
export type FolderLock = () => Promise<void>;

/** Takes `dataDir`'s lock for this process, or throws EmbeddedLogInUseError. The folder must exist. */
export async function lockFolder(dataDir: string): Promise<FolderLock> {
  const file = path.join(dataDir, LOCK_FILE);
  // Twice at most: once as found, once more after moving a dead process's lock aside.
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(file, 'wx', 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return async () => {
        if ((await holder(file)) === process.pid) await unlink(file).catch(() => undefined);
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const pid = await holder(file);
    if (pid !== null && isAlive(pid)) throw new EmbeddedLogInUseError(dataDir, pid);
    // Moved aside rather than deleted, then checked: of two processes that found the same dead lock,
    // the second may move the lock the first has just written; seeing a live holder in what it moved,
    // it puts that lock back (link: never over another) and is refused.
    const aside = `${file}.stale-${process.pid}`;
    if (
      !(await rename(file, aside).then(
        () => true,
        () => false,
      ))
    )
      continue;
    const moved = await holder(aside);
    if (moved !== null && moved !== pid && isAlive(moved)) {
      await link(aside, file).catch(() => undefined);
      await unlink(aside).catch(() => undefined);
      throw new EmbeddedLogInUseError(dataDir, moved);
    }
    await unlink(aside).catch(() => undefined);
  }
  throw new EmbeddedLogInUseError(dataDir, (await holder(file)) ?? -1);
}

/** The process id in the lock file, or null if it is gone or unreadable (a writer died mid-write). */
async function holder(file: string): Promise<number | null> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const pid = Number.parseInt(text, 10);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
