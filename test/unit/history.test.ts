/**
 * A transaction's history (domain/history.ts): the happy path's lines are
 * assembled from the transaction's and branches' columns, the same lines the
 * log used to write as rows, and merged with the rows the log still writes
 * (failed and ongoing calls, flags, operator actions) without duplicates.
 */
import { describe, expect, it } from 'vitest';
import { assembleHistory } from '../../coordinator/domain/history.ts';
import { branchAt, transactionAt } from '../support/model-fixtures.ts';
import type { Branch, EventKind, GlobalTransaction, TransactionEvent, TransactionSnapshot } from '../../coordinator/domain/transaction.ts';

const GID = 'gid-h';
/** 2023-11-14T22:13:20.000Z */
const T = 1_700_000_000_000;
const DEADLINE = T + 60_000;
const DEADLINE_LINE = 'deadline 2023-11-14T22:14:20.000Z';
/** Two rounds of phase two. */
const R1 = T + 1_000;
const R2 = T + 5_000;

function txn(overrides: Partial<GlobalTransaction> = {}): GlobalTransaction {
  return transactionAt(T, { gid: GID, caller: 'shop', ...overrides });
}

function branch(branchId: string, overrides: Partial<Branch> = {}): Branch {
  return branchAt(T, branchId, { gid: GID, registeredBy: 'shop', ...overrides });
}

/** A line of the history: an assembled one (id 0) unless an id is given. */
function line(at: number, kind: EventKind, fields: Partial<TransactionEvent> = {}): TransactionEvent {
  return {
    id: 0,
    gid: GID,
    at,
    kind,
    branchId: null,
    op: null,
    fromStatus: null,
    toStatus: null,
    outcome: null,
    attempt: null,
    message: null,
    actor: null,
    ...fields,
  };
}

const registered = (branchId: string) => `confirm http://bank.test/${branchId}/confirm cancel http://bank.test/${branchId}/cancel`;

const snapshot = (transaction: GlobalTransaction, branches: Branch[]): TransactionSnapshot => ({ transaction, branches });

