/**
 * The pure parts of the participant side: barrier decisions, lock-retry
 * classification and request decoding.
 */
import { describe, expect, it } from 'vitest';
import { checkBackAnswer, forwardRowExisted, isBarrierOp, planBarrier, refusalOf, senderCommitDecision } from '../../participant-sdk/barrier/decision.ts';
import type { FoundRow } from '../../participant-sdk/barrier/decision.ts';
import { isRetryableLockError, lockRetryDelay, withLockRetry } from '../../participant-sdk/barrier/lock-retry.ts';
import { GuardedStatements, isTransactionLostError } from '../../participant-sdk/barrier/lost-transaction.ts';
import { replyOfCheckBack, replyOfResult } from '../../participant-sdk/branch-reply.ts';
import { TransactionLostError } from '../../participant-sdk/errors.ts';
import { decodeCall, parseJsonBody } from '../../participant-sdk/incoming-call.ts';
import { BRANCH_OPS, HEADERS } from '../../protocol/wire.ts';
import {
  defineMessageReceiver,
  defineMessageSender,
  defineSaga,
  defineSqlMessageReceiver,
  defineSqlSaga,
  defineTcc,
  RESOURCE_OPS,
} from '../../participant-sdk/resource.ts';
import type { Resource } from '../../participant-sdk/resource.ts';

describe('barrier decisions', () => {
  it('plans undo ops to claim the undone op first, and phase-two ops to check the rows they depend on', () => {
    expect(planBarrier('cancel')).toEqual({ kind: 'undo', op: 'cancel', undoes: 'try', checks: ['confirm'] });
    expect(planBarrier('compensate')).toEqual({ kind: 'undo', op: 'compensate', undoes: 'action', checks: [] });
    expect(planBarrier('confirm')).toEqual({ kind: 'forward', op: 'confirm', checks: ['try', 'cancel'] });
    expect(planBarrier('try')).toEqual({ kind: 'forward', op: 'try', checks: [] });
    expect(planBarrier('action')).toEqual({ kind: 'forward', op: 'action', checks: [] });
  });

  it('runs a confirm only after a successful try here, and never next to a cancel', () => {
    const row = (op: string, originOp: string): FoundRow => ({ op, originOp });
    expect(refusalOf('confirm', [row('try', 'try')])).toBeNull();
    expect(refusalOf('confirm', [])).toBe('try-not-found');
    // The try row a null compensation wrote is no successful try.
    expect(refusalOf('confirm', [row('try', 'cancel')])).toBe('try-not-found');
    expect(refusalOf('confirm', [row('try', 'cancel'), row('cancel', 'cancel')])).toBe('already-cancelled');
    expect(refusalOf('confirm', [row('cancel', 'cancel'), row('try', 'try')])).toBe('already-cancelled');
    expect(refusalOf('cancel', [])).toBeNull();
    expect(refusalOf('cancel', [row('confirm', 'confirm')])).toBe('already-confirmed');
    // Saga ops have no confirm: nothing to refuse beyond suspension.
    expect(refusalOf('compensate', [row('confirm', 'confirm')])).toBeNull();
    expect(refusalOf('action', [])).toBeNull();
  });

  it('answers each refusal 409 with its own code', () => {
    const reply = (refusal: 'try-not-found' | 'already-cancelled' | 'already-confirmed') => {
      const r = replyOfResult({ kind: 'refused', refusal });
      return [r.statusCode, (r.body as { code: string }).code];
    };
    expect(reply('try-not-found')).toEqual([409, 'TRY_NOT_FOUND']);
    expect(reply('already-cancelled')).toEqual([409, 'ALREADY_CANCELLED']);
    expect(reply('already-confirmed')).toEqual([409, 'ALREADY_CONFIRMED']);
  });

  it('reads an existing forward row by who inserted it', () => {
    expect(forwardRowExisted('try', 'try')).toBe('duplicate');
    expect(forwardRowExisted('try', 'cancel')).toBe('suspended');
    expect(forwardRowExisted('action', 'compensate')).toBe('suspended');
    expect(forwardRowExisted('action', 'action')).toBe('duplicate');
    expect(forwardRowExisted('confirm', 'confirm')).toBe('duplicate');
    expect(forwardRowExisted('deliver', 'deliver')).toBe('duplicate');
  });

  it("runs a delivery as a forward op that checks nothing, and never runs a check or XA's prepare behind the barrier", () => {
    expect(planBarrier('deliver')).toEqual({ kind: 'forward', op: 'deliver', checks: [] });
    expect(BRANCH_OPS.filter((op) => !isBarrierOp(op))).toEqual(['check', 'prepare']);
  });

  it("runs an FMT branch's ops as TCC's: execute the try, commit the confirm, rollback the cancel", () => {
    expect(planBarrier('execute')).toEqual({ kind: 'forward', op: 'execute', checks: [] });
    expect(planBarrier('commit')).toEqual({ kind: 'forward', op: 'commit', checks: ['execute', 'rollback'] });
    expect(planBarrier('rollback')).toEqual({ kind: 'undo', op: 'rollback', undoes: 'execute', checks: ['commit'] });
    expect(refusalOf('commit', [])).toBe('try-not-found');
    expect(refusalOf('commit', [{ op: 'execute', originOp: 'rollback' }])).toBe('try-not-found');
    expect(refusalOf('commit', [{ op: 'execute', originOp: 'execute' }])).toBeNull();
    expect(
      refusalOf('commit', [
        { op: 'execute', originOp: 'execute' },
        { op: 'rollback', originOp: 'rollback' },
      ]),
    ).toBe('already-cancelled');
    expect(refusalOf('rollback', [{ op: 'commit', originOp: 'commit' }])).toBe('already-confirmed');
    expect(forwardRowExisted('execute', 'rollback')).toBe('suspended');
    expect(forwardRowExisted('execute', 'execute')).toBe('duplicate');
    expect(forwardRowExisted('commit', 'commit')).toBe('duplicate');
  });
});

