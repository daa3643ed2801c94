/**
 * The public transaction API (v1): begin, register, submit, abort, query.
 * Handlers decode, call the service and encode; the rules live in the domain.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { BranchRegistration, TransactionEvent, TransactionSnapshot } from '../domain/transaction.ts';
import type { TransactionService } from '../engine/transaction-service.ts';
import {
  BeginBody,
  BeginReply,
  DecisionBody,
  ErrorReply,
  GidParams,
  RegisterBody,
  RegisterReply,
  StatusReply,
  type BranchRegistrationBody,
} from './schemas.ts';
import { DOC_TAGS, OPTIONAL_BODY } from './openapi.ts';

export interface TransactionRoutesOptions {
  service: TransactionService;
  defaultTimeoutMs: number;
  maxTimeoutMs: number;
  submitWaitMs: number;
}

const errors = { 400: ErrorReply, 404: ErrorReply, 409: ErrorReply };
const doc = (summary: string) => ({ tags: [DOC_TAGS.transactions], summary });
/** For begin, submit and abort, whose body may be left out (see noBodyIsEmpty). */
const docOptionalBody = (summary: string) => ({ ...doc(summary), ...OPTIONAL_BODY });

/** Begin, submit and abort may be sent without a body: it counts as `{}`. */
async function noBodyIsEmpty(request: { body: unknown }): Promise<void> {
  if (request.body === undefined) request.body = {};
}

export const transactionRoutes: FastifyPluginAsyncTypebox<TransactionRoutesOptions> = async (app, options) => {
  const { service } = options;

  app.post('/transactions', { preValidation: noBodyIsEmpty, schema: { ...docOptionalBody('Begin a global transaction (optionally registering branches in the same commit)'), body: BeginBody, response: { 200: BeginReply, 201: BeginReply, ...errors } } }, async (request, reply) => {
    const body = request.body;
    const timeoutMs = body.timeoutMs ?? options.defaultTimeoutMs;
    if (timeoutMs > options.maxTimeoutMs) {
      return reply.status(400).send({ code: 'INVALID_REQUEST', message: `timeoutMs may be at most ${options.maxTimeoutMs}` });
    }
    const result = await service.begin({
      gid: body.gid,
      mode: body.mode ?? 'tcc',
      timeoutMs,
      branches: (body.branches ?? []).map(toRegistration),
    });
    return reply.status(result.created ? 201 : 200).send({ ...result, deadlineAt: new Date(result.deadlineAt).toISOString() });
  });

  app.post('/transactions/:gid/branches', { schema: { ...doc('Register branches (before calling their try)'), params: GidParams, body: RegisterBody, response: { 200: RegisterReply, ...errors } } }, async (request) => {
    const { gid } = request.params;
    const result = await service.register(gid, request.body.branches.map(toRegistration));
    return { gid, status: result.status, registered: result.inserted };
  });

  app.post('/transactions/:gid/submit', { preValidation: noBodyIsEmpty, schema: { ...docOptionalBody('Submit: log the confirm decision and confirm every branch'), params: GidParams, body: DecisionBody, response: { 200: StatusReply, ...errors } } }, async (request) => {
    const { gid } = request.params;
    const status = await service.submit({
      gid,
      reason: request.body.reason ?? null,
      waitMs: request.body.waitMs ?? options.submitWaitMs,
      actor: 'initiator',
    });
    return { gid, status };
  });

  app.post('/transactions/:gid/abort', { preValidation: noBodyIsEmpty, schema: { ...docOptionalBody('Abort: log the cancel decision and cancel every branch'), params: GidParams, body: DecisionBody, response: { 200: StatusReply, ...errors } } }, async (request) => {
    const { gid } = request.params;
    const status = await service.abort({
      gid,
      reason: request.body.reason ?? null,
      waitMs: request.body.waitMs ?? options.submitWaitMs,
      actor: 'initiator',
    });
    return { gid, status };
  });

  app.get('/transactions/:gid', { schema: { ...doc('One transaction with its branches and event history'), params: GidParams } }, async (request) => {
    const view = await service.view(request.params.gid);
    return presentTransaction(view, view.events);
  });
};

function toRegistration(body: BranchRegistrationBody): BranchRegistration {
  return {
    branchId: body.branchId,
    confirmUrl: body.confirmUrl,
    cancelUrl: body.cancelUrl,
    payload: JSON.stringify(body.payload ?? null),
  };
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** The JSON shape of one transaction for callers and operators: ISO times, parsed payloads. */
export function presentTransaction(snapshot: TransactionSnapshot, events: TransactionEvent[]) {
  const t = snapshot.transaction;
  return {
    transaction: {
      ...t,
      createdAt: iso(t.createdAt),
      updatedAt: iso(t.updatedAt),
      deadlineAt: iso(t.deadlineAt),
      finishedAt: iso(t.finishedAt),
      nextRetryAt: iso(t.nextRetryAt),
      leaseUntil: iso(t.leaseUntil),
    },
    branches: snapshot.branches.map((b) => ({
      ...b,
      payload: JSON.parse(b.payload) as unknown,
      createdAt: iso(b.createdAt),
      updatedAt: iso(b.updatedAt),
    })),
    events: events.map((e) => ({ ...e, at: iso(e.at) })),
  };
}
