/**
 * A private PostgreSQL server for tests, the demo and benchmarks: its own
 * data directory and TCP port, never the machine's system cluster. Same API
 * as mariadb-server.ts: kill() is a crash (SIGKILL: of every session's
 * process too), start() a restart on the same
 * files and port, freeze()/thaw() a server that stops answering (every
 * process of it, the sessions' too).
 *
 *   const pg = await startPostgres();   // pg.url = postgres://dtx:dtx@127.0.0.1:<port>/postgres
 *
 * PostgreSQL refuses to run as root: as root, the server runs as the
 * `postgres` system user that Debian's package creates, and owns its folder.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import type { DebianPackage } from './debian-packages.ts';
import { findBinary } from './debian-packages.ts';
import { runLogged, type RunAs } from './logged-process.ts';
import { ServerProcess, startManagedServer } from './server-process.ts';
import type { ManagedServer, ServerOptions } from './server-process.ts';
import { waitFor } from './wait.ts';

export interface PostgresServer extends ManagedServer {
  /** `postgres://dtx:dtx@127.0.0.1:<port>/postgres`: the maintenance database; create your own. */
  readonly url: string;
  /** The cluster's data directory (`<baseDir>/data`). */
  readonly dataDir: string;
  /** The server's log (its stdout/stderr). */
  readonly logFile: string;
}

/**
 * Debian's `postgresql` package: its programs live in /usr/lib/postgresql/<version>/bin, out of
 * PATH; `pg_ctlcluster` (from postgresql-common, which it depends on) says it is installed.
 */
export const POSTGRES_PACKAGES: readonly DebianPackage[] = [{ binary: 'pg_ctlcluster', pkg: 'postgresql' }];

const INITDB_TIMEOUT_MS = 120_000;

/** Starts a private PostgreSQL on a fresh cluster; resolves once user `dtx`/`dtx` can log in over TCP. */
export async function startPostgres(opts: ServerOptions = {}): Promise<PostgresServer> {
  const { initdb, postgres } = postgresBinaries();
  const user = process.getuid?.() === 0 ? systemUser('postgres') : undefined;

  const server = await startManagedServer('dtx-postgres-', opts, async (baseDir) => {
    const dataDir = path.join(baseDir, 'data');
    const logFile = path.join(baseDir, 'postgres.log');
    if (Buffer.byteLength(path.join(baseDir, '.s.PGSQL.65535')) > 107) {
      throw new Error(`Unix socket path too long under ${baseDir}; use a shorter TMPDIR or baseDir`);
    }
    if (user) await chownTree(baseDir, user);
    if (!fs.existsSync(path.join(dataDir, 'PG_VERSION'))) {
      const passwordFile = path.join(baseDir, 'password');
      await fsp.writeFile(passwordFile, 'dtx\n', { mode: 0o600 });
      if (user) await fsp.chown(passwordFile, user.uid, user.gid);
      const args = [
        '-D',
        dataDir,
        '-U',
        'dtx',
        `--pwfile=${passwordFile}`,
        '--auth-local=trust',
        '--auth-host=scram-sha-256',
        '-E',
        'UTF8',
        '--locale=C.UTF-8',
      ];
      await runLogged(initdb, args, path.join(baseDir, 'initdb.log'), INITDB_TIMEOUT_MS, undefined, user);
      await fsp.rm(passwordFile);
    }

    const proc = new ServerProcess('postgres', logFile, (port) => ({
      command: postgres,
      args: [
        '-D',
        dataDir,
        '-p',
        String(port),
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        `unix_socket_directories=${baseDir}`,
        // Committed data survives a SIGKILL of the server (the OS still has the WAL writes); not an OS crash.
        '-c',
        'fsync=off',
        '-c',
        'max_connections=400',
        '-c',
        'shared_buffers=128MB',
        '-c',
        'logging_collector=off',
      ],
      stdoutLog: logFile,
      probe: () => pingPostgres(port),
      portInUse: /could not bind|Address already in use|could not create any TCP\/IP sockets/i,
      ...(user ? { user } : {}),
    }));

    return {
      proc,
      afterStart: async (port) => ({ url: `postgres://dtx:dtx@127.0.0.1:${port}/postgres`, dataDir, logFile }),
    };
  });
  return freezingEveryProcess(server);
}

