/**
 * `npm run migrate`: applies the coordinator's migrations to DTX_MYSQL_URL
 * and exits. The coordinator also applies them at start.
 */
import { loadConfig } from '../../config.ts';
import { createLogger } from '../../logger.ts';
import { connectMysql, ensureDatabase, redactUrl } from './connect.ts';
import { migrateLatest } from './migrator.ts';

const config = loadConfig(process.env);
const logger = createLogger(config.logLevel);
const knex = connectMysql({ url: config.mysqlUrl, poolMax: 2 });
try {
  await ensureDatabase(config.mysqlUrl);
  const applied = await migrateLatest(knex);
  logger.info({ database: redactUrl(config.mysqlUrl), applied }, applied.length ? 'migrations applied' : 'schema up to date');
} catch (error) {
  logger.error({ err: error, database: redactUrl(config.mysqlUrl) }, 'migration failed');
  process.exitCode = 1;
} finally {
  await knex.destroy();
}
