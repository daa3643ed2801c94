/**
 * A TypeScript entry point run as a child process (`node --import tsx`),
 * with its output in a log file, readiness checked by polling a health URL,
 * and SIGKILL / restart for the demo and the chaos suite.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { waitFor } from '../../../tools/wait.ts';

export interface ManagedProcessOptions {
  name: string;
  entry: string;
  /** Node flags before the entry (e.g. the coordinator's heap cap). */
  nodeArgs?: readonly string[];
  /** How node runs `entry`; default `--import tsx <entry>` (the benchmark may run a bundle instead). */
  script?: (entry: string) => Promise<string[]>;
  env: Record<string, string>;
  healthUrl: string;
  logFile: string;
  startTimeoutMs?: number;
}

/** Children still running when this process exits are killed, so none outlives a crashed run. */
const liveChildren = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL');
});

export class ManagedProcess {
  #child: ChildProcess | null = null;
  #log: WriteStream | null = null;
  #exited: Promise<void> = Promise.resolve();
  /** Times the process was started (restarts included). */
  starts = 0;

  constructor(readonly options: ManagedProcessOptions) {}

  get name(): string {
    return this.options.name;
  }

  get running(): boolean {
    return this.#child !== null && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  async start(): Promise<void> {
    if (this.running) return;
    if (!this.#log) {
      this.#log = createWriteStream(this.options.logFile, { flags: 'a' });
      await once(this.#log, 'open');
    }
    const script = this.options.script ? await this.options.script(this.options.entry) : ['--conditions=dtx-source', '--import', 'tsx', this.options.entry];
    const child = spawn(process.execPath, [...(this.options.nodeArgs ?? []), ...script], {
      env: { ...process.env, ...this.options.env },
      stdio: ['ignore', this.#log, this.#log],
    });
    this.#child = child;
    liveChildren.add(child);
    // In the process's own log, so that a crash's stack reads next to when and how it ended.
    const log = this.#log;
    const note = (msg: string, fields: Record<string, unknown>) =>
      log.writable && log.write(`${JSON.stringify({ time: Date.now(), supervisor: this.name, msg, ...fields })}\n`);
    note('started', { pid: child.pid });
    child.once('exit', (code, signal) => {
      liveChildren.delete(child);
      note('exited', { pid: child.pid, code, signal });
    });
    this.starts++;
    this.#exited = once(child, 'exit').then(() => undefined);
    await waitFor(
      async (bail) => {
        if (child.exitCode !== null || child.signalCode !== null) {
          bail(new Error(`${this.name} exited during start (code ${child.exitCode}); see ${this.options.logFile}`));
        }
        const response = await fetch(this.options.healthUrl).catch(() => null);
        return response?.ok ?? false;
      },
      { what: `${this.name} to answer ${this.options.healthUrl}`, timeoutMs: this.options.startTimeoutMs ?? 60_000, intervalMs: 100 },
    );
  }

  /** Sends `signal` (SIGKILL by default, like a crash) and waits until the process is gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.running) return;
    this.#child?.kill(signal);
    await this.#exited;
  }

  /** Graceful stop: SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 15_000): Promise<void> {
    if (this.running) {
      this.#child?.kill('SIGTERM');
      const timer = setTimeout(() => this.#child?.kill('SIGKILL'), graceMs);
      await this.#exited;
      clearTimeout(timer);
    }
    this.#log?.end();
    this.#log = null;
  }
}
