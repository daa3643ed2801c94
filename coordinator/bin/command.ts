/**
 * What `dtx <command>` means, decided from argv alone (the I/O is in
 * dtx.ts): which command to run, and whether the process must be started
 * again with the coordinator's Node flags (runtime.ts) first.
 */

export type DtxCommand = { kind: 'start' } | { kind: 'migrate' } | { kind: 'help' } | { kind: 'unknown'; message: string };

export const USAGE = `Usage: dtx <command>

Commands:
  start     run one coordinator until SIGINT or SIGTERM (applies pending migrations first)
  migrate   create the database if missing, apply pending migrations, exit
  help      print this text

Configuration comes from the environment: DTX_MYSQL_URL, DTX_REDIS_URL, DTX_API_TOKENS,
DTX_PARTICIPANTS, DTX_SECRET, ... (see the README's "Run the coordinator").
`;

export function parseCommand(args: readonly string[]): DtxCommand {
  const [first, ...rest] = args;
  if (first === undefined || first === 'help' || first === '--help' || first === '-h') return { kind: 'help' };
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
