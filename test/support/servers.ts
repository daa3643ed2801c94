/**
 * Private MariaDB and Redis server processes for tests, the demo and
 * benchmarks. Real servers, each on its own temp directory and TCP port,
 * never the machine's system services.
 *
 *   const db = await startMariadb();   // db.url = mysql://dtx:dtx@127.0.0.1:<port>
 *   await db.kill();                    // SIGKILL, like a crash
 *   await db.start();                   // same data dir, same port
 *   await db.stop();                    // graceful, removes the temp dir
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createConnection } from 'mysql2/promise';
import { Redis } from 'ioredis';
import { pickFreePort } from './free-port.ts';
import { waitFor, WaitTimeoutError } from './wait.ts';

// ---------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------

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

interface ManagedServer {
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
  /** (Re)starts the server on the same files and port, resolving once it answers. No-op if running. */
  start(): Promise<void>;
  /** Graceful SIGTERM, waits for exit, then removes the temp dir (unless baseDir was given). Idempotent. */
  stop(): Promise<void>;
}

export interface MariadbServer extends ManagedServer {
  /** `mysql://dtx:dtx@127.0.0.1:<port>` (no database part). */
  readonly url: string;
  /** The MariaDB datadir (`<baseDir>/data`). */
  readonly dataDir: string;
  /** Unix socket; root can log in there without a password. */
  readonly socketPath: string;
  /** The server's error log. */
  readonly errorLog: string;
}

export interface RedisServer extends ManagedServer {
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** The server's log (its stdout/stderr). */
  readonly logFile: string;
}

const MARIADB_BINARIES = ['mariadbd', 'mariadb-install-db'] as const;
const REDIS_BINARIES = ['redis-server'] as const;
const EXTRA_BIN_DIRS = ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin', '/sbin', '/bin'];

const READY_TIMEOUT_MS = 60_000;
const EXIT_TIMEOUT_MS = 60_000;
const INSTALL_DB_TIMEOUT_MS = 120_000;
const APT_TIMEOUT_MS = 20 * 60_000;
/** Attempts to start on a freshly picked port when the picked one turned out to be taken. */
const PORT_ATTEMPTS = 4;

/**
 * Installs the `mariadb-server` and `redis-server` Debian packages with apt-get
 * when `mariadbd`, `mariadb-install-db` or `redis-server` cannot be found.
 * Does nothing when they are all present.
 */
