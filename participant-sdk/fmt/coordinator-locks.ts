/**
 * The coordinator's global row locks, as an FMT participant reaches them
 * (the GlobalLocks the imaging session is given):
 * - BranchLocks, for a branch's execute: takes the rows' locks for the
 *   branch with a request signed with the participant's coordinator key
 *   (protocol row-locks.ts); a row another global transaction holds is asked
 *   for again until `waitMs` has passed, then FmtLockConflictError (the
 *   execute passes 0 and runs its whole local transaction again instead,
 *   fmt-branch.ts, so that its own row locks are not held while it waits).
 *   A locking read takes the locks too: waiting until a row is free and then
 *   holding it is what keeps a read-then-write from losing an update to
 *   another global transaction.
 * - HeldLocks, for local work outside any global transaction
 *   (Participant.withGlobalLock): asks who holds the rows, with the
 *   participant's API token, until none does or `waitMs` has passed.
 */
import { request, type Dispatcher } from 'undici';
import { HEADERS, signRowLockRequest, withDeadline } from '@dtx/protocol';
import { BranchRejectedError } from '../errors.ts';
import { FmtLockConflictError } from './errors.ts';
import type { GlobalLocks, RowKey } from './global-locks.ts';

/** How long to wait for rows held by others, and how to reach the coordinator. */
export interface LockWaitOptions {
  /** The coordinator's base URL. */
  coordinatorUrl: string;
  /** How long a request may wait for rows another global transaction holds before giving up. */
  waitMs: number;
  /** Bound of one HTTP request to the coordinator. */
  requestTimeoutMs: number;
  now: () => number;
  dispatcher?: Dispatcher;
}

/** First pause between two asks for a held row; doubles up to MAX_PAUSE_MS. */
const FIRST_PAUSE_MS = 10;
const MAX_PAUSE_MS = 100;

interface Holder {
  resource: string;
  table: string;
  pk: (string | number | null)[];
  gid: string;
}

/** One answer of the coordinator: done, or held by `holder`. */
type Ask = { kind: 'free' } | { kind: 'held'; holder: Holder };

/** Asks until free or `waitMs` passed; then the conflict. */
async function untilFree(options: LockWaitOptions, ask: () => Promise<Ask>): Promise<void> {
  const until = options.now() + options.waitMs;
  for (let pause = FIRST_PAUSE_MS; ; pause = Math.min(pause * 2, MAX_PAUSE_MS)) {
    const answer = await ask();
    if (answer.kind === 'free') return;
    const left = until - options.now();
    if (left <= 0) {
      const { holder } = answer;
      throw new FmtLockConflictError(holder.gid, { resource: holder.resource, table: holder.table, pk: holder.pk });
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(pause, left)));
  }
}

async function post(options: LockWaitOptions, path: string, headers: Record<string, string>, body: string): Promise<{ status: number; json: unknown }> {
  const url = `${options.coordinatorUrl.replace(/\/+$/, '')}${path}`;
  return withDeadline(options.requestTimeoutMs, async (signal) => {
    const response = await request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
      signal,
      dispatcher: options.dispatcher,
    });
    const text = await response.body.text();
    let json: unknown = null;
    try {
      json = JSON.parse(text);
    } catch {
      // not JSON: the status says enough
    }
    return { status: response.statusCode, json };
  });
}

/** A refusal of the coordinator other than a held row: the execute is refused with it (409), and the initiator aborts. */
function refused(status: number, json: unknown): never {
  const reply = (json ?? {}) as { code?: string; message?: string };
  if (status >= 400 && status < 500) {
    throw new BranchRejectedError(`the coordinator refused the row locks: ${reply.message ?? `HTTP ${status}`}`, { code: reply.code ?? 'LOCKS_REFUSED' });
  }
  // An unknown outcome (5xx): the execute fails with an error, answered 500.
  throw new Error(`the coordinator answered HTTP ${status} to a row lock request`);
}

/** A branch's locks: taken for it, signed with the participant's coordinator key (null: development, unsigned). */
export class BranchLocks implements GlobalLocks {
  constructor(private readonly options: LockWaitOptions & { gid: string; branchId: string; key: string | null }) {}

  acquire(keys: RowKey[]): Promise<void> {
    const { gid, branchId, key } = this.options;
    const path = `/v1/transactions/${encodeURIComponent(gid)}/branches/${encodeURIComponent(branchId)}/locks`;
    const body = JSON.stringify({ keys });
    return untilFree(this.options, async () => {
      const timestamp = this.options.now();
      const headers: Record<string, string> = { [HEADERS.timestamp]: String(timestamp) };
      if (key !== null) headers[HEADERS.signature] = signRowLockRequest(key, { gid, branchId, timestamp, body });
      const { status, json } = await post(this.options, path, headers, body);
      if (status === 200) return { kind: 'free' };
      const reply = json as { code?: string; holder?: Holder } | null;
      if (status === 409 && reply?.code === 'LOCK_CONFLICT' && reply.holder) return { kind: 'held', holder: reply.holder };
      return refused(status, json);
    });
  }

  /** Inside a branch, waiting for a row is taking it: see the module comment. */
  waitFree(keys: RowKey[]): Promise<void> {
    return this.acquire(keys);
  }
}

/** Local work's view of the locks: waits until no global transaction holds the rows; never takes one. */
export class HeldLocks implements GlobalLocks {
  constructor(private readonly options: LockWaitOptions & { apiToken: string | null }) {}

  acquire(): Promise<void> {
    return Promise.reject(new Error('local work outside a global transaction takes no global lock'));
  }

  waitFree(keys: RowKey[]): Promise<void> {
    const body = JSON.stringify({ keys });
    const headers: Record<string, string> = this.options.apiToken === null ? {} : { authorization: `Bearer ${this.options.apiToken}` };
    return untilFree(this.options, async () => {
      const { status, json } = await post(this.options, '/v1/row-locks/held', headers, body);
      if (status !== 200) return refused(status, json);
      const [holder] = (json as { held: Holder[] }).held;
      return holder ? { kind: 'held', holder } : { kind: 'free' };
    });
  }
}
