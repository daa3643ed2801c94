/**
 * What one message hop costs on this machine: round trips of one byte
 * between two processes over loopback TCP, sent back to back and sent
 * after an idle gap. Every step of a transaction (HTTP call, SQL statement)
 * is such a hop plus its work, so this is the machine's floor under the
 * latency and CPU figures, and it makes them comparable across machines.
 *
 * Run alone: npx tsx bench/hop-cost.ts
 * The echo side is this file again, started as a child with `echo`.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { summariseLatency } from './load.ts';

export interface HopCostSample {
  /** Idle time before each round trip, ms (0 = back to back). */
  gapMs: number;
  roundTrips: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** CPU of the sending process per round trip (its write, its wake-up, its read), µs. */
  senderCpuUs: number;
}

export interface HopCost {
  samples: HopCostSample[];
  /** /sys cpuidle driver and governor (`haltpoll` in a KVM guest): how an idle core wakes up. */
  cpuidle: string;
}

async function measure(socket: net.Socket, gapMs: number, roundTrips: number): Promise<HopCostSample> {
  const latencies: number[] = [];
  const cpuBefore = process.cpuUsage();
  let gapCpuUs = 0;
  for (let i = 0; i < roundTrips; i++) {
    if (gapMs > 0) {
      // The timer's own wake-up is not the hop's cost: subtract it.
      const before = process.cpuUsage();
      await sleep(gapMs);
      const spent = process.cpuUsage(before);
      gapCpuUs += spent.user + spent.system;
    }
    const start = performance.now();
    const reply = once(socket, 'data');
    socket.write('x');
    await reply;
    latencies.push(performance.now() - start);
  }
  const cpu = process.cpuUsage(cpuBefore);
  const summary = summariseLatency(latencies);
  return {
    gapMs,
    roundTrips,
    p50Ms: summary.p50,
    p99Ms: summary.p99,
    maxMs: summary.max,
    senderCpuUs: (cpu.user + cpu.system - gapCpuUs) / roundTrips,
  };
}

function cpuidle(): string {
  try {
    const base = '/sys/devices/system/cpu/cpuidle';
    return `${readFileSync(`${base}/current_driver`, 'utf8').trim()}/${readFileSync(`${base}/current_governor`, 'utf8').trim()}`;
  } catch {
    return 'unknown';
  }
}

/** Back to back, then after 1 ms and 10 ms of idling. ~10 s. */
export async function measureHopCost(): Promise<HopCost> {
  const echo = fork(fileURLToPath(import.meta.url), ['echo'], { execArgv: process.execArgv, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  try {
    const [port] = (await once(echo, 'message')) as [number];
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    await once(socket, 'connect');
    await measure(socket, 0, 500); // warm-up
    const samples = [await measure(socket, 0, 5_000), await measure(socket, 1, 1_000), await measure(socket, 10, 500)];
    socket.destroy();
    return { samples, cpuidle: cpuidle() };
  } finally {
    echo.kill();
  }
}

export function formatHopCost(cost: HopCost): string {
  const lines = cost.samples.map(
    (s) =>
      `  ${s.gapMs === 0 ? 'back to back ' : `after ${String(s.gapMs).padStart(2)} ms idle`}: ` +
      `round trip p50 ${s.p50Ms.toFixed(3)} ms, p99 ${s.p99Ms.toFixed(3)} ms, max ${s.maxMs.toFixed(2)} ms; sender CPU ${s.senderCpuUs.toFixed(0)} µs per round trip`,
  );
  return [`one hop (1-byte TCP round trip between two processes; cpuidle ${cost.cpuidle}):`, ...lines].join('\n');
}

if (process.argv[2] === 'echo') {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('data', (data) => socket.write(data));
  });
  server.listen(0, '127.0.0.1', () => process.send?.((server.address() as net.AddressInfo).port));
  process.on('disconnect', () => process.exit(0));
} else if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.stdout.write(`${formatHopCost(await measureHopCost())}\n`);
}
