/**
 * The process's answer to an error no code path caught: a rejection nobody
 * awaited, an exception thrown from a callback. What state the process is
 * in is then unknown, so the coordinator does not carry on: it logs one
 * fatal line and exits with status 1, for its supervisor to start it again.
 * Nothing is lost by exiting: every decision is in the transaction log, the
 * dead process's leases run out, and recovery resumes from the log.
 *
 * Only a process's entry point installs this (main.ts); an application that
 * embeds the coordinator owns its process and decides for itself.
 */
import type { Logger } from 'pino';

export type StrayOrigin = 'unhandledRejection' | 'uncaughtException';

/** How long the log may take to flush before the process exits anyway. */
const FLUSH_BOUND_MS = 2_000;

const WHAT: Record<StrayOrigin, string> = {
  unhandledRejection: 'unhandled promise rejection',
  uncaughtException: 'uncaught exception',
};

/** The fatal line's message: what happened, and that exiting is deliberate. */
export function strayErrorMessage(origin: StrayOrigin): string {
  return `${WHAT[origin]}: exiting on purpose (status 1) so that a supervisor restarts the coordinator; recovery resumes from the transaction log`;
}

/**
 * Installs process handlers for `unhandledRejection` and `uncaughtException`.
 *
 * Effect: the first such error is logged once at fatal level (`err`, the
 * error serialised, and `origin`), the log is flushed, then `exit(1)` is
 * called; errors arriving while it exits are not logged (the first is the
 * cause). Should the flush not finish within 2 s, the process exits anyway.
 *
 * Precondition: called once, by the process's entry point, with the logger
 * whose destination the process's log is read from.
 */
export function exitOnStrayErrors(logger: Logger, exit: (code: number) => void = (code) => process.exit(code)): void {
  let exiting = false;
  const onStray = (origin: StrayOrigin) => (error: unknown) => {
    if (exiting) return;
    exiting = true;
    setTimeout(() => exit(1), FLUSH_BOUND_MS);
    try {
      logger.fatal({ err: error, origin }, strayErrorMessage(origin));
      logger.flush(() => exit(1));
    } catch {
      // A logger that cannot write must not keep the process alive in an unknown state.
      exit(1);
    }
  };
  process.on('unhandledRejection', onStray('unhandledRejection'));
  process.on('uncaughtException', onStray('uncaughtException'));
}
