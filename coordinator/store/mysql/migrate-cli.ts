/**
 * `npm run migrate`: applies the coordinator's migrations to DTX_MYSQL_URL
 * and exits. The coordinator also applies them at start.
 */
import { loadConfig } from '../../config.ts';
import { createLogger } from '../../logger.ts';
import { redactUrl } from './connect.ts';
import { prepareLogDatabase } from './prepare-log-database.ts';

const config = loadConfig(process.env);
const logger = createLogger(config.logLevel);
try {
  const applied = await prepareLogDatabase(config.mysqlUrl, config.mysqlQueryTimeoutMs);
  logger.info({ database: redactUrl(config.mysqlUrl), applied }, applied.length ? 'migrations applied' : 'schema up to date');
} catch (error) {
  logger.error({ err: error, database: redactUrl(config.mysqlUrl) }, 'migration failed');
  process.exitCode = 1;
}
