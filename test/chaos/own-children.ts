/**
 * A backstop for cleanup: the direct child processes of this process, found
 * by their parent pid in /proc (Linux), so that processes started by a
 * cluster that failed half-way, or left by an interrupted run, are not
 * orphaned. Only this process's own children are touched, by pid.
 */
import fs from 'node:fs';

export function ownChildPids(): number[] {
  const pids: number[] = [];
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return pids;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid …; comm may hold spaces and parentheses, so read after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** SIGKILL every direct child except `keep` (e.g. the private servers, which stop gracefully by themselves). */
export function killOwnChildren(keep: readonly number[] = []): number {
  let killed = 0;
  for (const pid of ownChildPids()) {
    if (keep.includes(pid)) continue;
    try {
      process.kill(pid, 'SIGKILL');
      killed++;
    } catch {
      // already gone
    }
  }
  return killed;
}
