/**
 * The admin API (/admin/v1): find, inspect and repair transactions. Reads
 * need the viewer role, actions the operator role; every action needs a
 * reason and is audited.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { OperatorService } from '../engine/operator-service.ts';
import type { TransactionService } from '../engine/transaction-service.ts';
import type { AdminStore, ListCursor, ListFilter } from '../store/ports/admin-store.ts';
import type { AdminAuth } from './admin-auth.ts';
import { operatorAvailability } from './operator-availability.ts';
import { ActionBody, AuditQuery, BranchParams, BulkRetryBody, CloseBody, GidParams, ListQuery, RowLockQuery, type ListQueryType } from './admin-schemas.ts';
import { presentStats, presentSummary, presentTransaction, statusFilter } from './presentation.ts';
import { modeCatalog, ModeCatalogReply } from './mode-catalog.ts';
import { presentHolder } from './row-lock-routes.ts';
import { rulesFor } from '../modes/registry.ts';
import { ADMIN_SECURITY, DOC_TAGS } from './openapi.ts';

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

function encodeCursor(cursor: ListCursor): string {
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
  query: { status?: string; mode?: ListFilter['mode']; gidPrefix?: string; participant?: string; createdAfter?: string; createdBefore?: string },
  flags: { needsAttention?: boolean; paused?: boolean; olderThanMs?: number },
  now: number,
): ListFilter {
  const before = parseTime(query.createdBefore, 'createdBefore');
  const olderThan = flags.olderThanMs === undefined ? undefined : now - flags.olderThanMs;
  const createdBefore = before === undefined ? olderThan : olderThan === undefined ? before : Math.min(before, olderThan);
  const status = query.status === undefined ? undefined : statusFilter(query.status, query.mode);
  if (typeof status === 'string') throw new BadQueryError(status);
  return {
    ...(query.mode ? { mode: query.mode } : {}),
    ...status,
    ...(query.gidPrefix ? { gidPrefix: query.gidPrefix } : {}),
    ...(query.participant ? { participant: query.participant } : {}),
    ...(flags.needsAttention !== undefined ? { needsAttention: flags.needsAttention } : {}),
    ...(flags.paused !== undefined ? { paused: flags.paused } : {}),
    ...(query.createdAfter ? { createdAfter: parseTime(query.createdAfter, 'createdAfter') } : {}),
    ...(createdBefore !== undefined ? { createdBefore } : {}),
  };
}

/** OpenAPI fragments: every admin route needs a bearer token (viewer for reads, operator for actions). */
const doc = (summary: string, role: 'viewer' | 'operator') => ({
  tags: [DOC_TAGS.admin],
  summary,
  description: `Needs a bearer token with the ${role} role${role === 'operator' ? '; the reason is audited and added to the event history' : ''}. 401 without a valid token, 403 with a viewer token on an action.`,
  security: [{ [ADMIN_SECURITY]: [] }],
});

const bool = (text: 'true' | 'false' | undefined) => (text === undefined ? undefined : text === 'true');

