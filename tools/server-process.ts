/**
 * One server process that can be killed and started again on the same files
 * and port (a crash and a restart), and the ManagedServer API built on it,
 * shared by mariadb-server.ts, postgres-server.ts and redis-server.ts.
 */
import fs from 'node:fs';
import { prepareBaseDir } from './exit-cleanup.ts';
import { pickFreePort } from './free-port.ts';
import { describeExit, spawnLogged, tail } from './logged-process.ts';
import type { RunAs, Spawned } from './logged-process.ts';
import { waitFor, WaitTimeoutError } from './wait.ts';

export interface ServerOptions {
  /**
   * Directory to keep the server's files in. It is created if needed and is
   * NOT removed by stop(). Without it a fresh `dtx-mariadb-*` / `dtx-redis-*`
   * folder under os.tmpdir() is used and removed by stop().
   */
  baseDir?: string;
  /** TCP port to listen on (127.0.0.1). Default: a free port, picked at start. */
  port?: number;
}

export interface ManagedServer {
  /** Port on 127.0.0.1; it stays the same across kill() / start(). */
  readonly port: number;
  /** Folder holding the server's files (logs, data, socket). */
  readonly baseDir: string;
  /** Pid of the current (or, after kill/stop, the last) server process. */
  readonly pid: number;
  /** Whether the server process is alive. */
  readonly running: boolean;
  /** Sends `signal` (default SIGKILL) and waits until the process has exited. No-op if not running. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /**
   * SIGSTOP, resolving once every thread of the process has stopped: the
   * server runs no more, but its kernel keeps every TCP connection
   * established and still accepts new ones, so clients see a server that
   * takes their statements and never answers. Thaw it in a `finally`;
   * kill() and stop() thaw it first.
   */
  freeze(): Promise<void>;
  /** SIGCONT after freeze(): the server runs again and handles what it received meanwhile. No-op unless frozen. */
  thaw(): void;
  /** (Re)starts the server on the same files and port, resolving once it answers. No-op if running. */
  start(): Promise<void>;
  /** Graceful SIGTERM, waits for exit, then removes the temp dir (unless baseDir was given). Idempotent. */
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 60_000;
const EXIT_TIMEOUT_MS = 60_000;
/** Attempts to start on a freshly picked port when the picked one turned out to be taken. */
const PORT_ATTEMPTS = 4;

/** What a server module hands startManagedServer(): its process, not started yet, and what to do once it is. */
export interface ServerSetup<T> {
  proc: ServerProcess;
  /** Runs once the first start succeeded (e.g. creating users); returns the server's own fields. */
  afterStart: (port: number) => Promise<T>;
}

/**
 * Prepares the server's folder (`opts.baseDir` or a temp dir named `prefix…`),
 * sets the server up in it, starts it and returns the ManagedServer with the
 * server's own fields added. On a failure the process is stopped and the temp
 * dir removed: nothing is left running for the exit hooks to find.
 */
export async function startManagedServer<T extends object>(
  prefix: string,
  opts: ServerOptions,
  setup: (baseDir: string) => Promise<ServerSetup<T>>,
): Promise<ManagedServer & T> {
  const dir = await prepareBaseDir(prefix, opts.baseDir);
  let started: ServerProcess | undefined;
  try {
    const { proc, afterStart } = await setup(dir.path);
    started = proc;
    await proc.firstStart(opts.port);
    const server: ManagedServer = {
      port: proc.port,
      baseDir: dir.path,
      get pid() {
        return proc.pid;
      },
      get running() {
        return proc.running;
      },
      kill: (signal) => proc.kill(signal),
      freeze: () => proc.freeze(),
      thaw: () => proc.thaw(),
      start: () => proc.start(),
      stop: async () => {
        await proc.stop();
        await dir.release();
      },
    };
    // Object.assign (not a spread) keeps the pid / running getters live.
    return Object.assign(server, await afterStart(proc.port));
  } catch (error) {
    await started?.stop();
    await dir.release();
    throw error;
  }
}

export interface LaunchSpec {
  command: string;
  args: string[];
  /** Where the process's stdout/stderr go. */
  stdoutLog: string;
  /** Resolves truthy once the server accepts clients; may throw while it does not. */
  probe: (pid: number) => Promise<boolean>;
  /** Log text meaning "the port was taken": the first start then retries on another port. */
  portInUse: RegExp;
  /** Run as this user instead (a server that refuses to run as root). */
  user?: RunAs;
}

export class ServerProcess {
  #port = 0;
  #pid = 0;
  #current: Spawned | undefined;
  #stopped = false;
  #frozen = false;
  #starting: Promise<void> | undefined;

  constructor(
    readonly name: string,
    /** The log that explains a failed start (error.log for mariadbd). */
    readonly diagnosticLog: string,
    readonly spec: (port: number) => LaunchSpec,
  ) {}

