/**
 * A backstop for cleanup: the cluster processes (coordinators, banks,
 * transfer services) that are direct children of this process, found by
 * their parent pid and entry point in /proc (Linux), so that processes
 * started by a cluster that failed half-way, or left by an interrupted run,
 * are not orphaned. Only this process's own children running one of the
 * cluster's entry points are touched, by pid — never, say, the esbuild
 * service tsx runs as a child (killing it makes every later module load spin).
 */
import fs from 'node:fs';

const CLUSTER_ENTRIES = ['coordinator/main.ts', 'examples/bank-transfer/bank/main.ts', 'examples/bank-transfer/transfer/main.ts'];

export function clusterChildPids(): number[] {
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
      if (ppid !== process.pid) continue;
      const argv = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv.some((arg) => CLUSTER_ENTRIES.includes(arg))) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** SIGKILL every cluster process this process started and that still runs. Returns how many. */
export function killClusterChildren(): number {
  let killed = 0;
  for (const pid of clusterChildPids()) {
    try {
      process.kill(pid, 'SIGKILL');
      killed++;
    } catch {
      // already gone
    }
  }
  return killed;
}
