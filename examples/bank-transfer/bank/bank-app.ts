/**
 * One bank as an HTTP service: its TCC, saga, message, FMT and (on MySQL/MariaDB) XA resources under
 * /dtx (for the coordinator and the transfer service), its outgoing
 * transfers as transactional messages (POST /transfers-out, when it knows a
 * coordinator) and a read-only view of its accounts.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { createParticipant, dtxParticipantPlugin, type DtxClient } from '@dtx/participant-sdk';
import { bankFmtResources } from './fmt-resources.ts';
import { bankMessageResources } from './message-resources.ts';
import { bankResources, type BankFaults, type BankHandlers } from './resources.ts';
import { bankSagaResources } from './saga-resources.ts';
import { bankXaResources } from './xa-resources.ts';
import { transfersOutRoute } from './transfers-out.ts';
import { listAccounts, migrateBank, openAccounts } from './schema.ts';
import { answerErrorsAsJson } from '../shared/json-errors.ts';

export interface BankOptions {
  knex: Knex;
  /**
   * The bank's name (BANK_NAME): its FMT resources' `fmt.resource`, how the coordinators' global row
   * locks name this bank's database (each bank has a database of its own, so a name of its own).
   */
  name: string;
  /**
   * The key the coordinators sign their calls here with (confirm, cancel, saga steps, deliveries,
   * check-backs, XA and FMT commits and rollbacks); it also signs this bank's requests for FMT row
   * locks. Null only in insecure development mode.
   */
  coordinatorKey: string | null;
  /**
   * Who may try (prepare, execute) here: each initiator by its caller name on the coordinators (a
   * transfer service), with its own key. None of them is the coordinators' key.
   */
  initiatorKeys: Record<string, string>;
  logger: Logger;
  accounts: { id: string; balance: number }[];
  faults: BankFaults;
  /** How the handlers reach their local transaction: a knex transaction or plain SQL (cheaper per call). */
  handlers?: BankHandlers;
  /** Barrier rows of finished branches are deleted after this long. */
  barrierRetentionMs: number;
  /** Clients of the coordinators this bank sends messages through, by name; none: no POST /transfers-out. */
  coordinators?: Record<string, DtxClient>;
  /** Serve the XA resources (and recover their branches): MySQL/MariaDB only. Default true. */
  xa?: boolean;
}

export async function createBankApp(options: BankOptions): Promise<FastifyInstance> {
  const xa = options.xa ?? true;
  const participant = createParticipant({
    knex: options.knex,
    resources: [
      ...bankResources(options.faults, options.handlers),
      ...bankSagaResources(options.faults, options.handlers),
      ...bankMessageResources(options.faults, options.handlers),
      ...(xa ? bankXaResources(options.faults) : []),
      ...bankFmtResources(options.faults),
    ],
    coordinatorKey: options.coordinatorKey,
    initiatorKeys: options.initiatorKeys,
    insecureDevMode: options.coordinatorKey === null,
    logger: options.logger,
    // FMT: this database's name in the coordinators' global row locks.
    fmt: { resource: options.name },
  });
  await participant.migrate();
  await migrateBank(options.knex);
  await openAccounts(options.knex, options.accounts);
  const cleanup = participant.startCleanup({ olderThanMs: options.barrierRetentionMs, intervalMs: 60_000 });
  // XA branches this bank left prepared (it crashed, or its database did) are finished from here too,
  // should the bank come back before the coordinator's retries reach it: each asked of the coordinator it was prepared through.
  const coordinators = Object.values(options.coordinators ?? {});
  const xaRecovery = xa && coordinators.length > 0 ? participant.startXaRecovery({ coordinators, intervalMs: 5_000, inDoubtAfterMs: 30_000 }) : null;

  const app = Fastify({ loggerInstance: options.logger as FastifyBaseLogger });
  answerErrorsAsJson(app);
  await app.register(dtxParticipantPlugin, { participant, prefix: '/dtx' });
  if (options.coordinators && Object.keys(options.coordinators).length > 0) {
    await app.register(transfersOutRoute, {
      knex: options.knex,
      coordinators: options.coordinators,
      faults: options.faults,
      deliveryWaitMs: 5_000,
      checkAfterMs: 5_000,
    });
  }
  app.get('/health', async () => ({ status: 'ok' }));
  app.get('/accounts', async () => ({ accounts: await listAccounts(options.knex) }));
  app.addHook('onClose', async () => {
    cleanup.stop();
    xaRecovery?.stop();
    // Committed FMT branches' undo records are deleted in batches: the last batch before the database closes.
    await participant.close();
  });
  return app;
}
