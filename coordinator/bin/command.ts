/**
 * What `dtx <command>` means, decided from argv alone (the I/O is in
 * dtx.ts): which command to run, and whether the process must be started
 * again with the coordinator's Node flags (runtime.ts) first.
 */

import { DEFAULT_DEV_DATA_DIR, DEFAULT_DEV_PORT, type DevOptions } from '../dev/dev-settings.ts';

export type DtxCommand =
  { kind: 'start' } | { kind: 'migrate' } | { kind: 'dev'; options: DevOptions } | { kind: 'help' } | { kind: 'unknown'; message: string };

export const USAGE = `Usage: dtx <command>

Commands:
  start     run one coordinator until SIGINT or SIGTERM (applies pending migrations first)
  migrate   create the database if missing, apply pending migrations, exit
  dev       a development coordinator with nothing to install: embedded log, in-process
            retries, keys and a token generated and printed, loopback only; not for production
              --data DIR   keep its log and secrets in DIR (default ${DEFAULT_DEV_DATA_DIR})
              --memory     keep nothing on disk
              --port N     listen on 127.0.0.1:N (default ${DEFAULT_DEV_PORT}; 0: any free port)
  help      print this text

start and migrate take their configuration from the environment: DTX_LOG_URL, DTX_REDIS_URL,
DTX_API_TOKENS, DTX_API_SCOPES, DTX_PARTICIPANTS, DTX_SECRET, ... (see the README).
`;

export function parseCommand(args: readonly string[]): DtxCommand {
  const [first, ...rest] = args;
  if (first === undefined || first === 'help' || first === '--help' || first === '-h') return { kind: 'help' };
  if (first === 'dev') return parseDev(rest);
  if (first !== 'start' && first !== 'migrate') return { kind: 'unknown', message: `unknown command ${JSON.stringify(first)}` };
  if (rest.length > 0) return { kind: 'unknown', message: `${first} takes no arguments (configuration comes from the environment), got ${rest.join(' ')}` };
  return { kind: first };
}

/**
 * True when `start` should run in a child Node process with the
 * coordinator's flags: a bin's `#!/usr/bin/env node` line cannot pass them,
 * and V8 fixes the heap limit at start. Not when the caller already chose a
 * heap size (on the command line or in NODE_OPTIONS).
 */
export function needsRelaunch(execArgv: readonly string[], nodeOptions: string | undefined, flags: readonly string[]): boolean {
  const given = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)];
  return flags.some((flag) => {
    const name = flag.split('=')[0]!;
    return !given.some((arg) => arg === name || arg.startsWith(`${name}=`));
  });
}

/** `dtx dev [--data DIR | --memory] [--port N]`. */
function parseDev(args: readonly string[]): DtxCommand {
  const options: DevOptions = { dataDir: DEFAULT_DEV_DATA_DIR, port: DEFAULT_DEV_PORT };
  let memory = false;
  let dataGiven = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const value = args[i + 1];
    if (arg === '--memory') memory = true;
    else if (arg === '--data' && value !== undefined && !value.startsWith('--')) {
      options.dataDir = value;
      dataGiven = true;
      i++;
    } else if (arg === '--port' && value !== undefined && /^\d{1,5}$/.test(value) && Number(value) <= 65535) {
      options.port = Number(value);
      i++;
    } else return { kind: 'unknown', message: `dev: unknown or incomplete option ${JSON.stringify(arg)}` };
  }
  if (memory && dataGiven) return { kind: 'unknown', message: 'dev: --memory and --data exclude each other' };
  if (memory) options.dataDir = null;
  return { kind: 'dev', options };
}