describe('assembleHistory: a happy path with no event rows', () => {
  const DECIDED = T + 100;
  const FINISHED = T + 300;
  const committed = snapshot(txn({ status: 'committed', reason: 'checkout', decidedAt: DECIDED, decidedBy: 'shop', finishedAt: FINISHED, nextRetryAt: null }), [
    branch('a', { status: 'committed', attempts: 1, completion: { at: T + 200, op: 'confirm', attempt: 1, httpStatus: 200 } }),
    branch('b', {
      status: 'committed',
      attempts: 1,
      createdAt: T + 50,
      registeredBy: 'bank',
      completion: { at: T + 210, op: 'confirm', attempt: 1, httpStatus: 201 },
    }),
  ]);

  it('yields the lines the log used to write: begin, a register per branch, the decision, a successful call per branch, the finish', () => {
    expect(assembleHistory(committed, [])).toEqual([
      line(T, 'begin', { toStatus: 'open', message: DEADLINE_LINE, actor: 'shop' }),
      line(T, 'register', { branchId: 'a', message: registered('a'), actor: 'shop' }),
      line(T + 50, 'register', { branchId: 'b', message: registered('b'), actor: 'bank' }),
      line(DECIDED, 'status', { fromStatus: 'open', toStatus: 'committing', message: 'checkout', actor: 'shop' }),
      line(T + 200, 'branch-call', { branchId: 'a', op: 'confirm', outcome: 'success', attempt: 1, message: 'HTTP 200' }),
      line(T + 210, 'branch-call', { branchId: 'b', op: 'confirm', outcome: 'success', attempt: 1, message: 'HTTP 201' }),
      line(FINISHED, 'status', { fromStatus: 'committing', toStatus: 'committed' }),
    ]);
  });

  it('keeps that order when everything happened in the same millisecond', () => {
    const instant = snapshot(
      { ...committed.transaction, decidedAt: T, finishedAt: T },
      committed.branches.map((b) => ({ ...b, createdAt: T, completion: { ...b.completion!, at: T } })),
    );
    expect(assembleHistory(instant, []).map((e) => [e.at, e.kind, e.branchId, e.toStatus])).toEqual([
      [T, 'begin', null, 'open'],
      [T, 'register', 'a', null],
      [T, 'register', 'b', null],
      [T, 'status', null, 'committing'],
      [T, 'branch-call', 'a', null],
      [T, 'branch-call', 'b', null],
      [T, 'status', null, 'committed'],
    ]);
  });

  it('orders by time, not by branch: a branch completed in an earlier round comes first', () => {
    const history = assembleHistory(
      snapshot(committed.transaction, [
        { ...committed.branches[0]!, completion: { at: T + 250, op: 'confirm', attempt: 2, httpStatus: 200 } },
        committed.branches[1]!,
      ]),
      [],
    );
    expect(history.filter((e) => e.kind === 'branch-call').map((e) => [e.branchId, e.at, e.attempt])).toEqual([
      ['b', T + 210, 1],
      ['a', T + 250, 2],
    ]);
  });

  it('a decision by someone else than the caller, an anonymous begin, a call with no status to report', () => {
    const history = assembleHistory(
      snapshot(txn({ status: 'committing', caller: null, reason: null, decidedAt: DECIDED, decidedBy: 'ops@example.test' }), [
        branch('a', { registeredBy: null, status: 'committed', completion: { at: T + 200, op: 'confirm', attempt: 3, httpStatus: null } }),
      ]),
      [],
    );
    expect(history).toEqual([
      line(T, 'begin', { toStatus: 'open', message: DEADLINE_LINE, actor: null }),
      line(T, 'register', { branchId: 'a', message: registered('a'), actor: null }),
      line(DECIDED, 'status', { fromStatus: 'open', toStatus: 'committing', message: null, actor: 'ops@example.test' }),
      line(T + 200, 'branch-call', { branchId: 'a', op: 'confirm', outcome: 'success', attempt: 3, message: null }),
    ]);
  });

  it('a transaction rolled back by the deadline: the sweeper decided, the cancels succeeded', () => {
    const swept = DEADLINE + 7;
    const history = assembleHistory(
      snapshot(
        txn({ status: 'rolled-back', reason: 'timeout', decidedAt: swept, decidedBy: 'timeout-sweeper', finishedAt: DEADLINE + 40, nextRetryAt: null }),
        [
          branch('a', { status: 'rolled-back', completion: { at: DEADLINE + 30, op: 'cancel', attempt: 1, httpStatus: 200 } }),
          branch('b', { status: 'rolled-back', completion: { at: DEADLINE + 30, op: 'cancel', attempt: 1, httpStatus: 200 } }),
        ],
      ),
      [],
    );
    expect(history).toEqual([
      line(T, 'begin', { toStatus: 'open', message: DEADLINE_LINE, actor: 'shop' }),
      line(T, 'register', { branchId: 'a', message: registered('a'), actor: 'shop' }),
      line(T, 'register', { branchId: 'b', message: registered('b'), actor: 'shop' }),
      line(swept, 'status', { fromStatus: 'open', toStatus: 'rolling-back', message: 'timeout', actor: 'timeout-sweeper' }),
      line(DEADLINE + 30, 'branch-call', { branchId: 'a', op: 'cancel', outcome: 'success', attempt: 1, message: 'HTTP 200' }),
      line(DEADLINE + 30, 'branch-call', { branchId: 'b', op: 'cancel', outcome: 'success', attempt: 1, message: 'HTTP 200' }),
      line(DEADLINE + 40, 'status', { fromStatus: 'rolling-back', toStatus: 'rolled-back' }),
    ]);
  });

  it('an open transaction: only the begin and the registers', () => {
    expect(assembleHistory(snapshot(txn(), [branch('a'), branch('b', { createdAt: T + 5 })]), [])).toEqual([
      line(T, 'begin', { toStatus: 'open', message: DEADLINE_LINE, actor: 'shop' }),
      line(T, 'register', { branchId: 'a', message: registered('a'), actor: 'shop' }),
      line(T + 5, 'register', { branchId: 'b', message: registered('b'), actor: 'shop' }),
    ]);
    expect(assembleHistory(snapshot(txn(), []), [])).toEqual([line(T, 'begin', { toStatus: 'open', message: DEADLINE_LINE, actor: 'shop' })]);
  });

  it('phase two under way: the decision and the calls that completed, no finish', () => {
    const history = assembleHistory(
      snapshot(txn({ status: 'rolling-back', reason: 'out of stock', decidedAt: T + 100, decidedBy: 'shop' }), [
        branch('a', { status: 'rolled-back', completion: { at: T + 150, op: 'cancel', attempt: 1, httpStatus: 200 } }),
        branch('b'),
      ]),
      [],
    );
    expect(history.map((e) => [e.kind, e.branchId, e.toStatus, e.op])).toEqual([
      ['begin', null, 'open', null],
      ['register', 'a', null, null],
      ['register', 'b', null, null],
      ['status', null, 'rolling-back', null],
      ['branch-call', 'a', null, 'cancel'],
    ]);
  });
});

