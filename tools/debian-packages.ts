/**
 * The programs the tests run (MariaDB, Redis, chromium) come from Debian
 * packages, installed with apt-get when missing. Everything missing is
 * installed in one `apt-get update` + one `apt-get install`: on a fresh CI
 * machine that is the slow part, so global-setup.ts asks for all of it at once.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runLogged, tail } from './logged-process.ts';

/** A program and the Debian package that provides it. */
export interface DebianPackage {
  /** A name looked up in PATH and the sbin/bin dirs, or an absolute path. */
  binary: string;
  pkg: string;
  /** What to do instead where apt-get cannot install it, e.g. `set DTX_CHROMIUM_PATH`. */
  instead?: string;
}

// Root's sbin dirs are often missing from a test runner's PATH.
const EXTRA_BIN_DIRS = ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin', '/sbin', '/bin'];
const APT_TIMEOUT_MS = 20 * 60_000;
/** apt-get waits this long for another apt/dpkg to finish rather than fail. */
const DPKG_LOCK_TIMEOUT_S = 600;

/** Where `name` is (an executable file in PATH or the usual bin dirs), or undefined. */
export function findBinary(name: string): string | undefined {
  if (name.includes('/')) return isExecutable(name) ? name : undefined;
  const dirs = [...(process.env['PATH'] ?? '').split(path.delimiter), ...EXTRA_BIN_DIRS];
  return dirs
    .filter(Boolean)
    .map((dir) => path.join(dir, name))
    .find(isExecutable);
}

/** findBinary() or an error naming the package to install. */
export function requireBinary(required: DebianPackage): string {
  const found = findBinary(required.binary);
  if (!found) {
    throw new Error(`${required.binary} not found in PATH or ${EXTRA_BIN_DIRS.join(', ')}; install the Debian package ${required.pkg} first`);
  }
  return found;
}

let installing: Promise<void> = Promise.resolve();

/**
 * Installs the packages of the `required` binaries that are missing, all in
 * one apt-get transaction (needs root or password-less sudo). Does nothing
 * when they are all present. Calls in one process take turns, so a second
 * call finds what the first installed.
 */
export function ensureDebianPackages(required: readonly DebianPackage[]): Promise<void> {
  const turn = installing.then(() => installMissing(required));
  installing = turn.catch(() => undefined);
  return turn;
}

async function installMissing(required: readonly DebianPackage[]): Promise<void> {
  const missing = required.filter((r) => !findBinary(r.binary));
  if (missing.length === 0) return;
  const binaries = missing.map((r) => r.binary).join(', ');
  const pkgs = [...new Set(missing.map((r) => r.pkg))];
  const aptGet = findBinary('apt-get');
  if (process.platform !== 'linux' || !aptGet) {
    const instead = [...new Set(missing.flatMap((r) => (r.instead ? [r.instead] : [])))];
    throw new Error(
      `Missing ${binaries} and no apt-get to install them: install ${pkgs.join(' ')} yourself` + (instead.length > 0 ? `, or ${instead.join('; or ')}` : ''),
    );
  }
  const asRoot = process.getuid?.() === 0;
  const sudo = asRoot ? undefined : findBinary('sudo');
  if (!asRoot && !sudo) {
    throw new Error(`Missing ${binaries}; installing them needs root (or sudo): apt-get install ${pkgs.join(' ')}`);
  }

  const logFile = path.join(os.tmpdir(), `dtx-apt-${process.pid}-${Date.now()}.log`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const apt = (args: string[]) => {
    const aptArgs = ['-o', `DPkg::Lock::Timeout=${DPKG_LOCK_TIMEOUT_S}`, ...args];
    // sudo resets the environment: pass DEBIAN_FRONTEND through env(1).
    return sudo
      ? runLogged(sudo, ['-n', 'env', 'DEBIAN_FRONTEND=noninteractive', aptGet, ...aptArgs], logFile, APT_TIMEOUT_MS, env)
      : runLogged(aptGet, aptArgs, logFile, APT_TIMEOUT_MS, env);
  };
  process.stderr.write(`[dtx apt] ${binaries} missing: installing ${pkgs.join(', ')} (log: ${logFile})\n`);
  const started = Date.now();
  await apt(['update']);
  // Recommends would add desktop services to chromium and unused plugins to MariaDB.
  await apt(['install', '-y', '--no-install-recommends', ...pkgs]);

  const stillMissing = missing.filter((r) => !findBinary(r.binary)).map((r) => r.binary);
  if (stillMissing.length > 0) {
    throw new Error(`apt-get install succeeded but ${stillMissing.join(', ')} still not found.\n${await tail(logFile)}`);
  }
  process.stderr.write(`[dtx apt] installed in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}
