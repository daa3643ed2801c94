/**
 * The headless browser of the console test: Debian's `chromium` package,
 * driven by playwright-core (which never downloads a browser of its own).
 * Installed with apt-get when missing, the way servers.ts installs MariaDB
 * and Redis.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

/** Where Debian's package puts the browser; DTX_CHROMIUM_PATH overrides it. */
export const CHROMIUM_PATH = process.env['DTX_CHROMIUM_PATH'] ?? '/usr/bin/chromium';

const APT_TIMEOUT_MS = 20 * 60_000;
const BIN_DIRS = ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin', '/sbin', '/bin'];

let installing: Promise<string> | undefined;

/**
 * Resolves with the path of the chromium binary, installing the `chromium`
 * Debian package first when it is absent (needs root or password-less sudo).
 */
export function ensureChromium(): Promise<string> {
  installing ??= install().catch((error: unknown) => {
    installing = undefined;
    throw error;
  });
  return installing;
}

async function install(): Promise<string> {
  if (isExecutable(CHROMIUM_PATH)) return CHROMIUM_PATH;
  const aptGet = findBinary('apt-get');
  if (process.platform !== 'linux' || !aptGet) {
    throw new Error(`${CHROMIUM_PATH} is missing and there is no apt-get to install it: install chromium, or set DTX_CHROMIUM_PATH`);
  }
  const asRoot = process.getuid?.() === 0;
  const sudo = asRoot ? undefined : findBinary('sudo');
  if (!asRoot && !sudo) throw new Error(`${CHROMIUM_PATH} is missing; installing it needs root (or sudo): apt-get install chromium`);

  const logFile = path.join(os.tmpdir(), `dtx-apt-chromium-${process.pid}-${Date.now()}.log`);
  // Wait for the dpkg lock rather than fail if another install is running.
  const lockWait = ['-o', 'DPkg::Lock::Timeout=600'];
  const run = (args: string[]) =>
    sudo ? runLogged(sudo, ['-n', 'env', 'DEBIAN_FRONTEND=noninteractive', aptGet, ...lockWait, ...args], logFile) : runLogged(aptGet, [...lockWait, ...args], logFile);
  process.stderr.write(`[dtx chromium] ${CHROMIUM_PATH} missing: installing the chromium package (log: ${logFile})\n`);
  const started = Date.now();
  await run(['update']);
  await run(['install', '-y', '--no-install-recommends', 'chromium']);
  if (!isExecutable(CHROMIUM_PATH)) throw new Error(`apt-get install chromium succeeded but ${CHROMIUM_PATH} is still missing; see ${logFile}`);
  process.stderr.write(`[dtx chromium] installed in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  return CHROMIUM_PATH;
}

export interface HeadlessBrowser {
  /** A browser context on a fresh profile directory: `context.newPage()`. */
  context: BrowserContext;
  /** Closes the browser and removes its profile directory. */
  close(): Promise<void>;
}

/** Launches the system chromium headless, on a fresh profile, without any network chatter of its own. */
export async function launchChromium(): Promise<HeadlessBrowser> {
  const executablePath = await ensureChromium();
  const userDataDir = await mkdtemp(path.join(os.tmpdir(), 'dtx-chromium-'));
  try {
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath,
      headless: true,
      chromiumSandbox: false,
      // Playwright adds --user-data-dir=<userDataDir> itself (and refuses it in args).
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1400, height: 900 },
    });
    return {
      context,
      close: async () => {
        await context.close().catch(() => undefined);
        await rm(userDataDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(userDataDir, { recursive: true, force: true });
    throw error;
  }
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function findBinary(name: string): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(path.delimiter), ...BIN_DIRS];
  return dirs.filter(Boolean).map((dir) => path.join(dir, name)).find(isExecutable);
}

/** Runs a command to completion with its output appended to `logFile`; throws with the log's tail on failure. */
async function runLogged(command: string, args: string[], logFile: string): Promise<void> {
  fs.appendFileSync(logFile, `\n$ ${command} ${args.join(' ')}\n`);
  const fd = fs.openSync(logFile, 'a');
  try {
    const child = spawn(command, args, { stdio: ['ignore', fd, fd], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    const code = await new Promise<number | string>((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve('timed out');
      }, APT_TIMEOUT_MS);
      child.once('error', (error) => {
        clearTimeout(timer);
        resolve(error.message);
      });
      child.once('exit', (exitCode, signal) => {
        clearTimeout(timer);
        resolve(exitCode ?? `killed by ${signal}`);
      });
    });
    if (code !== 0) {
      const tail = fs.readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-40).join('\n');
      throw new Error(`\`${command} ${args.join(' ')}\` failed (${code}); ${logFile}:\n${tail}`);
    }
  } finally {
    fs.closeSync(fd);
  }
}