describe('assembleHistory: merged with the rows the log wrote', () => {
  it('a failed call and an attention between the decision and the finish; rows of the same millisecond keep their logged order', () => {
    const done = snapshot(
      txn({ status: 'committed', reason: 'pay', decidedAt: T + 100, decidedBy: 'shop', finishedAt: R2, retryCount: 1, nextRetryAt: null }),
      [
        branch('a', { status: 'committed', completion: { at: R1, op: 'confirm', attempt: 1, httpStatus: 200 } }),
        branch('b', { status: 'committed', completion: { at: R2, op: 'confirm', attempt: 2, httpStatus: 200 } }),
        branch('c', { status: 'committed', completion: { at: R2, op: 'confirm', attempt: 2, httpStatus: 200 } }),
      ],
    );
    const rows = [
      line(R1, 'branch-call', { id: 11, branchId: 'b', op: 'confirm', outcome: 'failure', attempt: 1, message: 'HTTP 409' }),
      line(R1, 'branch-call', { id: 12, branchId: 'c', op: 'confirm', outcome: 'unknown', attempt: 1, message: 'connect ECONNREFUSED' }),
      line(R1, 'attention', { id: 13, message: 'branch b refused confirm (HTTP 409); confirm must eventually succeed' }),
    ];
    expect(assembleHistory(done, rows)).toEqual([
      line(T, 'begin', { toStatus: 'open', message: DEADLINE_LINE, actor: 'shop' }),
      line(T, 'register', { branchId: 'a', message: registered('a'), actor: 'shop' }),
      line(T, 'register', { branchId: 'b', message: registered('b'), actor: 'shop' }),
      line(T, 'register', { branchId: 'c', message: registered('c'), actor: 'shop' }),
      line(T + 100, 'status', { fromStatus: 'open', toStatus: 'committing', message: 'pay', actor: 'shop' }),
      line(R1, 'branch-call', { branchId: 'a', op: 'confirm', outcome: 'success', attempt: 1, message: 'HTTP 200' }),
      rows[0],
      rows[1],
      rows[2],
      line(R2, 'branch-call', { branchId: 'b', op: 'confirm', outcome: 'success', attempt: 2, message: 'HTTP 200' }),
      line(R2, 'branch-call', { branchId: 'c', op: 'confirm', outcome: 'success', attempt: 2, message: 'HTTP 200' }),
      line(R2, 'status', { fromStatus: 'committing', toStatus: 'committed' }),
    ]);
  });

  it('rows are never reordered, even when their kinds would sort otherwise', () => {
    const running = snapshot(txn({ status: 'committing', reason: 'pay', decidedAt: T + 100, decidedBy: 'shop', paused: true }), [branch('a'), branch('b')]);
    const rows = [
      line(R1, 'operator', { id: 21, message: 'pause: retries paused. Reason: look first', actor: 'ops' }),
      // A round that was under way when the pause landed, recorded in the same millisecond.
      line(R1, 'branch-call', { id: 22, branchId: 'b', op: 'confirm', outcome: 'unknown', attempt: 3, message: 'HTTP 503' }),
      line(R1, 'branch-call', { id: 23, branchId: 'a', op: 'confirm', outcome: 'ongoing', attempt: 3, message: 'HTTP 425' }),
      line(R1, 'attention', { id: 24, message: 'phase two still incomplete after 5 failed rounds' }),
    ];
    const history = assembleHistory(running, rows);
    expect(history.map((e) => e.id)).toEqual([0, 0, 0, 0, 21, 22, 23, 24]);
    expect(history.slice(4)).toEqual(rows);
  });

  it('a row logged earlier in time than an assembled line goes before it', () => {
    // An ongoing first call (a row), then the success of the second (assembled).
    const done = snapshot(txn({ status: 'committed', decidedAt: T + 100, decidedBy: 'shop', finishedAt: R2, nextRetryAt: null }), [
      branch('a', { status: 'committed', completion: { at: R2, op: 'confirm', attempt: 2, httpStatus: 200 } }),
    ]);
    const rows = [line(R1, 'branch-call', { id: 5, branchId: 'a', op: 'confirm', outcome: 'ongoing', attempt: 1, message: 'HTTP 425' })];
    expect(assembleHistory(done, rows).map((e) => [e.id, e.kind, e.at])).toEqual([
      [0, 'begin', T],
      [0, 'register', T],
      [0, 'status', T + 100],
      [5, 'branch-call', R1],
      [0, 'branch-call', R2],
      [0, 'status', R2],
    ]);
  });
});

