/* global process, console */
/**
 * A participant service as a user writes it: plain JavaScript on plain node,
 * importing only what the scratch project installed from the tarballs. A bank
 * with two TCC resources on its own database: `debit` on a knex transaction
 * (defineTcc), `credit` in plain SQL (defineSqlTcc), served by the SDK's
 * node:http handler under /dtx.
 *
 * Environment: BANK_DB_URL (its database, with an `accounts` table), BANK_KEY
 * (the key the coordinator signs with), INITIATOR_NAME and INITIATOR_KEY (the
 * one initiator that may try here, by its caller name, and its own key), PORT.
 */
import { createServer } from 'node:http';
import knex from 'knex';
import { BranchRejectedError, createNodeHandler, createParticipant, defineSqlTcc, defineTcc } from '@dtx/participant-sdk';

const db = knex({ client: 'mysql2', connection: process.env.BANK_DB_URL, pool: { min: 0, max: 4 } });

const debit = defineTcc({
  name: 'debit',
  async try({ payload, trx }) {
    const changed = await trx('accounts')
      .where('id', payload.account)
      .andWhere('balance', '>=', payload.amount)
      .update({ balance: trx.raw('balance - ?', [payload.amount]), frozen: trx.raw('frozen + ?', [payload.amount]) });
    if (changed === 0) throw new BranchRejectedError('insufficient funds', { code: 'INSUFFICIENT_FUNDS' });
  },
  async confirm({ payload, trx }) {
    await trx('accounts')
      .where('id', payload.account)
      .update({ frozen: trx.raw('frozen - ?', [payload.amount]) });
  },
  async cancel({ payload, trx }) {
    await trx('accounts')
      .where('id', payload.account)
      .update({ balance: trx.raw('balance + ?', [payload.amount]), frozen: trx.raw('frozen - ?', [payload.amount]) });
  },
});

const credit = defineSqlTcc({
  name: 'credit',
  async try({ payload, sql }) {
    await sql('update accounts set incoming = incoming + ? where id = ?', [payload.amount, payload.account]);
  },
  async confirm({ payload, sql }) {
    await sql('update accounts set incoming = incoming - ?, balance = balance + ? where id = ?', [payload.amount, payload.amount, payload.account]);
  },
  async cancel({ payload, sql }) {
    await sql('update accounts set incoming = incoming - ? where id = ?', [payload.amount, payload.account]);
  },
});

const participant = createParticipant({
  knex: db,
  resources: [debit, credit],
  coordinatorKey: process.env.BANK_KEY,
  initiatorKeys: { [process.env.INITIATOR_NAME]: process.env.INITIATOR_KEY },
});
await participant.migrate();
const server = createServer(createNodeHandler(participant, { prefix: '/dtx' }));
server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log(`bank listening on port ${process.env.PORT}`));

process.once('SIGTERM', () => {
  server.close(() => void db.destroy().then(() => process.exit(0)));
  server.closeAllConnections();
});