export const adminRoutes: FastifyPluginAsyncTypebox<AdminRoutesOptions> = async (app, options) => {
  const { auth, store, operators, now } = options;
  const viewer = auth.require('viewer');
  const operator = auth.require('operator');
  const who = (request: { operator?: import('../engine/operator-service.ts').Operator }) => request.operator!;
  /** Participants' reply bodies may carry business data: the operator role sees them, a viewer their status line. */
  const mayReadReplies = (request: { operator?: import('../engine/operator-service.ts').Operator }) => request.operator?.role === 'operator';

  app.get(
    '/transactions',
    { onRequest: viewer, schema: { ...doc('List transactions by filter, newest or oldest first, with cursor paging', 'viewer'), querystring: ListQuery } },
    async (request) => {
      const q: ListQueryType = request.query;
      const limit = q.limit === undefined ? 50 : Number(q.limit);
      if (limit < 1 || limit > 500) throw new BadQueryError('limit must be between 1 and 500');
      const filter = filterOf(
        q,
        { needsAttention: bool(q.needsAttention), paused: bool(q.paused), olderThanMs: q.olderThanMs === undefined ? undefined : Number(q.olderThanMs) },
        now(),
      );
      const page = await store.list({ filter, order: q.order ?? 'newest', limit, after: decodeCursor(q.cursor) });
      return { items: page.items.map(presentSummary), nextCursor: page.next ? encodeCursor(page.next) : null };
    },
  );

  app.get(
    '/transactions/:gid',
    {
      onRequest: viewer,
      schema: {
        ...doc('One transaction: branches (attempts, last error), events, audit entries, the operator actions that apply', 'viewer'),
        params: GidParams,
      },
    },
    async (request) => {
      const view = await options.transactions.view(request.params.gid);
      const audit = await store.auditLog({ gid: request.params.gid, limit: 100 });
      return {
        ...presentTransaction(view, view.events, { replyBodies: mayReadReplies(request) }),
        audit: audit.map((a) => ({ ...a, at: iso(a.at) })),
        operator: operatorAvailability(view, now()),
        ...(rulesFor(view.transaction.mode).rowLocks ? { rowLocks: (await store.rowLocks({ gid: request.params.gid, limit: 1000 })).map(presentHolder) } : {}),
      };
    },
  );

  app.get(
    '/modes',
    { onRequest: viewer, schema: { ...doc("The coordinator's modes: their words, operations and row locks", 'viewer'), response: { 200: ModeCatalogReply } } },
    async () => modeCatalog(),
  );

  app.get(
    '/row-locks',
    {
      onRequest: viewer,
      schema: { ...doc('FMT: the row locks held now, oldest first: of one transaction, or of one database (and table)', 'viewer'), querystring: RowLockQuery },
    },
    async (request) => {
      const q = request.query;
      const limit = q.limit === undefined ? 100 : Number(q.limit);
      if (limit < 1 || limit > 1000) throw new BadQueryError('limit must be between 1 and 1000');
      if (q.table !== undefined && q.resource === undefined) throw new BadQueryError('table needs resource');
      const held = await store.rowLocks({ gid: q.gid, resource: q.resource, table: q.table, limit });
      const at = now();
      return { locks: held.map((holder) => ({ ...presentHolder(holder), heldForMs: Math.max(0, at - holder.lockedAt) })) };
    },
  );

  app.get(
    '/stats',
    { onRequest: viewer, schema: doc('Counts by status, oldest open transaction, retry backlog, flagged in the last hour', 'viewer') },
    async () => {
      return presentStats(await store.stats(now()));
    },
  );

  app.get(
    '/audit',
    { onRequest: viewer, schema: { ...doc('Audit log of operator actions, newest first', 'viewer'), querystring: AuditQuery } },
    async (request) => {
      const limit = request.query.limit === undefined ? 100 : Number(request.query.limit);
      if (limit < 1 || limit > 500) throw new BadQueryError('limit must be between 1 and 500');
      const entries = await store.auditLog({
        limit,
        ...(request.query.gid ? { gid: request.query.gid } : {}),
        ...(request.query.beforeId ? { beforeId: Number(request.query.beforeId) } : {}),
      });
      return { items: entries.map((a) => ({ ...a, at: iso(a.at) })) };
    },
  );

  // Actions need the operator role, which may read participants' replies.
  const present = async (gid: string) => {
    const view = await options.transactions.view(gid);
    return presentTransaction(view, view.events, { replyBodies: true });
  };

  app.post(
    '/transactions/:gid/retry',
    {
      onRequest: operator,
      schema: { ...doc('Retry now: reset the retry clock of one phase-two transaction', 'operator'), params: GidParams, body: ActionBody },
    },
    async (request) => {
      await operators.retry(request.params.gid, who(request), request.body.reason);
      return present(request.params.gid);
    },
  );

  app.post(
    '/transactions/retry',
    {
      onRequest: operator,
      schema: { ...doc('Retry now every open, unpaused phase-two transaction matching a filter (bounded)', 'operator'), body: BulkRetryBody },
    },
    async (request) => {
      const { filter, limit, reason } = request.body;
      const { needsAttention, olderThanMs, ...rest } = filter;
      const result = await operators.retryMatching(filterOf(rest, { needsAttention, olderThanMs }, now()), limit, who(request), reason);
      return { retried: result.retried.length, skipped: result.skipped.length, gids: result.retried };
    },
  );

  app.post(
    '/transactions/:gid/pause',
    { onRequest: operator, schema: { ...doc('Pause retries of a phase-two transaction', 'operator'), params: GidParams, body: ActionBody } },
    async (request) => {
      await operators.pause(request.params.gid, who(request), request.body.reason);
      return present(request.params.gid);
    },
  );

  app.post(
    '/transactions/:gid/resume',
    { onRequest: operator, schema: { ...doc('Resume retries (due at once)', 'operator'), params: GidParams, body: ActionBody } },
    async (request) => {
      await operators.resume(request.params.gid, who(request), request.body.reason);
      return present(request.params.gid);
    },
  );

  app.post(
    '/transactions/:gid/force-abort',
    {
      onRequest: operator,
      schema: {
        ...doc('Force-abort a transaction before its decision: roll back every branch (TCC: cancel; 409 after the confirm decision)', 'operator'),
        params: GidParams,
        body: ActionBody,
      },
    },
    async (request) => {
      await operators.forceAbort(request.params.gid, who(request), request.body.reason, options.submitWaitMs);
      return present(request.params.gid);
    },
  );

  app.post(
    '/transactions/:gid/branches/:branchId/resolve',
    {
      onRequest: operator,
      schema: {
        ...doc('Mark one branch confirmed/cancelled by hand after a manual fix; the last one finishes the transaction', 'operator'),
        params: BranchParams,
        body: ActionBody,
      },
    },
    async (request) => {
      await operators.resolveBranch(request.params.gid, request.params.branchId, who(request), request.body.reason);
      return present(request.params.gid);
    },
  );

  app.post(
    '/transactions/:gid/close',
    {
      onRequest: operator,
      schema: { ...doc('LAST RESORT: end the transaction without calling participants (lastResort: true)', 'operator'), params: GidParams, body: CloseBody },
    },
    async (request) => {
      await operators.close(request.params.gid, who(request), request.body.reason);
      return present(request.params.gid);
    },
  );
};
