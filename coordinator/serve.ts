/**
 * Running one coordinator process until SIGINT or SIGTERM, then stopping it
 * gracefully: what `dtx start` and `dtx dev` share. An error nothing caught
 * ends it with status 1 after a fatal log line (stray-errors.ts).
 */
import type { Logger } from 'pino';
import type { CoordinatorConfig } from './config.ts';
import { createCoordinator } from './coordinator.ts';
import { createLogger } from './logger.ts';
import { exitOnStrayErrors } from './stray-errors.ts';

/**
 * Starts the coordinator `config` describes and stops it on SIGINT/SIGTERM; exits the process when
 * stopped (0), when the stop fails or never finishes (1), or when the start fails (1).
 *
 * @param onListening - told the base URL once it listens (the development coordinator prints its set-up then)
 */
export async function serve(config: CoordinatorConfig, onListening: (url: string, logger: Logger) => void = () => undefined): Promise<void> {
  const logger = createLogger(config.logLevel);
  // Without these, Node would end the process with its own stack trace on stderr and no line in the log.
  exitOnStrayErrors(logger);
  const coordinator = createCoordinator(config, { logger });

  /** The stop waits up to the grace period twice (recovery jobs, then phase-two rounds), then closes connections. */
  const lastResortMs = 2 * config.shutdownGraceMs + 15_000;

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutdown requested');
    // The stop waits on sockets and servers; should one of them never answer,
    // the process still ends (the transaction log holds everything in flight).
    setTimeout(() => {
      logger.error({ waitedMs: lastResortMs }, 'shutdown did not finish; exiting anyway');
      process.exit(1);
    }, lastResortMs).unref();
    try {
      await coordinator.stop();
      process.exit(0);
    } catch (error) {
      logger.error({ err: error }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));

  try {
    onListening(await coordinator.start(), logger);
  } catch (error) {
    logger.fatal({ err: error }, 'coordinator failed to start');
    await coordinator.stop().catch(() => undefined);
    process.exit(1);
  }
}
