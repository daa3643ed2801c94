/**
 * A bank process. Environment:
 *   BANK_NAME       name in logs, and of the bank's database in the coordinators' FMT row locks (default "bank")
 *   BANK_DB_URL     the bank's own database (created if missing): mysql://… (MySQL, MariaDB),
 *                   postgres://… (PostgreSQL) or embedded:<folder> (PostgreSQL inside this process, PGlite, in
 *                   that folder: one process per folder, one session for every call in turn). XA resources
 *                   need MySQL/MariaDB; on PostgreSQL the bank serves every other resource (FMT's included)
 *   BANK_POOL_MAX   connections to a database server at most (default 20)
 *   BANK_PORT       HTTP port (default 4001), BANK_HOST (default 127.0.0.1)
 *   BANK_ACCOUNTS   accounts opened at start if absent, "alice:1000,bob:500"
 *   BANK_ERROR_RATE probability of an injected 500 on any call (default 0)
 *   BANK_HANDLERS   "knex" (handlers on a knex transaction, the default) or "sql" (plain SQL on its
 *                   connection: the same statements, less garbage per call)
 *   DTX_COORDINATOR_KEY  the key the coordinators sign their calls to this bank with (their DTX_PARTICIPANTS
 *                   entry for it, or their DTX_SECRET): it verifies their ops only (confirm, cancel, steps,
 *                   deliveries, check-backs, XA and FMT commits and rollbacks; it signs the bank's FMT row lock requests). Required, unless DTX_INSECURE=1
 *                   (development: unsigned calls accepted)
 *   DTX_INITIATOR_KEYS  caller=key pairs: each initiator allowed to try, prepare and execute here (a transfer
 *                   service, by its API token's name on the coordinators), with its own key,
 *                   "transfer-0=…,transfer-1=…". Required with DTX_COORDINATOR_KEY
 *   BANK_COORDINATORS  optional: name=url pairs of the coordinators this bank sends its outgoing
 *                   transfers through as transactional messages (POST /transfers-out),
 *                   "main=http://127.0.0.1:36789"
 *   DTX_API_TOKEN   this bank's token for those coordinators' /v1 (one of their DTX_API_TOKENS)
 */
import { pino } from 'pino';
import { DtxClient } from '@dtx/participant-sdk';
import { parseNamedKeys, parseNamedUrls } from '../shared/named-urls.ts';
import { openDatabase } from '../shared/database-url.ts';
import { ensureDatabase } from './create-database.ts';
import { createBankApp } from './bank-app.ts';
import { parseAccounts } from './schema.ts';

const env = process.env;
const name = env.BANK_NAME ?? 'bank';
const logger = pino({ level: env.BANK_LOG_LEVEL ?? 'info', base: { service: name }, redact: ['req.headers["dtx-signature"]'] });
const dbUrl = env.BANK_DB_URL;
if (!dbUrl) {
  logger.fatal('BANK_DB_URL is required');
  process.exit(2);
}
const handlers = env.BANK_HANDLERS ?? 'knex';
if (handlers !== 'knex' && handlers !== 'sql') {
  logger.fatal({ handlers }, 'BANK_HANDLERS must be knex or sql');
  process.exit(2);
}
const insecure = env.DTX_INSECURE === '1';
const coordinatorKey = env.DTX_COORDINATOR_KEY || null;
const initiatorKeys = parseNamedKeys(env.DTX_INITIATOR_KEYS);
if ((coordinatorKey === null || Object.keys(initiatorKeys).length === 0) && !insecure) {
  logger.fatal('DTX_COORDINATOR_KEY and DTX_INITIATOR_KEYS are required (or DTX_INSECURE=1 for development)');
  process.exit(2);
}

const coordinators: Record<string, DtxClient> = {};
for (const [coordinator, url] of Object.entries(parseNamedUrls(env.BANK_COORDINATORS))) {
  // The bank initiates messages only: commitWith calls the coordinator, never a participant, so it holds no initiator key.
  coordinators[coordinator] = new DtxClient({ coordinatorUrl: url, apiToken: env.DTX_API_TOKEN || null, initiatorKey: null });
}

await ensureDatabase(dbUrl);
const database = await openDatabase(dbUrl, { poolMax: Number(env.BANK_POOL_MAX ?? 20) });
const app = await createBankApp({
  knex: database.knex,
  name,
  coordinatorKey,
  initiatorKeys,
  logger,
  accounts: parseAccounts(env.BANK_ACCOUNTS ?? ''),
  faults: { errorRate: Number(env.BANK_ERROR_RATE ?? 0), random: Math.random },
  handlers,
  barrierRetentionMs: 7 * 24 * 3_600_000,
  xa: database.kind === 'mysql',
  coordinators,
});
await app.listen({ host: env.BANK_HOST ?? '127.0.0.1', port: Number(env.BANK_PORT ?? 4001) });

const stop = async () => {
  await app.close();
  await Promise.all(Object.values(coordinators).map((client) => client.close()));
  await database.close();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
