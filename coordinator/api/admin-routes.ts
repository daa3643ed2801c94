/**
 * The admin API (/admin/v1): find, inspect and repair transactions. Reads
 * need the viewer role, actions the operator role; every action needs a
 * reason and is audited.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { OperatorService } from '../engine/operator-service.ts';
import type { TransactionService } from '../engine/transaction-service.ts';
import type { AdminStore, ListCursor, ListFilter } from '../store/admin-store.ts';
import type { GlobalTransaction } from '../domain/transaction.ts';
import type { AdminAuth } from './admin-auth.ts';
import { ActionBody, AuditQuery, BranchParams, BulkRetryBody, CloseBody, GidParams, ListQuery, type ListQueryType } from './admin-schemas.ts';
import { presentTransaction } from './transaction-routes.ts';

export interface AdminRoutesOptions {
  auth: AdminAuth;
  store: AdminStore;
  operators: OperatorService;
  transactions: TransactionService;
  now: () => number;
  submitWaitMs: number;
}

class BadQueryError extends Error {
  readonly statusCode = 400;
  readonly code = 'INVALID_REQUEST';
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function parseTime(text: string | undefined, name: string): number | undefined {
  if (text === undefined) return undefined;
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new BadQueryError(`${name} is not a valid time`);
  return ms;
}

export function encodeCursor(cursor: ListCursor): string {
  return Buffer.from(JSON.stringify([cursor.createdAt, cursor.gid])).toString('base64url');
}

function decodeCursor(text: string | undefined): ListCursor | undefined {
  if (text === undefined) return undefined;
  try {
    const [createdAt, gid] = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as [unknown, unknown];
    if (typeof createdAt === 'number' && typeof gid === 'string') return { createdAt, gid };
  } catch {
    // fall through
  }
  throw new BadQueryError('cursor is not one this API returned');
}

function filterOf(
  query: { status?: ListFilter['status']; mode?: ListFilter['mode']; gidPrefix?: string; participant?: string; createdAfter?: string; createdBefore?: string },
  flags: { needsAttention?: boolean; paused?: boolean; olderThanMs?: number },
  now: number,
): ListFilter {
  const before = parseTime(query.createdBefore, 'createdBefore');
  const olderThan = flags.olderThanMs === undefined ? undefined : now - flags.olderThanMs;
  const createdBefore = before === undefined ? olderThan : olderThan === undefined ? before : Math.min(before, olderThan);
  return {
    ...(query.status ? { status: query.status } : {}),
    ...(query.mode ? { mode: query.mode } : {}),
    ...(query.gidPrefix ? { gidPrefix: query.gidPrefix } : {}),
    ...(query.participant ? { participant: query.participant } : {}),
    ...(flags.needsAttention !== undefined ? { needsAttention: flags.needsAttention } : {}),
    ...(flags.paused !== undefined ? { paused: flags.paused } : {}),
    ...(query.createdAfter ? { createdAfter: parseTime(query.createdAfter, 'createdAfter') } : {}),
    ...(createdBefore !== undefined ? { createdBefore } : {}),
  };
}

function summary(t: GlobalTransaction) {
  return {
    gid: t.gid,
    mode: t.mode,
    status: t.status,
    reason: t.reason,
    createdAt: iso(t.createdAt),
    updatedAt: iso(t.updatedAt),
    deadlineAt: iso(t.deadlineAt),
    finishedAt: iso(t.finishedAt),
    retryCount: t.retryCount,
    nextRetryAt: iso(t.nextRetryAt),
    needsAttention: t.needsAttention,
    attentionReason: t.attentionReason,
    paused: t.paused,
  };
}

const bool = (text: 'true' | 'false' | undefined) => (text === undefined ? undefined : text === 'true');

export const adminRoutes: FastifyPluginAsyncTypebox<AdminRoutesOptions> = async (app, options) => {
  const { auth, store, operators, now } = options;
  const viewer = auth.require('viewer');
  const operator = auth.require('operator');
  const who = (request: { operator?: import('../engine/operator-service.ts').Operator }) => request.operator!;

  app.get('/transactions', { preHandler: viewer, schema: { querystring: ListQuery } }, async (request) => {
    const q: ListQueryType = request.query;
    const limit = q.limit === undefined ? 50 : Number(q.limit);
    if (limit < 1 || limit > 500) throw new BadQueryError('limit must be between 1 and 500');
    const filter = filterOf(q, { needsAttention: bool(q.needsAttention), paused: bool(q.paused), olderThanMs: q.olderThanMs === undefined ? undefined : Number(q.olderThanMs) }, now());
    const page = await store.list({ filter, order: q.order ?? 'newest', limit, after: decodeCursor(q.cursor) });
    return { items: page.items.map(summary), nextCursor: page.next ? encodeCursor(page.next) : null };
  });

  app.get('/transactions/:gid', { preHandler: viewer, schema: { params: GidParams } }, async (request) => {
    const view = await options.transactions.view(request.params.gid);
    const audit = await store.auditLog({ gid: request.params.gid, limit: 100 });
    return { ...presentTransaction(view, view.events), audit: audit.map((a) => ({ ...a, at: iso(a.at) })) };
  });

  app.get('/stats', { preHandler: viewer }, async () => {
    const stats = await store.stats(now());
    return { ...stats, oldestOpenCreatedAt: iso(stats.oldestOpenCreatedAt) };
  });

  app.get('/audit', { preHandler: viewer, schema: { querystring: AuditQuery } }, async (request) => {
    const limit = request.query.limit === undefined ? 100 : Number(request.query.limit);
    if (limit < 1 || limit > 500) throw new BadQueryError('limit must be between 1 and 500');
    const entries = await store.auditLog({
      limit,
      ...(request.query.gid ? { gid: request.query.gid } : {}),
      ...(request.query.beforeId ? { beforeId: Number(request.query.beforeId) } : {}),
    });
    return { items: entries.map((a) => ({ ...a, at: iso(a.at) })) };
  });

  const present = async (gid: string) => {
    const view = await options.transactions.view(gid);
    return presentTransaction(view, view.events);
  };

  app.post('/transactions/:gid/retry', { preHandler: operator, schema: { params: GidParams, body: ActionBody } }, async (request) => {
    await operators.retry(request.params.gid, who(request), request.body.reason);
    return present(request.params.gid);
  });

  app.post('/transactions/retry', { preHandler: operator, schema: { body: BulkRetryBody } }, async (request) => {
    const { filter, limit, reason } = request.body;
    const { needsAttention, olderThanMs, ...rest } = filter;
    const result = await operators.retryMatching(filterOf(rest, { needsAttention, olderThanMs }, now()), limit, who(request), reason);
    return { retried: result.retried.length, skipped: result.skipped.length, gids: result.retried };
  });

  app.post('/transactions/:gid/pause', { preHandler: operator, schema: { params: GidParams, body: ActionBody } }, async (request) => {
    await operators.pause(request.params.gid, who(request), request.body.reason);
    return present(request.params.gid);
  });

  app.post('/transactions/:gid/resume', { preHandler: operator, schema: { params: GidParams, body: ActionBody } }, async (request) => {
    await operators.resume(request.params.gid, who(request), request.body.reason);
    return present(request.params.gid);
  });

  app.post('/transactions/:gid/force-abort', { preHandler: operator, schema: { params: GidParams, body: ActionBody } }, async (request) => {
    await operators.forceAbort(request.params.gid, who(request), request.body.reason, options.submitWaitMs);
    return present(request.params.gid);
  });

  app.post('/transactions/:gid/branches/:branchId/resolve', { preHandler: operator, schema: { params: BranchParams, body: ActionBody } }, async (request) => {
    await operators.resolveBranch(request.params.gid, request.params.branchId, who(request), request.body.reason);
    return present(request.params.gid);
  });

  app.post('/transactions/:gid/close', { preHandler: operator, schema: { params: GidParams, body: CloseBody } }, async (request) => {
    await operators.close(request.params.gid, who(request), request.body.reason);
    return present(request.params.gid);
  });
};