describe('message sender row', () => {
  it('answers the check-back by who wrote the row: the commit (deliver) or a check-back (drop)', () => {
    expect(checkBackAnswer('commit')).toBe('committed');
    expect(checkBackAnswer('check')).toBe('not-committed');
    // A row this SDK never writes: fail (answered as unknown), never guess.
    expect(() => checkBackAnswer('try')).toThrow(expect.objectContaining({ code: 'BARRIER_ROW_ORIGIN' }));
  });

  it("lets the sender's commit go on only with a row of its own", () => {
    expect(senderCommitDecision(true, 'commit')).toBe('go');
    expect(senderCommitDecision(false, 'check')).toBe('aborted');
    expect(senderCommitDecision(false, 'commit')).toBe('already-committed');
    expect(() => senderCommitDecision(false, 'deliver')).toThrow(expect.objectContaining({ code: 'BARRIER_ROW_ORIGIN' }));
  });

  it('replies 200 to a committed sender and 409 NOT_COMMITTED otherwise', () => {
    expect(replyOfCheckBack('committed')).toEqual({ statusCode: 200, body: { ok: true, committed: true } });
    const refused = replyOfCheckBack('not-committed');
    expect([refused.statusCode, (refused.body as { code: string }).code]).toEqual([409, 'NOT_COMMITTED']);
  });
});

describe('lock retry', () => {
  it('recognises deadlocks and lock wait timeouts by errno or code only', () => {
    expect(isRetryableLockError({ errno: 1213 })).toBe(true);
    expect(isRetryableLockError({ code: 'ER_LOCK_WAIT_TIMEOUT' })).toBe(true);
    expect(isRetryableLockError(new Error('Deadlock found when trying to get lock'))).toBe(false);
    expect(isRetryableLockError({ errno: 1062, code: 'ER_DUP_ENTRY' })).toBe(false);
  });

  it('bounds attempts and jitters delays within the doubling cap', async () => {
    expect(lockRetryDelay(3, 10, () => 0.999)).toBeLessThan(40);
    expect(lockRetryDelay(3, 10, () => 0)).toBe(0);
    let calls = 0;
    const deadlock = Object.assign(new Error('x'), { errno: 1213 });
    const run = withLockRetry(
      async () => {
        calls++;
        throw deadlock;
      },
      { maxAttempts: 3, baseDelayMs: 1, random: () => 0 },
    );
    await expect(run).rejects.toBe(deadlock);
    expect(calls).toBe(3);
  });
});

