/**
 * The transfer service: the initiator. POST /transfers moves an amount from
 * an account in one bank to an account in another (or the same) bank as one
 * TCC transaction: debit and credit are registered together, tried
 * concurrently, then confirmed — or all cancelled. With `mode: 'saga'` the
 * same transfer runs as a saga instead (saga-transfer.ts); with `mode:
 * 'msg'`, as a transactional message sent by the payer's bank
 * (message-transfer.ts); with `mode: 'xa'`, as an XA transaction of the two
 * banks' databases (xa-transfer.ts); with `mode: 'fmt'`, as an FMT
 * transaction: plain SQL committed at once in each bank, undone from its
 * undo records if the transaction rolls back (fmt-transfer.ts).
 */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import {
  CoordinatorRefusedError,
  CoordinatorUnavailableError,
  TryFailedError,
  TryRejectedError,
  type BranchTarget,
  type DtxClient,
} from '@dtx/participant-sdk';
import { runFmtTransfer } from './fmt-transfer.ts';
import { runMessageTransfer } from './message-transfer.ts';
import { runSagaTransfer } from './saga-transfer.ts';
import { runXaTransfer } from './xa-transfer.ts';
import { answerErrorsAsJson } from '../shared/json-errors.ts';

export interface BankLink {
  /** Base URL the transfer service uses for tries. */
  tryBase: string;
  /** Base URL the coordinator uses for confirm and cancel (may differ, e.g. through a proxy). */
  coordinatorBase: string;
}

/** One transfer, as every mode's runner gets it: the two banks, the two accounts, the amount, the caller's gid if any. */
export interface Transfer {
  debitBank: BankLink;
  creditBank: BankLink;
  from: { account: string };
  to: { account: string };
  amount: number;
  gid?: string;
}

/** An answer decided by a transfer's mode: the HTTP status and body to send. */
export interface TransferReply {
  httpStatus: number;
  body: Record<string, unknown>;
}

export interface TransferOptions {
  dtx: DtxClient;
  /** The name the banks know this service's coordinator by (their BANK_COORDINATORS), for message transfers. */
  coordinatorName: string;
  banks: Record<string, BankLink>;
  logger: Logger;
  /** Try-phase deadline of each transfer. */
  timeoutMs: number;
}

const Party = Type.Object(
  { bank: Type.String({ minLength: 1, maxLength: 32 }), account: Type.String({ minLength: 1, maxLength: 64 }) },
  { additionalProperties: false },
);
const TransferBody = Type.Object(
  {
    from: Party,
    to: Party,
    amount: Type.Integer({ minimum: 1, maximum: 1_000_000_000 }),
    gid: Type.Optional(Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_.-]+$' })),
    mode: Type.Optional(
      Type.Union([Type.Literal('tcc'), Type.Literal('saga'), Type.Literal('msg'), Type.Literal('xa'), Type.Literal('fmt')], {
        default: 'tcc',
      }),
    ),
  },
  { additionalProperties: false },
);

function target(link: BankLink, resource: 'debit' | 'credit', payload: unknown): BranchTarget {
  return {
    tryUrl: `${link.tryBase}/dtx/${resource}/try`,
    confirmUrl: `${link.coordinatorBase}/dtx/${resource}/confirm`,
    cancelUrl: `${link.coordinatorBase}/dtx/${resource}/cancel`,
    payload,
  };
}

const routes: FastifyPluginAsyncTypebox<TransferOptions> = async (app, options) => {
  app.post('/transfers', { schema: { body: TransferBody } }, async (request, reply) => {
    const { from, to, amount } = request.body;
    const debitBank = options.banks[from.bank];
    const creditBank = options.banks[to.bank];
    if (!debitBank || !creditBank) {
      return reply.status(400).send({ code: 'UNKNOWN_BANK', message: `unknown bank ${!debitBank ? from.bank : to.bank}` });
    }
    let gid = request.body.gid ?? null;
    try {
      if (request.body.mode === 'saga') {
        const answer = await runSagaTransfer(options.dtx, { debitBank, creditBank, from, to, amount, timeoutMs: options.timeoutMs, ...(gid ? { gid } : {}) });
        return reply.status(answer.httpStatus).send(answer.body);
      }
      if (request.body.mode === 'msg') {
        const answer = await runMessageTransfer({
          debitBank,
          creditBank,
          from,
          to,
          amount,
          coordinator: options.coordinatorName,
          timeoutMs: options.timeoutMs + 10_000,
          ...(gid ? { gid } : {}),
        });
        return reply.status(answer.httpStatus).send(answer.body);
      }
      if (request.body.mode === 'xa') {
        const banks = { debitBankName: from.bank, creditBankName: to.bank };
        return await runXaTransfer(options.dtx, { debitBank, creditBank, ...banks, from, to, amount, timeoutMs: options.timeoutMs, ...(gid ? { gid } : {}) });
      }
      if (request.body.mode === 'fmt') {
        const banks = { debitBankName: from.bank, creditBankName: to.bank };
        return await runFmtTransfer(options.dtx, { debitBank, creditBank, ...banks, from, to, amount, timeoutMs: options.timeoutMs, ...(gid ? { gid } : {}) });
      }
      const outcome = await options.dtx.tcc(
        async (tx) => {
          gid = tx.gid;
          await tx.tryAll([target(debitBank, 'debit', { account: from.account, amount }), target(creditBank, 'credit', { account: to.account, amount })]);
        },
        { timeoutMs: options.timeoutMs, ...(request.body.gid ? { gid: request.body.gid } : {}) },
      );
      return { gid: outcome.gid, status: outcome.status };
    } catch (error) {
      if (error instanceof TryRejectedError) {
        return reply.status(409).send({
          code: error.code,
          message: error.message,
          gid: error.gid,
          status: request.body.mode === 'xa' || request.body.mode === 'fmt' ? 'rolled-back' : 'cancelled',
        });
      }
      if (error instanceof TryFailedError) {
        return reply.status(502).send({ code: error.code, message: error.message, gid: error.gid });
      }
      if (error instanceof CoordinatorRefusedError) {
        return reply.status(409).send({ code: error.code, message: error.message, gid });
      }
      if (error instanceof CoordinatorUnavailableError) {
        return reply.status(503).send({ code: error.code, message: error.message, gid });
      }
      throw error;
    }
  });
};

export async function createTransferApp(options: TransferOptions): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: options.logger as FastifyBaseLogger, keepAliveTimeout: 65_000 });
  answerErrorsAsJson(app);
  app.get('/health', async () => ({ status: 'ok' }));
  await app.register(routes, options);
  return app;
}
