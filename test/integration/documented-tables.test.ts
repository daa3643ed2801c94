/**
 * The documented field tables name exactly what the API returns.
 *
 * `GET /v1/transactions/{gid}` has no response schema (it answers the log's
 * records as they are), so the fields are read from real answers: one
 * transaction of every mode, created through /v1 with a stub participant
 * that accepts every call. The union of the fields of `transaction`,
 * `branches[]` and `events[]` over the four must equal the names of
 * docs/protocol.md's three tables: a field added to the API without a row,
 * or a row naming a field no mode returns, fails. The admin view of one
 * transaction (docs/operations.md) is checked the same way: its members, an
 * audit entry's fields, and the records it shares with /v1.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MODES } from '../../coordinator/domain/transaction.ts';
import { ADMIN_TOKENS, adminCall, OPERATOR } from '../support/admin-api.ts';
import { startInProcessCoordinator, testEnv, TEST_API_HEADERS, type InProcessCoordinator } from '../support/coordinator-harness.ts';
import { createTestDatabase, uniqueRedisPrefix, type TestDatabase } from '../support/databases.ts';
import { sectionOf, tableFields } from '../support/doc-tables.ts';
import { startStubParticipant, type StubParticipant } from '../support/stub-participant.ts';

const PROTOCOL = fileURLToPath(new URL('../../docs/protocol.md', import.meta.url));
const OPERATIONS = fileURLToPath(new URL('../../docs/operations.md', import.meta.url));

type Json = Record<string, unknown>;
interface View {
  transaction: Json;
  branches: Json[];
  events: Json[];
}

const sorted = (names: Iterable<string>) => [...new Set(names)].sort();
const keysOf = (records: readonly Json[]) => sorted(records.flatMap((record) => Object.keys(record)));

describe('documented field tables', () => {
  let db: TestDatabase;
  let coordinator: InProcessCoordinator;
  let participant: StubParticipant;
  /** A finished transaction of each mode, by mode, as GET /v1 shows it. */
  const views = new Map<string, View>();

  const call = async (method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: Json }> => {
    const response = await fetch(`${coordinator.url}${path}`, {
      method,
      headers: { ...TEST_API_HEADERS, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Json };
  };
  const created = async (path: string, body: unknown) => {
    const reply = await call('POST', path, body);
    expect(reply.status, JSON.stringify(reply.body)).toBe(201);
    return String(reply.body['gid']);
  };
  const submitted = async (gid: string) => expect((await call('POST', `/v1/transactions/${gid}/submit`, { waitMs: 5_000 })).status).toBe(200);
  const url = (op: string) => `${participant.resourceUrl}/${op}`;
  const gid = (mode: string) => `doc-${mode}-${Date.now()}`;

  beforeAll(async () => {
    db = await createTestDatabase(inject('mysqlUrl'), 'doctables');
    coordinator = await startInProcessCoordinator(testEnv(db.url, inject('redisUrl'), uniqueRedisPrefix('doctables'), { DTX_ADMIN_TOKENS: ADMIN_TOKENS }));
    participant = await startStubParticipant();

    const tcc = await created('/v1/transactions', {
      gid: gid('tcc'),
      timeoutMs: 30_000,
      branches: [{ branchId: 'b1', confirmUrl: url('confirm'), cancelUrl: url('cancel'), payload: { amount: 1 } }],
    });
    await submitted(tcc);
    const xa = await created('/v1/transactions', {
      gid: gid('xa'),
      mode: 'xa',
      timeoutMs: 30_000,
      branches: [{ branchId: 'b1', commitUrl: url('commit'), rollbackUrl: url('rollback'), payload: { amount: 1 } }],
    });
    await submitted(xa);
    const fmt = await created('/v1/transactions', {
      gid: gid('fmt'),
      mode: 'fmt',
      timeoutMs: 30_000,
      branches: [{ branchId: 'b1', commitUrl: url('commit'), rollbackUrl: url('rollback'), payload: { amount: 1 } }],
    });
    await submitted(fmt);
    const saga = await created('/v1/sagas', {
      gid: gid('saga'),
      timeoutMs: 30_000,
      waitMs: 5_000,
      steps: [
        { id: 's1', action: { url: url('action'), payload: { amount: 1 } }, compensate: { url: url('compensate'), payload: { undo: 1 } } },
        { id: 's2', retryLimit: 2, timeoutMs: 500, action: { url: url('action') }, compensate: { url: url('compensate') } },
      ],
    });
    const msg = await created('/v1/messages', {
      gid: gid('msg'),
      checkUrl: url('check'),
      timeoutMs: 30_000,
      branches: [{ id: 'r1', url: url('deliver'), payload: { points: 1 } }],
    });
    await submitted(msg);
    for (const [mode, id] of Object.entries({ tcc, xa, fmt, saga, msg })) {
      const reply = await call('GET', `/v1/transactions/${id}`);
      expect(reply.status).toBe(200);
      views.set(mode, reply.body as unknown as View);
    }
  });

  afterAll(async () => {
    await participant?.close();
    await coordinator?.stop();
    await db?.drop();
  });

  describe('docs/protocol.md, "The transaction as `GET` shows it"', () => {
    it('`transaction`, `branches` and `events`: a row for every field GET returns in some mode, and no other', () => {
      // Every mode's fields are read: a mode without its transaction here would hide its own fields.
      expect(sorted(views.keys())).toEqual(sorted(MODES));
      for (const [mode, view] of views) expect(view.transaction['mode']).toBe(mode);
      const section = sectionOf(PROTOCOL, 'The transaction as `GET` shows it');
      const all = [...views.values()];
      expect.soft(sorted(tableFields(section, '`transaction`', PROTOCOL)), 'transaction').toEqual(keysOf(all.map((view) => view.transaction)));
      expect.soft(sorted(tableFields(section, '`branches`', PROTOCOL)), 'branches').toEqual(keysOf(all.flatMap((view) => view.branches)));
      expect.soft(sorted(tableFields(section, '`events`', PROTOCOL)), 'events').toEqual(keysOf(all.flatMap((view) => view.events)));
    });
  });

  describe('docs/operations.md, the admin view of one transaction', () => {
    it('names its members and an audit entry’s fields; its records are the ones GET /v1 shows', async () => {
      // A force-abort writes an audit entry to read.
      const aborted = await created('/v1/transactions', {
        gid: gid('aborted'),
        timeoutMs: 30_000,
        branches: [{ branchId: 'b1', confirmUrl: url('confirm'), cancelUrl: url('cancel') }],
      });
      const action = await adminCall(coordinator.url, 'POST', `/transactions/${aborted}/force-abort`, {
        token: OPERATOR.token,
        body: { reason: 'documented tables' },
      });
      expect(action.status).toBe(200);
      const admin = await adminCall<View & { audit: Json[]; operator: Json }>(coordinator.url, 'GET', `/transactions/${aborted}`, { token: OPERATOR.token });
      expect(admin.status).toBe(200);
      expect(admin.body.audit).not.toHaveLength(0);

      const section = sectionOf(OPERATIONS, 'Looking around');
      const documented = (caption: string) => sorted(tableFields(section, caption, OPERATIONS));
      expect.soft(documented('`GET /admin/v1/transactions/{gid}` answers'), 'members').toEqual(sorted(Object.keys(admin.body)));
      expect.soft(documented('An audit entry'), 'audit entry').toEqual(keysOf(admin.body.audit));
      expect.soft(documented('`operator`'), 'operator').toEqual(sorted(Object.keys(admin.body.operator)));
      // The table of the members says the three records are GET /v1's: the same fields.
      const v1 = (await call('GET', `/v1/transactions/${aborted}`)).body as unknown as View;
      expect.soft(keysOf([admin.body.transaction]), 'transaction').toEqual(keysOf([v1.transaction]));
      expect.soft(keysOf(admin.body.branches), 'branches').toEqual(keysOf(v1.branches));
      expect.soft(keysOf(admin.body.events), 'events').toEqual(keysOf(v1.events));
    });
  });
});