describe('lost local transaction', () => {
  it('counts deadlocks, lock wait timeouts and dead connections as lost, not ordinary statement errors', () => {
    expect(isTransactionLostError({ errno: 1213, code: 'ER_LOCK_DEADLOCK' })).toBe(true);
    expect(isTransactionLostError({ errno: 1205 })).toBe(true);
    expect(isTransactionLostError({ errno: 1927 })).toBe(true);
    expect(isTransactionLostError({ code: 'PROTOCOL_CONNECTION_LOST', fatal: true })).toBe(true);
    expect(isTransactionLostError({ code: 'ECONNRESET', fatal: true })).toBe(true);
    expect(isTransactionLostError({ errno: 1062, code: 'ER_DUP_ENTRY', fatal: false })).toBe(false);
    expect(isTransactionLostError(new Error('Deadlock found when trying to get lock'))).toBe(false);
    expect(isTransactionLostError(undefined)).toBe(false);
  });

  it('refuses every statement after the one that lost the transaction, without sending it', async () => {
    const sent: string[] = [];
    const deadlock = Object.assign(new Error('deadlock'), { errno: 1213 });
    const duplicate = Object.assign(new Error('duplicate'), { errno: 1062 });
    const guard = new GuardedStatements(async (sql) => {
      sent.push(sql);
      if (sql === 'dup') throw duplicate;
      if (sql === 'victim') throw deadlock;
      return sql;
    });
    await expect(guard.query('dup', [])).rejects.toBe(duplicate);
    expect(guard.loss).toBeUndefined();
    expect(await guard.query('a', [])).toBe('a');
    // Started together, as a handler that does not await might: the second waits for the first.
    const [victim, after] = await Promise.allSettled([guard.query('victim', []), guard.query('after', [])]);
    expect(victim).toEqual({ status: 'rejected', reason: deadlock });
    expect(after.status === 'rejected' && after.reason).toBeInstanceOf(TransactionLostError);
    expect(guard.loss).toEqual({ error: deadlock });
    expect(sent).toEqual(['dup', 'a', 'victim']);
    await guard.settled();
    guard.finish();
    await expect(guard.query('late', [])).rejects.toMatchObject({ code: 'TRANSACTION_FINISHED' });
  });
});

describe('decodeCall', () => {
  const resource = defineTcc({ name: 'transfer-out', try: () => 1, confirm: () => {}, cancel: () => {} });
  const resources = new Map<string, Resource>([[resource.name, resource]]);
  const headers = { [HEADERS.gid]: 'g1', [HEADERS.branchId]: '01', [HEADERS.op]: 'try', [HEADERS.timestamp]: '1700000000000' };
  const decode = (path: string, h: Record<string, string | string[] | undefined> = headers, method = 'POST') =>
    decodeCall({ method, path, headers: h, rawBody: '{}' }, resources);

  it('routes POST /<resource>/<op> and reads the headers', () => {
    const result = decode('/transfer-out/try?x=1');
    expect(result.ok && result.call).toMatchObject({ op: 'try', gid: 'g1', branchId: '01', timestamp: 1700000000000 });
  });

  it('refuses with the right status', () => {
    const status = (r: ReturnType<typeof decode>) => (r.ok ? 200 : r.reply.statusCode);
    expect(status(decode('/transfer-out/try', headers, 'GET'))).toBe(405);
    expect(status(decode('/other/try'))).toBe(404);
    expect(status(decode('/transfer-out/action'))).toBe(404);
    expect(status(decode('/transfer-out/try/extra'))).toBe(404);
    expect(status(decode('/transfer-out/confirm'))).toBe(400); // header op is try
    expect(status(decode('/transfer-out/try', { ...headers, [HEADERS.gid]: undefined }))).toBe(400);
    expect(status(decode('/transfer-out/try', { ...headers, [HEADERS.gid]: ['a', 'b'] }))).toBe(400);
  });

  it('reads a malformed timestamp as NaN so that verification calls it malformed', () => {
    const result = decode('/transfer-out/try', { ...headers, [HEADERS.timestamp]: '12e3' });
    expect(result.ok && Number.isNaN(result.call.timestamp)).toBe(true);
  });

  it('parses an empty body as null and refuses invalid JSON', () => {
    expect(parseJsonBody('')).toEqual({ ok: true, value: null });
    expect(parseJsonBody(Buffer.from('{"a":1}'))).toEqual({ ok: true, value: { a: 1 } });
    expect(parseJsonBody('{')).toEqual({ ok: false });
  });
});