export async function ensureServerPackages(): Promise<void> {
  const missing = [...MARIADB_BINARIES, ...REDIS_BINARIES].filter((name) => !findBinary(name));
  if (missing.length === 0) return;

  const aptGet = findBinary('apt-get');
  if (process.platform !== 'linux' || !aptGet) {
    throw new Error(
      `Missing ${missing.join(', ')} and no apt-get to install them: install MariaDB and Redis servers ` +
        'yourself, or point DTX_TEST_MYSQL_URL and DTX_TEST_REDIS_URL at running servers.',
    );
  }
  const asRoot = process.getuid?.() === 0;
  const sudo = asRoot ? undefined : findBinary('sudo');
  if (!asRoot && !sudo) {
    throw new Error(`Missing ${missing.join(', ')}; installing them needs root (or sudo): apt-get install mariadb-server redis-server`);
  }
  const logFile = path.join(os.tmpdir(), `dtx-apt-${process.pid}-${Date.now()}.log`);
  const run = (args: string[]) =>
    sudo
      ? runLogged(sudo, ['-n', 'env', 'DEBIAN_FRONTEND=noninteractive', aptGet, ...args], logFile)
      : runLogged(aptGet, args, logFile);
  process.stderr.write(`[dtx servers] ${missing.join(', ')} missing: installing mariadb-server and redis-server (log: ${logFile})\n`);
  const started = Date.now();
  await run(['update']);
  await run(['install', '-y', 'mariadb-server', 'redis-server']);

  const stillMissing = [...MARIADB_BINARIES, ...REDIS_BINARIES].filter((name) => !findBinary(name));
  if (stillMissing.length > 0) {
    throw new Error(`apt-get install succeeded but ${stillMissing.join(', ')} still not found.\n${await tail(logFile)}`);
  }
  process.stderr.write(`[dtx servers] packages installed in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

/** Starts a private MariaDB on a fresh data dir; resolves once user `dtx`/`dtx` can log in over TCP. */
export async function startMariadb(opts: ServerOptions = {}): Promise<MariadbServer> {
  const mariadbd = requireBinary('mariadbd');
  const installDb = requireBinary('mariadb-install-db');
  const { baseDir, owned } = await prepareBaseDir('dtx-mariadb-', opts.baseDir);
  const dataDir = path.join(baseDir, 'data');
  const socketPath = path.join(baseDir, 'mysqld.sock');
  const errorLog = path.join(baseDir, 'error.log');
  const stdoutLog = path.join(baseDir, 'mariadbd.out.log');
  const installLog = path.join(baseDir, 'install-db.log');
  const asRoot = process.getuid?.() === 0;

  try {
    if (Buffer.byteLength(socketPath) > 107) {
      throw new Error(`Unix socket path too long (${socketPath}); use a shorter TMPDIR or baseDir`);
    }
    if (!fs.existsSync(path.join(dataDir, 'mysql'))) {
      await fsp.mkdir(dataDir, { recursive: true });
      const args = [
        '--no-defaults',
        `--datadir=${dataDir}`,
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
        ...(asRoot ? ['--user=root'] : []),
      ];
      const installer = spawnLogged(installDb, args, installLog);
      const result = await installer.waitExit(INSTALL_DB_TIMEOUT_MS);
      if (!result || result.code !== 0) {
        if (!result) installer.signal('SIGKILL');
        throw new Error(
          `mariadb-install-db ${result ? `failed (${describeExit(result)})` : 'timed out'}; ${installLog}:\n${await tail(installLog)}`,
        );
      }
    }

    const proc = new ServerProcess('mariadbd', errorLog, (port) => ({
      command: mariadbd,
      // --no-defaults must come first.
      args: [
        '--no-defaults',
        `--datadir=${dataDir}`,
        `--socket=${socketPath}`,
        `--port=${port}`,
        '--bind-address=127.0.0.1',
        ...(asRoot ? ['--user=root'] : []),
        '--skip-log-bin',
        // Committed data survives a SIGKILL of mariadbd (the OS still has the log writes); not an OS crash.
        '--innodb-flush-log-at-trx-commit=2',
        '--innodb-buffer-pool-size=256M',
        '--innodb-buffer-pool-dump-at-shutdown=0',
        '--innodb-buffer-pool-load-at-startup=0',
        '--max-connections=1000',
        '--skip-name-resolve',
        // --no-defaults skips Debian's utf8mb4 config; the compiled-in default would be latin1.
        '--character-set-server=utf8mb4',
        '--collation-server=utf8mb4_unicode_ci',
        `--pid-file=${path.join(baseDir, 'mysqld.pid')}`,
        `--log-error=${errorLog}`,
      ],
      stdoutLog,
      probe: () => pingMariadbSocket(socketPath),
      portInUse: /Address already in use|Do you already have another (mysqld|mariadbd|server) running/i,
    }));
    await proc.firstStart(opts.port);
    const port = proc.port;
    const url = `mysql://dtx:dtx@127.0.0.1:${port}`;
    await createDtxUser(socketPath);
    await pingMariadbUrl(url);

    return {
      url,
      port,
      baseDir,
      dataDir,
      socketPath,
      errorLog,
      get pid() {
        return proc.pid;
      },
      get running() {
        return proc.running;
      },
      kill: (signal) => proc.kill(signal),
      start: () => proc.start(),
      stop: async () => {
        await proc.stop();
        if (owned) await removeOwnedDir(baseDir);
      },
    };
  } catch (error) {
    if (owned) await removeOwnedDir(baseDir);
    throw error;
  }
}

