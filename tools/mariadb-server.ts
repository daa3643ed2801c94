/**
 * A private MariaDB server for tests, the demo and benchmarks: its own data
 * dir and TCP port, never the machine's system service.
 *
 *   const db = await startMariadb();   // db.url = mysql://dtx:dtx@127.0.0.1:<port>
 *   await db.kill();                    // SIGKILL, like a crash
 *   await db.start();                   // same data dir, same port
 *   await db.stop();                    // graceful, removes the temp dir
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { createConnection } from 'mysql2/promise';
import { requireBinary } from './debian-packages.ts';
import type { DebianPackage } from './debian-packages.ts';
import { runLogged } from './logged-process.ts';
import { ServerProcess, startManagedServer } from './server-process.ts';
import type { ManagedServer, ServerOptions } from './server-process.ts';

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

const MARIADBD: DebianPackage = { binary: 'mariadbd', pkg: 'mariadb-server' };
const INSTALL_DB: DebianPackage = { binary: 'mariadb-install-db', pkg: 'mariadb-server' };
/** What startMariadb() runs. */
export const MARIADB_PACKAGES: readonly DebianPackage[] = [MARIADBD, INSTALL_DB];

const INSTALL_DB_TIMEOUT_MS = 120_000;

/** Starts a private MariaDB on a fresh data dir; resolves once user `dtx`/`dtx` can log in over TCP. */
export async function startMariadb(opts: ServerOptions = {}): Promise<MariadbServer> {
  const mariadbd = requireBinary(MARIADBD);
  const installDb = requireBinary(INSTALL_DB);
  const asRoot = process.getuid?.() === 0;

  return startManagedServer('dtx-mariadb-', opts, async (baseDir) => {
    const dataDir = path.join(baseDir, 'data');
    const socketPath = path.join(baseDir, 'mysqld.sock');
    const errorLog = path.join(baseDir, 'error.log');
    // Temporary tables in the server's own folder: under the shared /tmp, two servers installed or
    // running at once can pick the same temporary file name (install-db then fails with error 1051).
    const tmpDir = path.join(baseDir, 'tmp');
    if (Buffer.byteLength(socketPath) > 107) {
      throw new Error(`Unix socket path too long (${socketPath}); use a shorter TMPDIR or baseDir`);
    }
    await fsp.mkdir(tmpDir, { recursive: true });
    if (!fs.existsSync(path.join(dataDir, 'mysql'))) {
      await fsp.mkdir(dataDir, { recursive: true });
      const args = [
        '--no-defaults',
        `--datadir=${dataDir}`,
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
        ...(asRoot ? ['--user=root'] : []),
        // Passed on to the mariadbd it bootstraps.
        `--tmpdir=${tmpDir}`,
      ];
      await runLogged(installDb, args, path.join(baseDir, 'install-db.log'), INSTALL_DB_TIMEOUT_MS);
    }

    const proc = new ServerProcess('mariadbd', errorLog, (port) => ({
      command: mariadbd,
      // --no-defaults must come first.
      args: [
        '--no-defaults',
        `--datadir=${dataDir}`,
        `--tmpdir=${tmpDir}`,
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
      stdoutLog: path.join(baseDir, 'mariadbd.out.log'),
      probe: () => pingMariadbSocket(socketPath),
      portInUse: /Address already in use|Do you already have another (mysqld|mariadbd|server) running/i,
    }));

    return {
      proc,
      afterStart: async (port) => {
        const url = `mysql://dtx:dtx@127.0.0.1:${port}`;
        await createDtxUser(socketPath);
        await pingMariadbUrl(url);
        return { url, dataDir, socketPath, errorLog };
      },
    };
  });
}

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