describe('saga resources', () => {
  const saga = defineSaga({ name: 'withdraw', action: () => {}, compensate: () => {} });
  const tcc = defineTcc({ name: 'reserve', try: () => 1, confirm: () => {}, cancel: () => {} });
  const resources = new Map<string, Resource>([
    [saga.name, saga],
    [tcc.name, tcc],
  ]);
  const decode = (path: string, op: string) =>
    decodeCall({ method: 'POST', path, headers: { [HEADERS.gid]: 'g1', [HEADERS.branchId]: '01', [HEADERS.op]: op }, rawBody: '{}' }, resources);

  it('answer exactly the saga ops; each mode has its own, and together they are the protocol ops', () => {
    expect(saga.mode).toBe('saga');
    expect(Object.keys(saga.handlers)).toEqual([...RESOURCE_OPS.saga]);
    expect(Object.keys(defineSqlSaga({ name: 'deposit', action: () => {}, compensate: () => {} }).handlers)).toEqual(['action', 'compensate']);
    expect(Object.keys(tcc.handlers)).toEqual([...RESOURCE_OPS.tcc]);
    // Every op of the protocol is some mode's (XA and FMT share commit and rollback).
    expect([...new Set(Object.values(RESOURCE_OPS).flat())].sort()).toEqual([...BRANCH_OPS].sort());
  });

  it('route action and compensate, and refuse an op of the other mode with 404 UNKNOWN_OP', () => {
    for (const op of RESOURCE_OPS.saga) {
      const result = decode(`/withdraw/${op}`, op);
      expect(result.ok && result.call.resource).toBe(saga);
      const other = decode(`/reserve/${op}`, op);
      expect(!other.ok && other.reply).toEqual({ statusCode: 404, body: { code: 'UNKNOWN_OP', message: `resource reserve has no op "${op}"` } });
    }
    for (const op of RESOURCE_OPS.tcc) {
      const result = decode(`/withdraw/${op}`, op);
      expect(!result.ok && result.reply.statusCode).toBe(404);
      expect(!result.ok && result.reply.body.code).toBe('UNKNOWN_OP');
    }
  });

  it('call their handlers as methods of the definition', async () => {
    const seen: unknown[] = [];
    const definition = {
      name: 'withdraw',
      tag: 'mine',
      action(this: { tag: string }) {
        seen.push(this.tag);
      },
      compensate() {},
    };
    await defineSaga(definition).handlers.action!({} as never);
    expect(seen).toEqual(['mine']);
  });
});

describe('message resources', () => {
  const receiver = defineMessageReceiver({ name: 'notes', deliver: () => {} });
  const sender = defineMessageSender({ name: 'outbox' });
  const saga = defineSaga({ name: 'withdraw', action: () => {}, compensate: () => {} });
  const resources = new Map<string, Resource>([
    [receiver.name, receiver],
    [sender.name, sender],
    [saga.name, saga],
  ]);
  const decode = (path: string, op: string) =>
    decodeCall({ method: 'POST', path, headers: { [HEADERS.gid]: 'g1', [HEADERS.branchId]: '01', [HEADERS.op]: op }, rawBody: '{}' }, resources);

  it('answer deliver (a receiver) and check (a sender, with no handler of its own)', () => {
    expect([receiver.mode, Object.keys(receiver.handlers)]).toEqual(['msg', [...RESOURCE_OPS.msg]]);
    expect(Object.keys(defineSqlMessageReceiver({ name: 'notes', deliver: () => {} }).handlers)).toEqual(['deliver']);
    expect([sender.mode, Object.keys(sender.handlers)]).toEqual(['msg-sender', []]);
    expect(RESOURCE_OPS['msg-sender']).toEqual(['check']);
  });

  it('route deliver and check, and refuse every other op with 404 UNKNOWN_OP', () => {
    const deliver = decode('/notes/deliver', 'deliver');
    expect(deliver.ok && deliver.call.resource).toBe(receiver);
    const check = decode('/outbox/check', 'check');
    expect(check.ok && check.call.resource).toBe(sender);
    for (const [name, own] of [
      ['notes', 'deliver'],
      ['outbox', 'check'],
      ['withdraw', 'action'],
    ] as const) {
      for (const op of BRANCH_OPS.filter((other) => other !== own && !(name === 'withdraw' && other === 'compensate'))) {
        const result = decode(`/${name}/${op}`, op);
        expect(!result.ok && result.reply, `${name} ${op}`).toEqual({
          statusCode: 404,
          body: { code: 'UNKNOWN_OP', message: `resource ${name} has no op "${op}"` },
        });
      }
    }
  });
});
