#!/usr/bin/env node
/**
 * `dtx start | migrate | dev`: the coordinator's command line (the package's
 * `bin`). `start` runs coordinator/main.ts, `migrate` runs migrate-cli.ts,
 * each configured from the environment; `dev` runs the development
 * coordinator (dev/dev-main.ts).
 */
import { spawn } from 'node:child_process';
import { ConfigError } from '../config.ts';
import { COORDINATOR_NODE_ARGS } from '../runtime.ts';
import { needsRelaunch, parseCommand, USAGE } from './command.ts';

/** Marks the child started by relaunch(). */
const RELAUNCHED = 'DTX_BIN_RELAUNCHED';

const command = parseCommand(process.argv.slice(2));
switch (command.kind) {
  case 'help':
    process.stdout.write(USAGE);
    break;
  case 'unknown':
    process.stderr.write(`dtx: ${command.message}\n\n${USAGE}`);
    process.exitCode = 2;
    break;
  case 'migrate':
    try {
      await import('../migrate-cli.ts');
    } catch (error) {
      // The same answer as `dtx start` gives a bad configuration (main.ts): the problems, exit 2.
      if (!(error instanceof ConfigError)) throw error;
      process.stderr.write(`dtx migrate: ${error.message}\n`);
      process.exitCode = 2;
    }
    break;
  case 'dev': {
    const { runDevCoordinator } = await import('../dev/dev-main.ts');
    await runDevCoordinator(command.options);
    break;
  }
  case 'start':
    if (needsRelaunch(process.execArgv, process.env.NODE_OPTIONS, COORDINATOR_NODE_ARGS)) {
      relaunch();
    } else {
      if (process.env[RELAUNCHED] === '1') stopWithParent();
      await import('../main.ts');
    }
    break;
}

/** Runs this command again in a child with the coordinator's Node flags; passes signals on and exits as it does. */
function relaunch(): void {
  const child = spawn(process.execPath, [...COORDINATOR_NODE_ARGS, ...process.execArgv, process.argv[1]!, ...process.argv.slice(2)], {
    // The IPC channel only tells the child when this process is gone (stopWithParent).
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, [RELAUNCHED]: '1' },
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
  child.once('error', (error) => {
    process.stderr.write(`dtx: could not start the coordinator process: ${error.message}\n`);
    process.exit(1);
  });
  child.once('exit', (code, signal) => process.exit(code ?? (signal === 'SIGINT' ? 130 : signal === 'SIGTERM' ? 143 : 1)));
}

/**
 * In the relaunched child: a parent killed outright (SIGKILL, a crash) passes
 * no signal on, so its closed IPC channel stops the coordinator gracefully
 * instead of leaving it running unsupervised.
 */
function stopWithParent(): void {
  process.channel?.unref();
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
}
