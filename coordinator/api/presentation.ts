/**
 * How the API shows the log: every status, branch status and operation in
 * the words of the transaction's mode (a TCC transaction is `confirmed`, its
 * branch has a `confirmUrl`), ISO times, parsed payloads, and participants'
 * reply bodies only to readers allowed to see them. The engine below works
 * with the model's mode-neutral names; this is the one place that turns
 * them into what users read, and back (filters).
 */
import { BRANCH_OPS, describeXid, xidOf } from '@dtx/protocol';
import {
  OPEN_STATUSES,
  TERMINAL_STATUSES,
  type BranchRegistration,
  type GlobalStatus,
  type GlobalTransaction,
  type Mode,
  type Operations,
  type TransactionEvent,
  type TransactionSnapshot,
} from '../domain/transaction.ts';
import { ALL_RULES, statusesNamed, wordsFor } from '../modes/registry.ts';
import type { StatusCount, Stats } from '../store/ports/admin-store.ts';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** The wire form of a branch's operations: one `<operation>Url` field each (TCC: confirmUrl, cancelUrl). */
function operationsOfBody(body: Record<string, unknown>): Operations {
  const operations: Operations = {};
  for (const op of BRANCH_OPS) {
    const url = body[`${op}Url`];
    if (typeof url === 'string') operations[op] = url;
  }
  return operations;
}

function urlFields(operations: Operations): Record<string, string> {
  return Object.fromEntries(Object.entries(operations).map(([op, url]) => [`${op}Url`, url]));
}

/**
 * A participant's reply as recorded (`HTTP 409: <body excerpt>`), or only its
 * status line when the reader may not see participants' reply bodies. Errors
 * of the coordinator's own making (timeouts, refused connections) are kept.
 */
function replyForReader(text: string | null, replyBodies: boolean): string | null {
  if (text === null || replyBodies) return text;
  const status = /^HTTP \d{3}(?=: )/.exec(text);
  return status ? status[0] : text;
}

/** One line of a transaction's list: its columns, status in its mode's words. */
export function presentSummary(t: GlobalTransaction) {
  return {
    gid: t.gid,
    mode: t.mode,
    status: wordsFor(t.mode).status[t.status],
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

/** The JSON shape of one transaction for callers and operators; participants' reply bodies only when `replyBodies`. */
export function presentTransaction(snapshot: TransactionSnapshot, events: TransactionEvent[], options: { replyBodies: boolean }) {
  const t = snapshot.transaction;
  const words = wordsFor(t.mode);
  const status = (s: GlobalStatus | null) => (s === null ? null : words.status[s]);
  return {
    transaction: {
      ...t,
      status: words.status[t.status],
      createdAt: iso(t.createdAt),
      updatedAt: iso(t.updatedAt),
      deadlineAt: iso(t.deadlineAt),
      decidedAt: iso(t.decidedAt),
      finishedAt: iso(t.finishedAt),
      nextRetryAt: iso(t.nextRetryAt),
      leaseUntil: iso(t.leaseUntil),
      notBefore: iso(t.notBefore),
    },
    branches: snapshot.branches.map(({ completion, ...b }) => ({
      ...b,
      ...urlFields(b.operations),
      // What an operator finishes a branch left prepared with, in its participant's database.
      ...(snapshot.transaction.mode === 'xa' ? { xid: describeXid(xidOf(snapshot.transaction.gid, b.branchId)) } : {}),
      status: words.branchStatus[b.status],
      payload: JSON.parse(b.payload) as unknown,
      opPayloads: b.opPayloads && Object.fromEntries(Object.entries(b.opPayloads).map(([op, text]) => [op, JSON.parse(text) as unknown])),
      lastError: replyForReader(b.lastError, options.replyBodies),
      createdAt: iso(b.createdAt),
      updatedAt: iso(b.updatedAt),
      completedAt: iso(completion?.at ?? null),
    })),
    events: events.map((e) => ({
      ...e,
      fromStatus: status(e.fromStatus),
      toStatus: status(e.toStatus),
      at: iso(e.at),
      message: e.kind === 'branch-call' ? replyForReader(e.message, options.replyBodies) : e.message,
    })),
  };
}

/** A status word of a filter, as the model's status (and the mode, when only some modes use the word). */
export function statusFilter(word: string, mode: Mode | undefined): { status: GlobalStatus; mode?: Mode } | string {
  const named = statusesNamed(word).filter((pair) => mode === undefined || pair.mode === mode);
  const [first] = named;
  if (!first) return mode ? `a ${mode} transaction is never ${word}` : `no mode has a status ${word}`;
  if (named.some((pair) => pair.status !== first.status))
    return `status ${word} means different things in ${named.map((p) => p.mode).join(' and ')}: give the mode`;
  return named.length < ALL_RULES.length || mode ? { status: first.status, mode: mode ?? first.mode } : { status: first.status };
}

/** Counts by the words users see: every word of every mode present (0 when none). */
function byWord(counts: readonly StatusCount[], statuses: readonly GlobalStatus[]): Record<string, number> {
  const words: Record<string, number> = {};
  for (const { words: modeWords } of ALL_RULES) for (const status of statuses) words[modeWords.status[status]] = 0;
  for (const { mode, status, count } of counts) {
    const word = wordsFor(mode).status[status];
    words[word] = (words[word] ?? 0) + count;
  }
  return words;
}

export function presentStats(stats: Stats) {
  return {
    ...stats,
    open: byWord(stats.open, OPEN_STATUSES),
    finishedLastHour: byWord(stats.finishedLastHour, TERMINAL_STATUSES),
    oldestOpenCreatedAt: iso(stats.oldestOpenCreatedAt),
  };
}

/** A registration from its wire form. */
export function registrationOf(body: { branchId: string } & Record<string, unknown>, payload: string): BranchRegistration {
  return { branchId: body.branchId, operations: operationsOfBody(body), payload };
}
