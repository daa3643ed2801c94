/**
 * CPU time and memory of a process from /proc (Linux): utime + stime of all
 * its threads, current RSS and its peak (VmHWM) — or of a server that runs a
 * process per session (PostgreSQL), with its children.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcSample {
  pid: number;
  /** User + system CPU seconds since the process started. */
  cpuSeconds: number;
  rssMb: number;
  /** Peak resident set size since the process started. */
  peakRssMb: number;
}

let ticksPerSecond: number | null = null;

function clockTicks(): number {
  if (ticksPerSecond === null) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

interface ProcRead {
  /** Fields after the command name: [0] is field 3 (state), [1] the parent's pid, [11] and [12] utime and stime, [13] and [14] cutime and cstime. */
  fields: string[];
  status: string;
}

function readProc(pid: number): ProcRead | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: fields are counted after the last ')'.
    return { fields: stat.slice(stat.lastIndexOf(')') + 2).split(' '), status };
  } catch {
    return null;
  }
}

function statusKb(status: string, name: string): number {
  const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
  return match ? Number(match[1]) : 0;
}

/** A sample of `pid`, or null if the process is gone. */
export function sampleProcess(pid: number): ProcSample | null {
  const read = readProc(pid);
  if (!read) return null;
  const utime = Number(read.fields[11]);
  const stime = Number(read.fields[12]);
  return {
    pid,
    cpuSeconds: (utime + stime) / clockTicks(),
    rssMb: statusKb(read.status, 'VmRSS') / 1024,
    peakRssMb: statusKb(read.status, 'VmHWM') / 1024,
  };
}

/**
 * A sample of `pid` and its children together, or null if it is gone. CPU
 * counts the children that ended too (a reaped child's time is added to its
 * parent's cutime and cstime), so a session that ended between two samples
 * is not lost. Memory is what the processes hold at the sample, each page
 * once as far as /proc tells: every process's own anonymous memory, plus the
 * largest share of shared memory (a server's shared buffers) and of mapped
 * files (its program) any one of them has resident. No peak is kept across
 * processes that come and go, so `peakRssMb` is that same figure.
 */
export function sampleProcessTree(pid: number): ProcSample | null {
  const root = readProc(pid);
  if (!root) return null;
  const reads = [root];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const child = readProc(Number(entry));
    if (child && Number(child.fields[1]) === pid) reads.push(child);
  }
  const ticks = reads.reduce((sum, r) => sum + Number(r.fields[11]) + Number(r.fields[12]) + Number(r.fields[13]) + Number(r.fields[14]), 0);
  const largest = (name: string) => Math.max(...reads.map((r) => statusKb(r.status, name)));
  const residentMb = (reads.reduce((sum, r) => sum + statusKb(r.status, 'RssAnon'), 0) + largest('RssShmem') + largest('RssFile')) / 1024;
  return { pid, cpuSeconds: ticks / clockTicks(), rssMb: residentMb, peakRssMb: residentMb };
}

/** A process the benchmark watches, by name. */
export interface WatchedProcess {
  name: string;
  pid: number;
  /** Count its children with it (a server with a process per session: PostgreSQL). */
  withChildren?: boolean;
}

export type ProcSnapshot = Map<string, ProcSample>;

export function snapshot(processes: readonly WatchedProcess[]): ProcSnapshot {
  const out: ProcSnapshot = new Map();
  for (const p of processes) {
    const sample = p.withChildren ? sampleProcessTree(p.pid) : sampleProcess(p.pid);
    if (sample) out.set(p.name, sample);
  }
  return out;
}

export interface ProcUsage {
  /** CPU seconds used between the two snapshots. */
  cpuSeconds: number;
  /** Peak RSS at the second snapshot (since the process started). */
  peakRssMb: number;
}

/** CPU used between two snapshots, and the peak RSS at the later one, per process. */
export function usageBetween(before: ProcSnapshot, after: ProcSnapshot): Record<string, ProcUsage> {
  const out: Record<string, ProcUsage> = {};
  for (const [name, end] of after) {
    const start = before.get(name);
    out[name] = { cpuSeconds: end.cpuSeconds - (start?.cpuSeconds ?? 0), peakRssMb: end.peakRssMb };
  }
  return out;
}

export interface MachineCpu {
  /** CPU seconds spent busy by the whole machine (user, nice, system, irq, softirq), all cores. */
  busySeconds: number;
  /** CPU seconds the hypervisor gave to someone else while we wanted to run. */
  stealSeconds: number;
}

/** Machine-wide CPU counters (first line of /proc/stat); zeros where unreadable. */
export function sampleMachine(): MachineCpu {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
    const tick = clockTicks();
    return { busySeconds: ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0)) / tick, stealSeconds: (steal ?? 0) / tick };
  } catch {
    return { busySeconds: 0, stealSeconds: 0 };
  }
}