/** Starts a private Redis (no persistence); resolves once it answers PING. */
export async function startRedis(opts: ServerOptions = {}): Promise<RedisServer> {
  const redisServer = requireBinary('redis-server');
  const { baseDir, owned } = await prepareBaseDir('dtx-redis-', opts.baseDir);
  const logFile = path.join(baseDir, 'redis.log');
  try {
    const proc = new ServerProcess('redis-server', logFile, (port) => ({
      command: redisServer,
      args: [
        '--port', String(port),
        '--bind', '127.0.0.1',
        '--save', '',
        '--appendonly', 'no',
        '--dir', baseDir,
        '--daemonize', 'no',
        '--protected-mode', 'no',
      ],
      stdoutLog: logFile,
      probe: (pid) => pingRedis(port, pid),
      portInUse: /Address already in use/i,
    }));
    await proc.firstStart(opts.port);
    const port = proc.port;
    return {
      url: `redis://127.0.0.1:${port}`,
      port,
      baseDir,
      logFile,
      get pid() {
        return proc.pid;
      },
      get running() {
        return proc.running;
      },
      kill: (signal) => proc.kill(signal),
      start: () => proc.start(),
      stop: async () => {
        await proc.stop();
        if (owned) await removeOwnedDir(baseDir);
      },
    };
  } catch (error) {
    if (owned) await removeOwnedDir(baseDir);
    throw error;
  }
}

// ---------------------------------------------------------------------------
// Server process management
// ---------------------------------------------------------------------------

interface LaunchSpec {
  command: string;
  args: string[];
  /** Where the process's stdout/stderr go. */
  stdoutLog: string;
  /** Resolves truthy once the server accepts clients; may throw while it does not. */
  probe: (pid: number) => Promise<boolean>;
  /** Log text meaning "the port was taken": the first start then retries on another port. */
  portInUse: RegExp;
}

class ServerProcess {
  #port = 0;
  #pid = 0;
  #current: Spawned | undefined;
  #stopped = false;
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
    const child = spawnLogged(spec.command, spec.args, spec.stdoutLog);
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

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await this.#starting?.catch(() => undefined);
    const child = this.#current;
    if (!child || child.exited) return;
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
    child.signal('SIGTERM');
    if (!(await child.waitExit(EXIT_TIMEOUT_MS))) {
      child.signal('SIGKILL');
      await child.waitExit(EXIT_TIMEOUT_MS);
    }
  }
}

class PortInUseError extends Error {}

interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

interface Spawned {
  readonly pid: number | undefined;
  /** Set once the process has exited (or failed to spawn). */
  readonly exited: ExitInfo | undefined;
  /** Resolves with the exit info, or undefined when `timeoutMs` passes first. */
  waitExit(timeoutMs: number): Promise<ExitInfo | undefined>;
  signal(signal: NodeJS.Signals): void;
}

/**
 * Spawns `command` with stdout/stderr appended to `logFile` (no pipes, so
 * nothing keeps the event loop alive), unref'd, and registered for the
 * exit-time cleanup.
 */
function spawnLogged(command: string, args: string[], logFile: string, env?: NodeJS.ProcessEnv): Spawned {
  installCleanupHooks();
  const fd = fs.openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(command, args, { stdio: ['ignore', fd, fd], env: env ?? process.env });
  } finally {
    fs.closeSync(fd);
  }
  let exitInfo: ExitInfo | undefined;
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('exit', (code, signal) => resolve((exitInfo = { code, signal })));
    child.once('error', (error) => resolve((exitInfo ??= { code: null, signal: null, error })));
  });
  void exited.then(() => liveChildren.delete(child));
  if (child.pid !== undefined) liveChildren.add(child);
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

/** Runs a command to completion, output appended to `logFile`; throws with the log's tail on failure. */
async function runLogged(command: string, args: string[], logFile: string): Promise<void> {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  fs.appendFileSync(logFile, `\n$ ${command} ${args.join(' ')}\n`);
  const child = spawnLogged(command, args, logFile, env);
  const result = await child.waitExit(APT_TIMEOUT_MS);
  if (!result) child.signal('SIGKILL');
  if (!result || result.code !== 0) {
    throw new Error(
      `\`${command} ${args.join(' ')}\` ${result ? `failed (${describeExit(result)})` : 'timed out'}; ${logFile}:\n${await tail(logFile)}`,
    );
  }
}

