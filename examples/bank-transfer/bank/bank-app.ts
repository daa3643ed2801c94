/**
 * One bank as an HTTP service: its TCC and saga resources under /dtx (for
 * the coordinator and the transfer service) and a read-only view of its
 * accounts.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { createParticipant, dtxParticipantPlugin } from '@dtx/participant-sdk';
import { bankResources, type BankFaults, type BankHandlers } from './resources.ts';
import { bankSagaResources } from './saga-resources.ts';
import { listAccounts, migrateBank, openAccounts } from './schema.ts';

export interface BankOptions {
  knex: Knex;
  /** This bank's signing key; null only in insecure development mode. */
  secret: string | null;
  logger: Logger;
  accounts: { id: string; balance: number }[];
  faults: BankFaults;
  /** How the handlers reach their local transaction: a knex transaction or plain SQL (cheaper per call). */
  handlers?: BankHandlers;
  /** Barrier rows of finished branches are deleted after this long. */
  barrierRetentionMs: number;
}

export async function createBankApp(options: BankOptions): Promise<FastifyInstance> {
  const participant = createParticipant({
    knex: options.knex,
    resources: [...bankResources(options.faults, options.handlers), ...bankSagaResources(options.faults, options.handlers)],
    secret: options.secret,
    insecureDevMode: options.secret === null,
    logger: options.logger,
  });
  await participant.migrate();
  await migrateBank(options.knex);
  await openAccounts(options.knex, options.accounts);
  const cleanup = participant.startCleanup({ olderThanMs: options.barrierRetentionMs, intervalMs: 60_000 });

  const app = Fastify({ loggerInstance: options.logger as FastifyBaseLogger });
  await app.register(dtxParticipantPlugin, { participant, prefix: '/dtx' });
  app.get('/health', async () => ({ status: 'ok' }));
  app.get('/accounts', async () => ({ accounts: await listAccounts(options.knex) }));
  app.addHook('onClose', async () => {
    cleanup.stop();
  });
  return app;
}
