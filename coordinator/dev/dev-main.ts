/**
 * `dtx dev` (`npm run dev`): the development coordinator (dev-settings.ts).
 * Creates its data folder and secrets at the first start, keeps them after,
 * prints what to export once it listens, and runs until Ctrl-C / SIGTERM.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, loadConfig } from '../config.ts';
import { serve } from '../serve.ts';
import { devBanner, devEnvironment, type DevOptions, type DevSecrets } from './dev-settings.ts';

/** Runs the development coordinator with `options`; resolves once it listens (the process then runs until stopped). */
export async function runDevCoordinator(options: DevOptions): Promise<void> {
  const secrets = options.dataDir === null ? generateSecrets() : keptSecrets(options.dataDir);
  let config;
  try {
    config = loadConfig(devEnvironment(options, secrets, process.env));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`dtx dev: ${error.message}\n`);
    process.exit(2);
  }
  await serve(config, (url) => process.stdout.write(devBanner(url, options, secrets)));
}

function generateSecrets(): DevSecrets {
  const secret = () => randomBytes(24).toString('base64url');
  return { coordinatorKey: secret(), apiToken: secret(), initiatorKey: secret(), adminToken: secret() };
}

/** The secrets kept in `dataDir`, generated (and the folder created, private) at the first start. */
function keptSecrets(dataDir: string): DevSecrets {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(dataDir, 'dev-secrets.json');
  if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8')) as DevSecrets;
  const secrets = generateSecrets();
  fs.writeFileSync(file, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  return secrets;
}
