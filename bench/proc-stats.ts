/**
 * CPU time and memory of a process from /proc (Linux): utime + stime of all
 * its threads, current RSS and its peak (VmHWM).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

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

/** A sample of `pid`, or null if the process is gone. */
export function sampleProcess(pid: number): ProcSample | null {
  let stat: string;
  let status: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) may hold spaces and parentheses: fields are counted after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  const kb = (name: string): number => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
    return match ? Number(match[1]) : 0;
  };
  return {
    pid,
    cpuSeconds: (utime + stime) / clockTicks(),
    rssMb: kb('VmRSS') / 1024,
    peakRssMb: kb('VmHWM') / 1024,
  };
}

/** A process the benchmark watches, by name. */
export interface WatchedProcess {
  name: string;
  pid: number;
}

export type ProcSnapshot = Map<string, ProcSample>;

export function snapshot(processes: readonly WatchedProcess[]): ProcSnapshot {
  const out: ProcSnapshot = new Map();
  for (const p of processes) {
    const sample = sampleProcess(p.pid);
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
