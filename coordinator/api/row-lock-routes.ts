/**
 * Global row locks (FMT) on the transaction API:
 * - `POST /v1/transactions/:gid/branches/:branchId/locks`: the branch's
 *   participant locks the rows it changed, before its local commit. Not a
 *   caller's request: it is signed with the participant's key (the
 *   protocol's row-locks.ts), so it passes no bearer token.
 * - `POST /v1/row-locks/held`: who holds some rows now, for a write outside
 *   any global transaction that must respect their locks; a caller's
 *   request, with its bearer token.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { HEADERS, ID_PATTERN, LIMITS, ROW_LOCK_LIMITS } from '@dtx/protocol';
import type { RowLockService } from '../engine/row-lock-service.ts';
import type { RowLockHolder } from '../store/ports/transaction-store.ts';
import type { CallerAuth } from './caller-auth.ts';
import { CALLER_SECURITY, DOC_TAGS, PARTICIPANT_SECURITY } from './openapi.ts';
import { ErrorReply } from './schemas.ts';

export interface RowLockRoutesOptions {
  rowLocks: RowLockService;
  auth: CallerAuth;
}

const RowKey = Type.Object(
  {
    resource: Type.String({ minLength: 1, maxLength: ROW_LOCK_LIMITS.resourceMaxLength, description: "the participant's name for the database" }),
    table: Type.String({ minLength: 1, maxLength: ROW_LOCK_LIMITS.tableMaxLength }),
    pk: Type.Array(Type.Union([Type.String(), Type.Number(), Type.Null()]), {
      minItems: 1,
      maxItems: 16,
      description: "the primary key's values, in column order",
    }),
  },
  { additionalProperties: false },
);
const Keys = Type.Object({ keys: Type.Array(RowKey, { minItems: 1, maxItems: ROW_LOCK_LIMITS.keysPerRequest }) }, { additionalProperties: false });
const BranchParams = Type.Object(
  {
    gid: Type.String({ minLength: 1, maxLength: LIMITS.gidMaxLength, pattern: ID_PATTERN }),
    branchId: Type.String({ minLength: 1, maxLength: LIMITS.branchIdMaxLength, pattern: ID_PATTERN }),
  },
  { additionalProperties: false },
);
const Holder = Type.Object({
  resource: Type.String(),
  table: Type.String(),
  pk: Type.Array(Type.Union([Type.String(), Type.Number(), Type.Null()])),
  gid: Type.String(),
  branchId: Type.String(),
  lockedAt: Type.String({ format: 'date-time' }),
});
const ConflictReply = Type.Object({ code: Type.Literal('LOCK_CONFLICT'), message: Type.String(), holder: Holder });
const errors = { 400: ErrorReply, 401: ErrorReply, 404: ErrorReply, 409: Type.Union([ConflictReply, ErrorReply]), 503: ErrorReply };

/** A holder as the API shows it (the key's primary key parsed back from its canonical JSON). */
export function presentHolder(holder: RowLockHolder) {
  return {
    resource: holder.key.resource,
    table: holder.key.table,
    pk: JSON.parse(holder.key.pk) as (string | number | null)[],
    gid: holder.gid,
    branchId: holder.branchId,
    lockedAt: new Date(holder.lockedAt).toISOString(),
  };
}

export const rowLockRoutes: FastifyPluginAsyncTypebox<RowLockRoutesOptions> = async (app, options) => {
  const { rowLocks } = options;

  app.post(
    '/transactions/:gid/branches/:branchId/locks',
    {
      schema: {
        tags: [DOC_TAGS.transactions],
        summary: "FMT: lock the rows a branch changed (its participant's request, signed with its key)",
        security: [{ [PARTICIPANT_SECURITY]: [] }],
        params: BranchParams,
        body: Keys,
        response: { 200: Type.Object({ gid: Type.String(), branchId: Type.String(), locked: Type.Integer() }), ...errors },
      },
    },
    async (request, reply) => {
      const { gid, branchId } = request.params;
      const timestamp = Number(request.headers[HEADERS.timestamp]);
      const signature = request.headers[HEADERS.signature];
      for (const key of request.body.keys) {
        if (JSON.stringify(key.pk).length > ROW_LOCK_LIMITS.pkMaxLength) {
          return reply
            .status(400)
            .send({ code: 'INVALID_REQUEST', message: `a primary key may take at most ${ROW_LOCK_LIMITS.pkMaxLength} characters as JSON` });
        }
      }
      const outcome = await rowLocks.lock({
        gid,
        branchId,
        keys: request.body.keys,
        timestamp,
        signature: typeof signature === 'string' ? signature : undefined,
        body: request.rawJson ?? '',
      });
      if (outcome.kind === 'conflict') {
        const holder = presentHolder(outcome.holder);
        return reply.status(409).send({
          code: 'LOCK_CONFLICT',
          message: `row ${holder.table} ${JSON.stringify(holder.pk)} of ${holder.resource} is locked by transaction ${holder.gid} (branch ${holder.branchId}) since ${holder.lockedAt}`,
          holder,
        });
      }
      return { gid, branchId, locked: outcome.keys };
    },
  );

  await app.register(async (callers: typeof app) => {
    callers.addHook('onRequest', options.auth.hook);
    callers.post(
      '/row-locks/held',
      {
        schema: {
          tags: [DOC_TAGS.transactions],
          summary: 'FMT: which of these rows a global transaction holds now',
          security: [{ [CALLER_SECURITY]: [] }],
          body: Keys,
          response: { 200: Type.Object({ held: Type.Array(Holder) }), ...errors },
        },
      },
      async (request) => ({ held: (await rowLocks.held(request.body.keys)).map(presentHolder) }),
    );
  });
};
