/**
 * A transaction's history, as the API and the console show it: the event
 * rows the log wrote (failed and ongoing calls, flags, operator actions)
 * merged with the lines of the happy path, which the log does not write as
 * rows but reads from the transaction's and branches' own columns (begun,
 * registered, decided, each branch's completing call, finished). Saves the
 * hot path an insert per step; the history reads the same.
 *
 * A line already present as a row (transactions logged before the columns
 * existed, a status an operator set) is not assembled again.
 */
import { blankEvent, clip, isPhaseTwo, isTerminal, PHASE_TWO_OF, type TransactionEvent, type TransactionSnapshot } from './transaction.ts';

/** Where an assembled line goes among rows of the same millisecond. */
const RANK: Record<TransactionEvent['kind'], number> = { begin: 0, register: 1, status: 2, 'branch-call': 3, attention: 4, operator: 5 };
const FINISH_RANK = 6;

interface Placed {
  event: TransactionEvent;
  rank: number;
  /** Among calls of one round (same time, same rank): the branch's position, the order the round called them in. */
  order: number;
}

export function assembleHistory(snapshot: TransactionSnapshot, logged: readonly TransactionEvent[]): TransactionEvent[] {
  const position = new Map(snapshot.branches.map((branch, index) => [branch.branchId, index]));
  const orderOf = (event: TransactionEvent) => (event.kind === 'branch-call' && event.branchId !== null ? (position.get(event.branchId) ?? 0) : 0);
  const assembled = happyPath(snapshot, logged, orderOf).sort((a, b) => a.event.at - b.event.at || a.rank - b.rank || a.order - b.order);
  // Merge, keeping the rows in their logged order: an assembled line goes
  // before the first row that is later, or as late with a higher rank.
  const history: TransactionEvent[] = [];
  let next = 0;
  for (const row of logged) {
    const rank = row.kind === 'status' && row.toStatus !== null && isTerminal(row.toStatus) ? FINISH_RANK : RANK[row.kind];
    while (next < assembled.length && precedes(assembled[next]!, row.at, rank, orderOf(row))) history.push(assembled[next++]!.event);
    history.push(row);
  }
  while (next < assembled.length) history.push(assembled[next++]!.event);
  return history;
}

function precedes(line: Placed, at: number, rank: number, order: number): boolean {
  if (line.event.at !== at) return line.event.at < at;
  return line.rank !== rank ? line.rank < rank : line.order <= order;
}

function happyPath(snapshot: TransactionSnapshot, logged: readonly TransactionEvent[], orderOf: (event: TransactionEvent) => number): Placed[] {
  const { transaction: t, branches } = snapshot;
  const line = (event: Omit<TransactionEvent, 'id'>, rank: number): Placed => {
    const placed = { id: 0, ...event };
    return { event: placed, rank, order: orderOf(placed) };
  };
  const lines: Placed[] = [];
  const logs = loggedLines(logged);

  if (!logs.has('begin')) {
    lines.push(
      line(
        { ...blankEvent(t.gid, t.createdAt, 'begin'), toStatus: 'open', message: `deadline ${new Date(t.deadlineAt).toISOString()}`, actor: t.caller },
        RANK.begin,
      ),
    );
  }
  for (const b of branches) {
    if (logs.has(`register ${b.branchId}`)) continue;
    const message = Object.entries(b.operations)
      .map(([op, url]) => `${op} ${url}`)
      .join(' ');
    lines.push(
      line({ ...blankEvent(t.gid, b.createdAt, 'register'), branchId: b.branchId, message: clip(message, 1024), actor: b.registeredBy }, RANK.register),
    );
  }
  if (t.decidedAt !== null && t.status !== 'open' && !logs.has('decision')) {
    // The row keeps the first decision; a later one (a saga turning back) is a row of its own, leaving the status the first went to
    // (the reason column then holds the later decision's reason, which its row shows).
    const turn = logged.find((e) => e.kind === 'status' && e.fromStatus !== null && isPhaseTwo(e.fromStatus) && e.toStatus !== null && isPhaseTwo(e.toStatus));
    const to = turn?.fromStatus ?? (isTerminal(t.status) ? PHASE_TWO_OF[t.status] : t.status);
    lines.push(
      line({ ...blankEvent(t.gid, t.decidedAt, 'status'), fromStatus: 'open', toStatus: to, message: turn ? null : t.reason, actor: t.decidedBy }, RANK.status),
    );
  }
  for (const b of branches) {
    const done = b.completion;
    if (!done || logs.has(`success ${done.op} ${b.branchId}`)) continue;
    lines.push(
      line(
        {
          ...blankEvent(t.gid, done.at, 'branch-call'),
          branchId: b.branchId,
          op: done.op,
          outcome: 'success',
          attempt: done.attempt,
          message: done.httpStatus === null ? null : `HTTP ${done.httpStatus}`,
        },
        RANK['branch-call'],
      ),
    );
  }
  if (isTerminal(t.status) && t.finishedAt !== null && !logs.has(`finish ${t.status}`)) {
    lines.push(line({ ...blankEvent(t.gid, t.finishedAt, 'status'), fromStatus: PHASE_TWO_OF[t.status], toStatus: t.status }, FINISH_RANK));
  }
  return lines;
}

/** The happy-path lines the rows already hold, as keys (one pass, whatever the history's length). */
function loggedLines(logged: readonly TransactionEvent[]): Set<string> {
  const keys = new Set<string>();
  for (const e of logged) {
    if (e.kind === 'begin') keys.add('begin');
    else if (e.kind === 'register') keys.add(`register ${e.branchId}`);
    else if (e.kind === 'status' && e.fromStatus === 'open') keys.add('decision');
    else if (e.kind === 'branch-call' && e.outcome === 'success') keys.add(`success ${e.op} ${e.branchId}`);
    if (e.kind === 'status' && e.toStatus !== null) keys.add(`finish ${e.toStatus}`);
  }
  return keys;
}