/**
 * PostgreSQL runs a process per session: SIGSTOP of the postmaster alone
 * leaves every open session answering. So freeze() stops the postmaster
 * first (no session starts), then every process it started, and resolves
 * once each has stopped; thaw(), kill() and stop() let them all run first.
 */
function freezingEveryProcess(server: PostgresServer): PostgresServer {
  const { freeze, thaw, kill, stop } = server;
  let frozen: number[] = [];
  const thawSessions = () => {
    for (const pid of frozen.splice(0)) signalIfAlive(pid, 'SIGCONT');
  };
  server.freeze = async () => {
    await freeze();
    frozen = childrenOf(server.pid);
    for (const pid of frozen) signalIfAlive(pid, 'SIGSTOP');
    await waitFor(() => frozen.every(stoppedOrGone), { what: `every process of PostgreSQL (pid ${server.pid}) to stop`, timeoutMs: 10_000, intervalMs: 2 });
  };
  server.thaw = () => {
    thawSessions();
    thaw();
  };
  server.kill = async (signal = 'SIGKILL') => {
    thawSessions();
    // A crash of the server: its sessions' processes die with it. Left running, an orphaned session
    // could still finish a statement after "the crash" and keep the restart waiting on its shared memory.
    const sessions = signal === 'SIGKILL' ? childrenOf(server.pid) : [];
    await kill(signal);
    for (const pid of sessions) signalIfAlive(pid, 'SIGKILL');
    await waitFor(() => sessions.every((pid) => readStat(pid) === null || readStat(pid)?.state === 'Z'), {
      what: `every session of PostgreSQL (pid ${server.pid}) to exit`,
      timeoutMs: 10_000,
      intervalMs: 5,
    });
  };
  server.stop = async () => {
    thawSessions();
    await stop();
  };
  return server;
}

/** The pids whose parent is `parent` (from /proc/<pid>/stat); Linux only. */
function childrenOf(parent: number): number[] {
  const children: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat?.ppid === parent) children.push(Number(entry));
  }
  return children;
}

/** State and parent of `pid` (`pid (comm) state ppid …`: comm may hold anything, the fields follow its last parenthesis), or null once gone. */
function readStat(pid: number): { state: string; ppid: number } | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: state ?? '', ppid: Number(ppid) };
  } catch {
    return null;
  }
}

function stoppedOrGone(pid: number): boolean {
  const stat = readStat(pid);
  return stat === null || /^[tT]$/.test(stat.state);
}

function signalIfAlive(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** The server's programs: the newest version's under /usr/lib/postgresql, else whatever PATH has. */
export function postgresBinaries(): { initdb: string; postgres: string } {
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root)
    ? fs
        .readdirSync(root)
        .filter((name) => /^\d+$/.test(name))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  for (const version of versions) {
    const bin = path.join(root, version, 'bin');
    if (fs.existsSync(path.join(bin, 'postgres')) && fs.existsSync(path.join(bin, 'initdb'))) {
      return { initdb: path.join(bin, 'initdb'), postgres: path.join(bin, 'postgres') };
    }
  }
  const initdb = findBinary('initdb');
  const postgres = findBinary('postgres');
  if (initdb && postgres) return { initdb, postgres };
  throw new Error(`PostgreSQL's initdb and postgres not found under ${root}/<version>/bin nor in PATH; install the Debian package postgresql first`);
}

/** The uid and gid of system user `name` (from /etc/passwd), to run the server as. */
function systemUser(name: string): RunAs {
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith(`${name}:`));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined) {
    throw new Error(`PostgreSQL refuses to run as root, and there is no "${name}" user to run it as (Debian's postgresql package creates it)`);
  }
  return { uid: Number(uid), gid: Number(gid) };
}

/** Gives `dir` (and everything in it) to `user`, and lets it reach the folder. */
async function chownTree(dir: string, user: RunAs): Promise<void> {
  await fsp.chown(dir, user.uid, user.gid);
  await fsp.chmod(dir, 0o700);
  for (const entry of await fsp.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) await chownTree(full, user);
    else await fsp.chown(full, user.uid, user.gid);
  }
}

async function pingPostgres(port: number): Promise<boolean> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'dtx', password: 'dtx', database: 'postgres', connectionTimeoutMillis: 5_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } finally {
    await client.end().catch(() => undefined);
  }
}
