/**
 * The transfer service process. Environment:
 *   DTX_COORDINATOR_URL  coordinator base URL (default http://127.0.0.1:36789)
 *   TRANSFER_BANKS       name=url pairs for tries, "a=http://127.0.0.1:4001,b=http://127.0.0.1:4002"
 *   TRANSFER_BANKS_FOR_COORDINATOR  optional, same shape: the URLs the coordinator should use
 *   TRANSFER_PORT        HTTP port (default 4000), TRANSFER_HOST (default 127.0.0.1)
 *   TRANSFER_TIMEOUT_MS  try-phase deadline per transfer (default 10000)
 *   DTX_API_TOKEN        this service's token for the coordinator's /v1 (one of its DTX_API_TOKENS)
 *   TRANSFER_COORDINATOR_NAME  the name the banks know that coordinator by, for message transfers (default main)
 *   TRANSFER_BANK_KEYS   name=key pairs: this service's own key at each bank, which signs its tries,
 *                        prepares and executes there, "a=...,b=..." (each bank lists it in its DTX_INITIATOR_KEYS under
 *                        this service's caller name, its API token's name). Never the coordinators' key.
 */
import { pino } from 'pino';
import { DtxClient } from '@dtx/participant-sdk';
import { parseNamedKeys, parseNamedUrls } from '../shared/named-urls.ts';
import { createTransferApp, type BankLink } from './transfer-app.ts';

const env = process.env;
const logger = pino({ level: env.TRANSFER_LOG_LEVEL ?? 'info', base: { service: 'transfer' } });

const tryUrls = parseNamedUrls(env.TRANSFER_BANKS ?? 'a=http://127.0.0.1:4001,b=http://127.0.0.1:4002');
const coordinatorUrls = parseNamedUrls(env.TRANSFER_BANKS_FOR_COORDINATOR);
const banks: Record<string, BankLink> = {};
for (const [name, url] of Object.entries(tryUrls)) banks[name] = { tryBase: url, coordinatorBase: coordinatorUrls[name] ?? url };

const bankKeys = parseNamedKeys(env.TRANSFER_BANK_KEYS);
/** Each try is signed with this service's key at the bank it goes to (unsigned without one: development only). */
const keyFor = (tryUrl: string): string | null => {
  const bank = Object.keys(tryUrls).find((name) => tryUrl.startsWith(`${tryUrls[name]}/`));
  return (bank !== undefined ? bankKeys[bank] : undefined) ?? null;
};
const dtx = new DtxClient({
  coordinatorUrl: env.DTX_COORDINATOR_URL ?? 'http://127.0.0.1:36789',
  apiToken: env.DTX_API_TOKEN || null,
  initiatorKey: keyFor,
  tryTimeoutMs: Number(env.TRANSFER_TRY_TIMEOUT_MS ?? 5_000),
  coordinatorTimeoutMs: Number(env.TRANSFER_COORDINATOR_TIMEOUT_MS ?? 15_000),
});
const app = await createTransferApp({
  dtx,
  coordinatorName: env.TRANSFER_COORDINATOR_NAME ?? 'main',
  banks,
  logger,
  timeoutMs: Number(env.TRANSFER_TIMEOUT_MS ?? 10_000),
});
await app.listen({ host: env.TRANSFER_HOST ?? '127.0.0.1', port: Number(env.TRANSFER_PORT ?? 4000) });

const stop = async () => {
  await app.close();
  await dtx.close();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