  get port(): number {
    return this.#port;
  }
  get pid(): number {
    return this.#pid;
  }
  get running(): boolean {
    return this.#current !== undefined && !this.#current.exited;
  }

  /** First start: picks a port (unless given) and retries on another one if it was taken meanwhile. */
  async firstStart(fixedPort: number | undefined): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      this.#port = fixedPort ?? (await pickFreePort());
      try {
        await this.start();
        return;
      } catch (error) {
        const retry = fixedPort === undefined && attempt < PORT_ATTEMPTS && error instanceof PortInUseError;
        if (!retry) throw error;
      }
    }
  }

  start(): Promise<void> {
    if (this.#stopped) return Promise.reject(new Error(`${this.name} was stopped; it cannot be restarted`));
    if (this.running) return this.#starting ?? Promise.resolve();
    const starting = this.#launch().finally(() => {
      if (this.#starting === starting) this.#starting = undefined;
    });
    this.#starting = starting;
    return starting;
  }

  async #launch(): Promise<void> {
    const spec = this.spec(this.#port);
    const logOffset = fileSize(this.diagnosticLog);
    const stdoutOffset = fileSize(spec.stdoutLog);
    const child = spawnLogged(spec.command, spec.args, spec.stdoutLog, undefined, spec.user);
    this.#current = child;
    this.#pid = child.pid ?? 0;

    const failure = async (what: string): Promise<Error> => {
      const logs = [await tail(this.diagnosticLog, logOffset)];
      if (spec.stdoutLog !== this.diagnosticLog) logs.push(await tail(spec.stdoutLog, stdoutOffset));
      const text = logs.filter(Boolean).join('\n');
      const message = `${this.name} ${what} (port ${this.#port}); ${this.diagnosticLog}:\n${text}`;
      return spec.portInUse.test(text) ? new PortInUseError(message) : new Error(message);
    };

    try {
      await waitFor(
        async (bail) => {
          if (child.exited) bail(await failure(`exited during startup (${describeExit(child.exited)})`));
          return await spec.probe(child.pid ?? 0);
        },
        { what: `${this.name} on port ${this.#port} to accept connections`, timeoutMs: READY_TIMEOUT_MS, intervalMs: 50 },
      );
    } catch (error) {
      if (!child.exited) {
        child.signal('SIGKILL');
        await child.waitExit(EXIT_TIMEOUT_MS);
      }
      if (error instanceof WaitTimeoutError) {
        throw new Error(`${error.message}\n${(await failure('did not become ready')).message}`, { cause: error });
      }
      throw error;
    }
  }

  async freeze(): Promise<void> {
    const child = this.#current;
    if (!child || child.exited || child.pid === undefined) throw new Error(`${this.name} is not running: nothing to freeze`);
    child.signal('SIGSTOP');
    this.#frozen = true;
    // kill() returns before the stop takes effect: each thread stops when it next runs, and a server
    // thread woken by a request meanwhile may still answer it (seen under load, tens of ms later).
    await waitFor(() => allThreadsStopped(child.pid!), { what: `every thread of ${this.name} (pid ${child.pid}) to stop`, timeoutMs: 10_000, intervalMs: 2 });
  }

  thaw(): void {
    if (!this.#frozen) return;
    this.#frozen = false;
    this.#current?.signal('SIGCONT');
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await this.#starting?.catch(() => undefined);
    const child = this.#current;
    if (!child || child.exited) return;
    // A stopped process acts on no signal but SIGKILL until it runs again.
    this.thaw();
    child.signal(signal);
    if (!(await child.waitExit(EXIT_TIMEOUT_MS))) {
      throw new Error(`${this.name} (pid ${child.pid}) did not exit within ${EXIT_TIMEOUT_MS} ms of ${signal}`);
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#starting?.catch(() => undefined);
    const child = this.#current;
    if (!child || child.exited) return;
    this.thaw();
    child.signal('SIGTERM');
    if (!(await child.waitExit(EXIT_TIMEOUT_MS))) {
      child.signal('SIGKILL');
      await child.waitExit(EXIT_TIMEOUT_MS);
    }
  }
}

class PortInUseError extends Error {}

/** Whether every thread of `pid` is stopped (state T in /proc/<pid>/task/<tid>/stat); Linux only. */
function allThreadsStopped(pid: number): boolean {
  const taskDir = `/proc/${pid}/task`;
  try {
    return fs.readdirSync(taskDir).every((tid) => {
      // `pid (comm) state …`: comm may hold anything, the state follows its last parenthesis.
      const stat = fs.readFileSync(`${taskDir}/${tid}/stat`, 'utf8');
      return /^[tT]$/.test(stat.charAt(stat.lastIndexOf(')') + 2));
    });
  } catch {
    // A thread ended between the listing and its read: look again.
    return false;
  }
}

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}
