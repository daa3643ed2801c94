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
import { CALLER_SECURITY, DOC_TAGS, OPTIONAL_BODY } from './openapi.ts';
import type { CallerAuth } from './caller-auth.ts';
import { rawBranchPayloads } from './raw-payloads.ts';

export interface TransactionRoutesOptions {
  service: TransactionService;
  auth: CallerAuth;
  defaultTimeoutMs: number;
  maxTimeoutMs: number;
  submitWaitMs: number;
}

const errors = { 400: ErrorReply, 401: ErrorReply, 403: ErrorReply, 404: ErrorReply, 409: ErrorReply, 415: ErrorReply, 503: ErrorReply };
const doc = (summary: string) => ({ tags: [DOC_TAGS.transactions], summary, security: [{ [CALLER_SECURITY]: [] }] });
/** For begin, submit and abort, whose body may be left out (see noBodyIsEmpty). */
const docOptionalBody = (summary: string) => ({ ...doc(summary), ...OPTIONAL_BODY });

/** Begin, submit and abort may be sent without a body: it counts as `{}`. */
async function noBodyIsEmpty(request: { body: unknown }): Promise<void> {
  if (request.body === undefined) request.body = {};
}

export const transactionRoutes: FastifyPluginAsyncTypebox<TransactionRoutesOptions> = async (app, options) => {
  const { service } = options;
  app.addHook('onRequest', options.auth.hook);
  const actorOf = (request: { caller?: string | null }) => request.caller ?? 'anonymous';

  app.post('/transactions', { preValidation: noBodyIsEmpty, schema: { ...docOptionalBody('Begin a global transaction (optionally registering branches in the same commit)'), body: BeginBody, response: { 200: BeginReply, 201: BeginReply, ...errors } } }, async (request, reply) => {
    const body = request.body;
    const timeoutMs = body.timeoutMs ?? options.defaultTimeoutMs;
    if (timeoutMs > options.maxTimeoutMs) {
      return reply.status(400).send({ code: 'INVALID_REQUEST', message: `timeoutMs may be at most ${options.maxTimeoutMs}` });
    }
    const result = await service.begin({
      gid: body.gid,
      caller: request.caller ?? null,
      mode: body.mode ?? 'tcc',
      timeoutMs,
      branches: registrations(body.branches ?? [], request.rawJson),
    });
    return reply.status(result.created ? 201 : 200).send({ ...result, deadlineAt: new Date(result.deadlineAt).toISOString() });
  });

  app.post('/transactions/:gid/branches', { schema: { ...doc('Register branches (before calling their try)'), params: GidParams, body: RegisterBody, response: { 200: RegisterReply, ...errors } } }, async (request) => {
    const { gid } = request.params;
    const result = await service.register(gid, registrations(request.body.branches, request.rawJson), request.caller ?? null);
    return { gid, status: result.status, registered: result.inserted };
  });

  app.post('/transactions/:gid/submit', { preValidation: noBodyIsEmpty, schema: { ...docOptionalBody('Submit: log the confirm decision and confirm every branch'), params: GidParams, body: DecisionBody, response: { 200: StatusReply, ...errors } } }, async (request) => {
    const { gid } = request.params;
    const status = await service.submit({
      gid,
      reason: request.body.reason ?? null,
      waitMs: request.body.waitMs ?? options.submitWaitMs,
      actor: actorOf(request),
    });
    return { gid, status };
  });

  app.post('/transactions/:gid/abort', { preValidation: noBodyIsEmpty, schema: { ...docOptionalBody('Abort: log the cancel decision and cancel every branch'), params: GidParams, body: DecisionBody, response: { 200: StatusReply, ...errors } } }, async (request) => {
    const { gid } = request.params;
    const status = await service.abort({
      gid,
      reason: request.body.reason ?? null,
      waitMs: request.body.waitMs ?? options.submitWaitMs,
      actor: actorOf(request),
    });
    return { gid, status };
  });

  app.get('/transactions/:gid', { schema: { ...doc('One transaction with its branches and event history'), params: GidParams } }, async (request) => {
    const view = await service.view(request.params.gid);
    // Participants' reply bodies are for operators (admin API), never for callers.
    return presentTransaction(view, view.events, { replyBodies: false });
  });
};

/**
 * The registrations of a request, each payload as the exact JSON text the
 * caller sent (`null` when absent): it is the body of every call to the
 * participant, byte for byte.
 */
function registrations(branches: BranchRegistrationBody[], rawJson: string | undefined): BranchRegistration[] {
  const raw = rawJson === undefined ? [] : rawBranchPayloads(rawJson);
  return branches.map((body, index) => ({
    branchId: body.branchId,
    confirmUrl: body.confirmUrl,
    cancelUrl: body.cancelUrl,
    payload: raw[index] ?? JSON.stringify(body.payload ?? null),
  }));
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/**
 * A participant's reply as recorded (`HTTP 409: <body excerpt>`), or only its
 * status line when the reader may not see participants' reply bodies. Errors
 * of the coordinator's own making (timeouts, refused connections) are kept.
 */
export function replyForReader(text: string | null, replyBodies: boolean): string | null {
  if (text === null || replyBodies) return text;
  const status = /^HTTP \d{3}(?=: )/.exec(text);
  return status ? status[0] : text;
}

/**
 * The JSON shape of one transaction for callers and operators: ISO times,
 * parsed payloads; participants' reply bodies only when `replyBodies`.
 */
export function presentTransaction(snapshot: TransactionSnapshot, events: TransactionEvent[], options: { replyBodies: boolean }) {
  const t = snapshot.transaction;
  return {
    transaction: {
      ...t,
      createdAt: iso(t.createdAt),
      updatedAt: iso(t.updatedAt),
      deadlineAt: iso(t.deadlineAt),
      decidedAt: iso(t.decidedAt),
      finishedAt: iso(t.finishedAt),
      nextRetryAt: iso(t.nextRetryAt),
      leaseUntil: iso(t.leaseUntil),
    },
    branches: snapshot.branches.map((b) => ({
      ...b,
      payload: JSON.parse(b.payload) as unknown,
      lastError: replyForReader(b.lastError, options.replyBodies),
      createdAt: iso(b.createdAt),
      updatedAt: iso(b.updatedAt),
    })),
    events: events.map((e) => ({ ...e, at: iso(e.at), message: e.kind === 'branch-call' ? replyForReader(e.message, options.replyBodies) : e.message })),
  };
}