describe('assembleHistory: no duplicates where rows hold the same lines', () => {
  const F = T + 9_000;
  /** Every line the log wrote before the hot path stopped writing them. */
  const allRows = [
    line(T, 'begin', { id: 1, toStatus: 'open', message: DEADLINE_LINE, actor: 'shop' }),
    line(T, 'register', { id: 2, branchId: 'a', message: registered('a'), actor: 'shop' }),
    line(T, 'register', { id: 3, branchId: 'b', message: registered('b'), actor: 'shop' }),
    line(T + 100, 'status', { id: 4, fromStatus: 'open', toStatus: 'committing', message: 'pay', actor: 'shop' }),
    line(T + 200, 'branch-call', { id: 5, branchId: 'a', op: 'confirm', outcome: 'success', attempt: 1, message: 'HTTP 200' }),
    line(T + 200, 'branch-call', { id: 6, branchId: 'b', op: 'confirm', outcome: 'success', attempt: 1, message: 'HTTP 200' }),
    line(T + 200, 'status', { id: 7, fromStatus: 'committing', toStatus: 'committed' }),
  ];

  it('a transaction logged before the columns existed: every line is a row, nothing is added', () => {
    const old = snapshot(txn({ status: 'committed', reason: 'pay', decidedAt: null, decidedBy: null, finishedAt: T + 200, nextRetryAt: null }), [
      branch('a', { status: 'committed', registeredBy: null }),
      branch('b', { status: 'committed', registeredBy: null }),
    ]);
    expect(assembleHistory(old, allRows)).toEqual(allRows);
  });

  it('nothing is added either when the columns hold the same lines as the rows', () => {
    const both = snapshot(txn({ status: 'committed', reason: 'pay', decidedAt: T + 100, decidedBy: 'shop', finishedAt: T + 200, nextRetryAt: null }), [
      branch('a', { status: 'committed', completion: { at: T + 200, op: 'confirm', attempt: 1, httpStatus: 200 } }),
      branch('b', { status: 'committed', completion: { at: T + 200, op: 'confirm', attempt: 1, httpStatus: 200 } }),
    ]);
    expect(assembleHistory(both, allRows)).toEqual(allRows);
  });

  it('begun with a branch before the upgrade (rows); another registered, decided and finished after (columns): each line once', () => {
    const straddling = snapshot(txn({ status: 'committed', reason: 'pay', decidedAt: T + 100, decidedBy: 'shop', finishedAt: T + 200, nextRetryAt: null }), [
      branch('a', { status: 'committed', registeredBy: null, completion: { at: T + 200, op: 'confirm', attempt: 1, httpStatus: 200 } }),
      branch('b', { status: 'committed', createdAt: T + 50, registeredBy: 'bank', completion: { at: T + 200, op: 'confirm', attempt: 1, httpStatus: 200 } }),
    ]);
    const history = assembleHistory(straddling, allRows.slice(0, 2));
    expect(history.map((e) => [e.id, e.kind, e.branchId, e.toStatus])).toEqual([
      [1, 'begin', null, 'open'],
      [2, 'register', 'a', null],
      [0, 'register', 'b', null],
      [0, 'status', null, 'committing'],
      [0, 'branch-call', 'a', null],
      [0, 'branch-call', 'b', null],
      [0, 'status', null, 'committed'],
    ]);
  });

  it("an operator's status row to a terminal status stands for the finish (resolving the last branch by hand)", () => {
    const resolved = snapshot(txn({ status: 'committed', reason: 'pay', decidedAt: T + 100, decidedBy: 'shop', finishedAt: F, nextRetryAt: null }), [
      branch('a', { status: 'committed', completion: { at: T + 200, op: 'confirm', attempt: 1, httpStatus: 200 } }),
      // Marked done by hand: no completing call.
      branch('b', { status: 'committed', attempts: 9, completion: null }),
    ]);
    const rows = [
      line(F, 'operator', {
        id: 40,
        branchId: 'b',
        message: 'resolve-branch: branch b marked confirmed by hand; transaction confirmed. Reason: fixed',
        actor: 'ops',
      }),
      line(F, 'status', { id: 41, fromStatus: 'committing', toStatus: 'committed', message: 'fixed', actor: 'ops' }),
    ];
    const history = assembleHistory(resolved, rows);
    expect(history).toEqual([
      line(T, 'begin', { toStatus: 'open', message: DEADLINE_LINE, actor: 'shop' }),
      line(T, 'register', { branchId: 'a', message: registered('a'), actor: 'shop' }),
      line(T, 'register', { branchId: 'b', message: registered('b'), actor: 'shop' }),
      line(T + 100, 'status', { fromStatus: 'open', toStatus: 'committing', message: 'pay', actor: 'shop' }),
      line(T + 200, 'branch-call', { branchId: 'a', op: 'confirm', outcome: 'success', attempt: 1, message: 'HTTP 200' }),
      rows[0],
      rows[1],
    ]);
  });

  it('an open transaction closed by an operator: its status row is both decision and finish', () => {
    const closed = snapshot(txn({ status: 'rolled-back', decidedAt: null, finishedAt: F, nextRetryAt: null }), [branch('a')]);
    const rows = [
      line(F, 'operator', {
        id: 50,
        message: 'close: closed as cancelled by an operator without calling participants; branches never cancelled: a. Reason: gone',
        actor: 'ops',
      }),
      line(F, 'status', { id: 51, fromStatus: 'open', toStatus: 'rolled-back', message: 'gone', actor: 'ops' }),
    ];
    expect(assembleHistory(closed, rows)).toEqual([
      line(T, 'begin', { toStatus: 'open', message: DEADLINE_LINE, actor: 'shop' }),
      line(T, 'register', { branchId: 'a', message: registered('a'), actor: 'shop' }),
      rows[0],
      rows[1],
    ]);
  });

  it('a row of a terminal status counts as the finish: the calls assembled for its millisecond go before it', () => {
    const both = snapshot(txn({ status: 'committed', reason: 'pay', decidedAt: T + 100, decidedBy: 'shop', finishedAt: T + 200, nextRetryAt: null }), [
      branch('a', { status: 'committed', completion: { at: T + 200, op: 'confirm', attempt: 1, httpStatus: 200 } }),
      branch('b', { status: 'committed', completion: { at: T + 200, op: 'confirm', attempt: 1, httpStatus: 200 } }),
    ]);
    const finish = allRows[6]!;
    expect(assembleHistory(both, [finish]).map((e) => [e.id, e.kind, e.branchId])).toEqual([
      [0, 'begin', null],
      [0, 'register', 'a'],
      [0, 'register', 'b'],
      [0, 'status', null],
      [0, 'branch-call', 'a'],
      [0, 'branch-call', 'b'],
      [7, 'status', null],
    ]);
  });

  it('a failed call of a branch does not stand for its success (only a success row of the same operation does)', () => {
    const done = snapshot(txn({ status: 'committed', decidedAt: T + 100, decidedBy: 'shop', finishedAt: R2, nextRetryAt: null }), [
      branch('a', { status: 'committed', completion: { at: R2, op: 'confirm', attempt: 2, httpStatus: 200 } }),
    ]);
    const rows = [line(R1, 'branch-call', { id: 8, branchId: 'a', op: 'confirm', outcome: 'unknown', attempt: 1, message: 'HTTP 500' })];
    const calls = assembleHistory(done, rows).filter((e) => e.kind === 'branch-call');
    expect(calls.map((e) => [e.id, e.outcome, e.attempt])).toEqual([
      [8, 'unknown', 1],
      [0, 'success', 2],
    ]);
  });
});

