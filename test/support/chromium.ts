/**
 * The headless browser of the console test: Debian's `chromium` package,
 * driven by playwright-core (which never downloads a browser of its own).
 * global-setup.ts installs the package when missing, in the same apt-get run
 * as the servers'; ensureChromium() installs it for a run without that setup.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { ensureDebianPackages } from '../../tools/debian-packages.ts';
import type { DebianPackage } from '../../tools/debian-packages.ts';

/** Where Debian's package puts the browser; DTX_CHROMIUM_PATH overrides it. */
export const CHROMIUM_PATH = process.env['DTX_CHROMIUM_PATH'] ?? '/usr/bin/chromium';

/** What launchChromium() runs. */
export const CHROMIUM_PACKAGES: readonly DebianPackage[] = [{ binary: CHROMIUM_PATH, pkg: 'chromium', instead: 'set DTX_CHROMIUM_PATH' }];

/**
 * Resolves with the path of the chromium binary, installing the `chromium`
 * Debian package first when it is absent (needs root or password-less sudo).
 */
export async function ensureChromium(): Promise<string> {
  await ensureDebianPackages(CHROMIUM_PACKAGES);
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
  // Loaded here, not at the top: global-setup.ts imports this module for CHROMIUM_PACKAGES only.
  const { chromium } = await import('playwright-core');
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