function describeExit(info: ExitInfo): string {
  if (info.error) return `spawn error: ${info.error.message}`;
  return info.signal ? `killed by ${info.signal}` : `exit code ${info.code}`;
}

// ---------------------------------------------------------------------------
// Cleanup: servers must not outlive the process that started them
// ---------------------------------------------------------------------------

const liveChildren = new Set<ChildProcess>();
const ownedDirs = new Set<string>();
let hooksInstalled = false;

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

// ---------------------------------------------------------------------------
// Probes
// ---------------------------------------------------------------------------

async function pingMariadbSocket(socketPath: string): Promise<boolean> {
  if (!fs.existsSync(socketPath)) return false;
  const conn = await createConnection({ socketPath, user: 'root', password: '', connectTimeout: 5_000 });
  try {
    await conn.query({ sql: 'SELECT 1', timeout: 5_000 });
    return true;
  } finally {
    conn.destroy();
  }
}

async function pingMariadbUrl(url: string): Promise<void> {
  const conn = await createConnection({ uri: url, connectTimeout: 5_000 });
  try {
    await conn.query({ sql: 'SELECT 1', timeout: 5_000 });
  } finally {
    await conn.end();
  }
}

/** Creates `'dtx'@'%'`, `'dtx'@'127.0.0.1'` and `'dtx'@'localhost'`, password `dtx`, all privileges. */
async function createDtxUser(socketPath: string): Promise<void> {
  const conn = await createConnection({ socketPath, user: 'root', password: '', connectTimeout: 5_000 });
  try {
    for (const host of ['%', '127.0.0.1', 'localhost']) {
      await conn.query(`CREATE OR REPLACE USER 'dtx'@'${host}' IDENTIFIED BY 'dtx'`);
      await conn.query(`GRANT ALL PRIVILEGES ON *.* TO 'dtx'@'${host}' WITH GRANT OPTION`);
    }
  } finally {
    await conn.end();
  }
}

/** PING, then check via INFO that the server answering is process `pid` (not some other server on the port). */
async function pingRedis(port: number, pid: number): Promise<boolean> {
  const client = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    connectTimeout: 2_000,
    commandTimeout: 2_000,
    enableReadyCheck: false,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    if ((await client.ping()) !== 'PONG') return false;
    const info = await client.info('server');
    const answering = /^process_id:(\d+)/m.exec(info)?.[1];
    if (answering !== String(pid)) {
      throw new Error(`port ${port} is answered by another redis-server (pid ${answering}), not pid ${pid}`);
    }
    return true;
  } finally {
    client.disconnect();
  }
}

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------


async function prepareBaseDir(prefix: string, given: string | undefined): Promise<{ baseDir: string; owned: boolean }> {
  if (given) {
    const baseDir = path.resolve(given);
    await fsp.mkdir(baseDir, { recursive: true });
    return { baseDir, owned: false };
  }
  installCleanupHooks();
  const baseDir = await fsp.mkdtemp(path.join(os.tmpdir(), prefix));
  ownedDirs.add(baseDir);
  return { baseDir, owned: true };
}

async function removeOwnedDir(dir: string): Promise<void> {
  ownedDirs.delete(dir);
  await fsp.rm(dir, { recursive: true, force: true, maxRetries: 3 });
}

function findBinary(name: string): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(path.delimiter), ...EXTRA_BIN_DIRS];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

function requireBinary(name: string): string {
  const found = findBinary(name);
  if (!found) {
    throw new Error(`${name} not found in PATH or ${EXTRA_BIN_DIRS.join(', ')}; call ensureServerPackages() first`);
  }
  return found;
}

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

/** Last `lines` lines of `file` from byte `offset` on ('' if the file does not exist). */
async function tail(file: string, offset = 0, lines = 40): Promise<string> {
  try {
    const text = (await fsp.readFile(file)).subarray(offset).toString('utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
