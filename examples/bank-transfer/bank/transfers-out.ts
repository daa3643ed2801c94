/**
 * POST /transfers-out: this bank pays out to an account in another bank (or
 * this one) with a transactional message. The debit commits in this bank's
 * own transaction together with the message's sender row; the coordinator
 * then delivers the credit (msg-credit) to the payee's bank until it is
 * applied. So the credit happens exactly when the debit committed.
 *
 * The caller (the transfer service) says which coordinator to use and the
 * URLs that coordinator reaches the banks at: the payee's msg-credit
 * resource and this bank's check-back (they may differ per coordinator,
 * e.g. through a proxy).
 *
 * Answers: 200 `{gid, status}` once the debit committed (`delivered`, or
 * `submitted` / `prepared` while the credit is on its way); 409 with the
 * code when the debit is refused (`INSUFFICIENT_FUNDS`, `UNKNOWN_ACCOUNT`)
 * or the message was dropped first (`MESSAGE_ABORTED`); 503 when the
 * coordinator is unreachable before anything committed.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Knex } from 'knex';
import {
  BranchRejectedError,
  CoordinatorRefusedError,
  CoordinatorUnavailableError,
  MESSAGE_SENDER_BRANCH,
  MessageAbortedError,
  MessageAlreadyCommittedError,
  sqlOnKnex,
  type DtxClient,
} from '@dtx/participant-sdk';
import { MESSAGE_MOVES } from './message-resources.ts';
import { faultInjector, move, requireAccount, type BankFaults } from './resources.ts';

export interface TransfersOutOptions {
  knex: Knex;
  /** A client per coordinator, by name; the request names the one to use. */
  coordinators: Record<string, DtxClient>;
  faults: BankFaults;
  /** The coordinator waits this long for the delivery before it answers the submit. */
  deliveryWaitMs: number;
  /** The message's check-back comes this long after the prepare if no submit arrived. */
  checkAfterMs: number;
}

const TransferOutBody = Type.Object(
  {
    gid: Type.Optional(Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_.-]+$' })),
    coordinator: Type.String({ minLength: 1, maxLength: 64 }),
    account: Type.String({ minLength: 1, maxLength: 64 }),
    amount: Type.Integer({ minimum: 1, maximum: 1_000_000_000 }),
    /** This bank's check-back, as the coordinator reaches it. */
    checkUrl: Type.String({ format: 'uri' }),
    /** The payee's msg-credit resource, as the coordinator reaches it. */
    credit: Type.Object({ url: Type.String({ format: 'uri' }), account: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false }),
  },
  { additionalProperties: false },
);

export const transfersOutRoute: FastifyPluginAsyncTypebox<TransfersOutOptions> = async (app, options) => {
  const maybeFail = faultInjector(options.faults);
  app.post('/transfers-out', { schema: { body: TransferOutBody } }, async (request, reply) => {
    const { account, amount, checkUrl, credit } = request.body;
    const dtx = options.coordinators[request.body.coordinator];
    if (!dtx) return reply.status(400).send({ code: 'UNKNOWN_COORDINATOR', message: `no coordinator named ${request.body.coordinator}` });
    const message = dtx
      .message({ checkUrl, timeoutMs: options.checkAfterMs, ...(request.body.gid ? { gid: request.body.gid } : {}) })
      .deliver('credit', { url: credit.url, payload: { account: credit.account, amount } });
    try {
      const outcome = await message.commitWith(
        options.knex,
        async (trx) => {
          const ctx = { gid: message.gid, branchId: MESSAGE_SENDER_BRANCH, op: 'commit', sql: sqlOnKnex(trx) };
          maybeFail(ctx);
          if ((await move(ctx, { account, amount }, MESSAGE_MOVES.debit, true)) === 0) {
            await requireAccount(ctx, account);
            throw new BranchRejectedError(`insufficient funds in ${account}`, { code: 'INSUFFICIENT_FUNDS' });
          }
        },
        { waitMs: options.deliveryWaitMs },
      );
      return { gid: outcome.gid, status: outcome.status };
    } catch (error) {
      if (error instanceof BranchRejectedError)
        return reply.status(409).send({ code: error.code, message: error.message, gid: message.gid, status: 'aborted' });
      if (error instanceof MessageAbortedError)
        return reply.status(409).send({ code: 'MESSAGE_ABORTED', message: error.message, gid: message.gid, status: 'aborted' });
      // The same transfer sent again after its debit committed: it is on its way.
      if (error instanceof MessageAlreadyCommittedError) return { gid: message.gid, status: 'submitted' };
      if (error instanceof CoordinatorRefusedError) return reply.status(409).send({ code: error.code, message: error.message, gid: message.gid });
      if (error instanceof CoordinatorUnavailableError) return reply.status(503).send({ code: error.code, message: error.message, gid: message.gid });
      throw error;
    }
  });
};
