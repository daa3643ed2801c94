/**
 * The public transaction API (v1): begin, register, submit, abort, query;
 * a saga submitted whole; a transactional message prepared.
 * Handlers decode, call the service and encode; the rules live in the domain.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { BranchRegistration } from '../domain/transaction.ts';
import type { FastifyReply } from 'fastify';
import type { BeginRequest, StatusOf, TransactionService } from '../engine/transaction-service.ts';
import { wordsFor } from '../modes/registry.ts';
import { presentTransaction, registrationOf } from './presentation.ts';
import {
  BeginBody,
  BeginReply,
  DecisionBody,
  ErrorReply,
  GidParams,
  RegisterBody,
  MessageBody,
  RegisterReply,
  SagaBody,
  StatusReply,
  type BranchRegistrationBody,
} from './schemas.ts';
import { CALLER_SECURITY, DOC_TAGS, OPTIONAL_BODY } from './openapi.ts';
import type { CallerAuth } from './caller-auth.ts';
import { rawBranchPayloads } from './raw-payloads.ts';
import { modeCatalog, ModeCatalogReply } from './mode-catalog.ts';
import { sagaRegistrations } from './saga-steps.ts';

export interface TransactionRoutesOptions {
  service: TransactionService;
  auth: CallerAuth;
  defaultTimeoutMs: number;
  maxTimeoutMs: number;
  submitWaitMs: number;
  /** The longest timeout a saga step may ask for (the coordinator's own branch timeout); no bound when absent. */
  maxStepTimeoutMs?: number;
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

  /** Begin (a saga: submit, a message: prepare) with the deadline checked, and answer 201 created or 200 re-sent. */
  async function begin(reply: FastifyReply, requestedTimeoutMs: number | undefined, requestOf: (timeoutMs: number) => BeginRequest) {
    const timeoutMs = requestedTimeoutMs ?? options.defaultTimeoutMs;
    if (timeoutMs > options.maxTimeoutMs) {
      return reply.status(400).send({ code: 'INVALID_REQUEST', message: `timeoutMs may be at most ${options.maxTimeoutMs}` });
    }
    const request = requestOf(timeoutMs);
    const result = await service.begin(request);
    return reply.status(result.created ? 201 : 200).send({
      gid: result.gid,
      status: word(result),
      deadlineAt: new Date(result.deadlineAt).toISOString(),
      created: result.created,
      caller: request.caller,
      ...(result.proofs ? { proofs: result.proofs } : {}),
    });
  }

  app.post(
    '/transactions',
    {
      preValidation: noBodyIsEmpty,
      schema: {
        ...docOptionalBody('Begin a global transaction (optionally registering branches in the same commit)'),
        body: BeginBody,
        response: { 200: BeginReply, 201: BeginReply, ...errors },
      },
    },
    async (request, reply) => {
      const body = request.body;
      if (body.mode === 'msg') {
        return reply
          .status(400)
          .send({ code: 'UNSUPPORTED_MODE', message: 'a message is prepared with POST /v1/messages, with its receivers and check-back URL' });
      }
      return begin(reply, body.timeoutMs, (timeoutMs) => ({
        gid: body.gid,
        caller: request.caller ?? null,
        mode: body.mode ?? 'tcc',
        timeoutMs,
        branches: registrations(body.branches ?? [], request.rawJson),
        joinableBy: body.joinableBy,
      }));
    },
  );

  app.post(
    '/sagas',
    {
      schema: {
        ...doc('Submit a saga: its steps run (in order, or by their dependencies) and are compensated if one fails'),
        body: SagaBody,
        response: { 200: BeginReply, 201: BeginReply, ...errors },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const slow = body.steps.find((step) => step.timeoutMs !== undefined && step.timeoutMs > (options.maxStepTimeoutMs ?? Infinity));
      if (slow) {
        return reply
          .status(400)
          .send({ code: 'INVALID_STEPS', message: `step ${slow.id}: timeoutMs may be at most ${options.maxStepTimeoutMs} (the coordinator's branch timeout)` });
      }
      return begin(reply, body.timeoutMs, (timeoutMs) => ({
        gid: body.gid,
        caller: request.caller ?? null,
        mode: 'saga',
        timeoutMs,
        branches: sagaRegistrations(body.steps, request.rawJson),
        submit: { reason: body.reason ?? null, waitMs: body.waitMs ?? options.submitWaitMs, actor: actorOf(request) },
      }));
    },
  );

  app.post(
    '/messages',
    {
      schema: {
        ...doc('Prepare a transactional message: its receivers are delivered to once it is submitted (or the sender says it committed)'),
        body: MessageBody,
        response: { 200: BeginReply, 201: BeginReply, ...errors },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const raw = request.rawJson === undefined ? [] : rawBranchPayloads(request.rawJson);
      return begin(reply, body.timeoutMs, (timeoutMs) => ({
        gid: body.gid,
        caller: request.caller ?? null,
        mode: 'msg',
        timeoutMs,
        checkUrl: body.checkUrl,
        notBefore: body.deliverAt === undefined ? undefined : Date.parse(body.deliverAt),
        branches: body.branches.map((branch, index) => ({
          branchId: branch.id,
          operations: { deliver: branch.url },
          payload: raw[index] ?? JSON.stringify(branch.payload ?? null),
        })),
      }));
    },
  );

  app.post(
    '/transactions/:gid/branches',
    { schema: { ...doc('Register branches (before calling their try)'), params: GidParams, body: RegisterBody, response: { 200: RegisterReply, ...errors } } },
    async (request) => {
      const { gid } = request.params;
      const result = await service.register(gid, registrations(request.body.branches, request.rawJson), request.caller ?? null, request.body.mode);
      return { gid, status: word(result), registered: result.inserted, caller: request.caller ?? null, proofs: result.proofs };
    },
  );

  app.post(
    '/transactions/:gid/submit',
    {
      preValidation: noBodyIsEmpty,
      schema: {
        ...docOptionalBody('Submit: log the commit decision (TCC: confirm) and commit every branch'),
        params: GidParams,
        body: DecisionBody,
        response: { 200: StatusReply, ...errors },
      },
    },
    async (request) => {
      const { gid } = request.params;
      const result = await service.submit({
        gid,
        mode: request.body.mode,
        caller: request.caller ?? null,
        reason: request.body.reason ?? null,
        waitMs: request.body.waitMs ?? options.submitWaitMs,
        actor: actorOf(request),
      });
      return { gid, status: word(result) };
    },
  );

  app.post(
    '/transactions/:gid/abort',
    {
      preValidation: noBodyIsEmpty,
      schema: {
        ...docOptionalBody('Abort: log the rollback decision (TCC: cancel) and roll back every branch'),
        params: GidParams,
        body: DecisionBody,
        response: { 200: StatusReply, ...errors },
      },
    },
    async (request) => {
      const { gid } = request.params;
      const result = await service.abort({
        gid,
        mode: request.body.mode,
        caller: request.caller ?? null,
        reason: request.body.reason ?? null,
        waitMs: request.body.waitMs ?? options.submitWaitMs,
        actor: actorOf(request),
      });
      return { gid, status: word(result) };
    },
  );

  app.get('/modes', { schema: { ...doc("The coordinator's modes: their words, operations and row locks"), response: { 200: ModeCatalogReply } } }, async () =>
    modeCatalog(),
  );

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
  return branches.map((body, index) => registrationOf(body, raw[index] ?? JSON.stringify(body.payload ?? null)));
}

/** A status as the transaction's mode names it. */
const word = (result: StatusOf): string => wordsFor(result.mode).status[result.status];