describe('calls of one round keep the order the round made them in', () => {
  const decided = { status: 'committing' as const, decidedAt: T, decidedBy: 'shop' };
  const success = (at: number) => ({ at, op: 'confirm' as const, attempt: 1, httpStatus: 200 });
  const failed = (id: number, branchId: string) =>
    line(R1, 'branch-call', { id, branchId, op: 'confirm', outcome: 'unknown', attempt: 1, message: 'HTTP 503' });

  it.each([
    ['the first branch failed, the second succeeded', ['a', 'b'], 'a'],
    ['the first branch succeeded, the second failed', ['a', 'b'], 'b'],
  ])('%s: the lines follow the branches', (_case, order, failing) => {
    const branches = order.map((id) => branch(id, id === failing ? { attempts: 1 } : { status: 'committed', attempts: 1, completion: success(R1) }));
    const history = assembleHistory({ transaction: txn(decided), branches }, [failed(7, failing)]);
    const calls = history.filter((e) => e.kind === 'branch-call').map((e) => `${e.branchId} ${e.outcome}`);
    expect(calls).toEqual(order.map((id) => `${id} ${id === failing ? 'unknown' : 'success'}`));
  });
});

describe('a saga that turned back: the first decision from the row, the turn from its own row', () => {
  const REFUSED = 'step b: action refused (HTTP 409)';
  const R3 = T + 7_000;
  const R4 = T + 9_000;
  const saga = (overrides: Partial<GlobalTransaction>) =>
    txn({ mode: 'saga', reason: REFUSED, decidedAt: T, decidedBy: 'shop', nextRetryAt: null, ...overrides });
  const step = (branchId: string, overrides: Partial<Branch> = {}) =>
    branch(branchId, {
      operations: { action: `http://bank.test/saga/${branchId}/action`, compensate: `http://bank.test/saga/${branchId}/compensate` },
      ...overrides,
    });
  const stepRegistered = (branchId: string) => `action http://bank.test/saga/${branchId}/action compensate http://bank.test/saga/${branchId}/compensate`;
  /** a ← b ← c: a succeeded, b refused (compensated all the same), c never ran (skipped), then a compensated. */
  const steps = [
    step('a', { status: 'rolled-back', attempts: 2, completion: { at: R1, op: 'action', attempt: 1, httpStatus: 200 } }),
    step('b', { status: 'rolled-back', attempts: 2, completion: { at: R3, op: 'compensate', attempt: 2, httpStatus: 200 } }),
    step('c', { status: 'rolled-back' }),
  ];
  const turn = line(R2, 'status', { id: 2, fromStatus: 'committing', toStatus: 'rolling-back', message: REFUSED, actor: 'coordinator' });
  const rows = [
    line(R2, 'branch-call', { id: 1, branchId: 'b', op: 'action', outcome: 'failure', attempt: 1, message: 'HTTP 409' }),
    turn,
    line(R3, 'branch-call', { id: 3, branchId: 'c', op: 'compensate', outcome: 'skipped', message: 'nothing to do: the branch never ran' }),
    line(R4, 'branch-call', { id: 4, branchId: 'a', op: 'compensate', outcome: 'success', attempt: 2, message: 'HTTP 200' }),
  ];

  it('decided open → running (not compensating) with no message, then the turn with its reason, then the compensations and the finish', () => {
    const history = assembleHistory(snapshot(saga({ status: 'rolled-back', finishedAt: R4 }), steps), rows);
    expect(history).toEqual([
      line(T, 'begin', { toStatus: 'open', message: DEADLINE_LINE, actor: 'shop' }),
      line(T, 'register', { branchId: 'a', message: stepRegistered('a'), actor: 'shop' }),
      line(T, 'register', { branchId: 'b', message: stepRegistered('b'), actor: 'shop' }),
      line(T, 'register', { branchId: 'c', message: stepRegistered('c'), actor: 'shop' }),
      line(T, 'status', { fromStatus: 'open', toStatus: 'committing', message: null, actor: 'shop' }),
      line(R1, 'branch-call', { branchId: 'a', op: 'action', outcome: 'success', attempt: 1, message: 'HTTP 200' }),
      rows[0],
      turn,
      line(R3, 'branch-call', { branchId: 'b', op: 'compensate', outcome: 'success', attempt: 2, message: 'HTTP 200' }),
      rows[2],
      rows[3],
      line(R4, 'status', { fromStatus: 'rolling-back', toStatus: 'rolled-back' }),
    ]);
  });

  it('still compensating: the decision line still goes to running, and there is no finish', () => {
    const compensating = snapshot(saga({ status: 'rolling-back' }), [steps[0]!, step('b', { attempts: 1 }), step('c')]);
    const history = assembleHistory(compensating, rows.slice(0, 2));
    const statuses = history.filter((e) => e.kind === 'status').map((e) => [e.id, e.fromStatus, e.toStatus, e.message, e.actor]);
    expect(statuses).toEqual([
      [0, 'open', 'committing', null, 'shop'],
      [2, 'committing', 'rolling-back', REFUSED, 'coordinator'],
    ]);
  });

  it('turned back by an abort (a decision row by the caller): the same decision line, the abort as its row', () => {
    const abort = line(R2, 'status', { id: 5, fromStatus: 'committing', toStatus: 'rolling-back', message: 'customer cancelled', actor: 'shop' });
    const history = assembleHistory(snapshot(saga({ status: 'rolling-back', reason: 'customer cancelled' }), [steps[0]!, step('b'), step('c')]), [abort]);
    expect(history.filter((e) => e.kind === 'status')).toEqual([
      line(T, 'status', { fromStatus: 'open', toStatus: 'committing', message: null, actor: 'shop' }),
      abort,
    ]);
  });

  it('without a turn, the decision line carries the reason on the row (the submit’s)', () => {
    const running = snapshot(saga({ status: 'committing', reason: 'checkout' }), [steps[0]!, step('b'), step('c')]);
    expect(assembleHistory(running, []).filter((e) => e.kind === 'status')).toEqual([
      line(T, 'status', { fromStatus: 'open', toStatus: 'committing', message: 'checkout', actor: 'shop' }),
    ]);
  });
});
