/**
 * `dtx migrate` (`npm run migrate`): makes the log DTX_LOG_URL names ready —
 * its database created if missing, its migrations applied — and exits. The
 * coordinator does the same at start.
 */
import { loadConfig } from './config.ts';
import { createLogger } from './logger.ts';
import { openLog } from './store/open-log.ts';

const config = loadConfig(process.env);
const logger = createLogger(config.logLevel);
const log = openLog(config.log, { poolMax: 2, queryTimeoutMs: config.logQueryTimeoutMs });
try {
  const applied = await log.prepare();
  logger.info({ log: log.description, applied }, applied.length ? 'migrations applied' : 'schema up to date');
} catch (error) {
  logger.error({ err: error, log: log.description }, 'migration failed');
  process.exitCode = 1;
} finally {
  await log.close();
}
