/**
 * One global TCC transaction as the initiator's code sees it: register a
 * branch with the coordinator, then call its try. Registration always comes
 * first, so the coordinator can cancel a branch whose try ran even
 * if the initiator dies right after.
 */
import type { Dispatcher } from 'undici';
import { request } from 'undici';
import { isValidBranchId, outcomeOfStatus, callHeaders, withDeadline } from '@dtx/protocol';
import { DtxError } from '../errors.ts';
import type { CoordinatorClient } from './coordinator-client.ts';
import { resolveTarget, type BranchTarget, type ResolvedBranch } from './branch-target.ts';
import { TryFailedError, TryRejectedError } from './errors.ts';

/** What a {@link TccTransaction} is built with; DtxClient builds it, users do not. */
export interface TccTransactionOptions {
  gid: string;
  coordinator: CoordinatorClient;
  coordinatorUrl: string;
  dispatcher: Dispatcher;
  /** The key to sign the try sent to `url` with; null sends it unsigned. */
  keyFor: (url: string) => string | null;
  tryTimeoutMs: number;
  timeoutMs: number | undefined;
  /** Prefix of generated branch ids (a joined transaction uses the parent branch id). */
  branchPrefix: string;
  /** True when the transaction already exists on the coordinator (joined, not begun here). */
  begun: boolean;
  now: () => number;
}

/**
 * One global TCC transaction as the initiator's function sees it (the `tx`
 * of {@link DtxClient.tcc} and what {@link DtxClient.join} returns): the place
 * to add branches. Each branch is registered with the coordinator before its
 * try is called, so a branch whose try ran can always be cancelled.
 */
export class TccTransaction {
  /** The transaction's id. */
  readonly gid: string;
  #begun: boolean;
  #nextBranch = 1;
  #beginning: Promise<unknown> | null = null;

  /** @param options - built by DtxClient; not meant to be called directly */
  constructor(private readonly options: TccTransactionOptions) {
    this.gid = options.gid;
    this.#begun = options.begun;
  }

  /** Whether the coordinator knows this transaction yet (the begin travels with the first registration). */
  get begun(): boolean {
    return this.#begun;
  }

  /**
   * Register one branch, then call its try. Returns the try handler's result.
   * Throws TryRejectedError (409) or TryFailedError (anything else); the
   * enclosing `tcc()` then aborts the transaction.
   *
   * @typeParam R - the try handler's result type (not checked)
   * @param target - the resource's URL (or its three op URLs), the payload, optionally the branch id
   * @returns the try handler's result (`null` for a duplicate try)
   * @throws TryRejectedError when the participant refused (409); TryFailedError
   *   on any other answer, a timeout or a connection error; CoordinatorRefusedError /
   *   CoordinatorUnavailableError when the registration fails; DtxError
   *   `INVALID_BRANCH_ID` on a malformed branch id
   *
   * @example
   * ```ts
   * await dtx.tcc(async (tx) => {
   *   await tx.try({ url: 'http://bank-a:4001/dtx/debit', payload: { account: 'alice', amount: 30 } });
   *   await tx.try({ url: 'http://bank-b:4002/dtx/credit', payload: { account: 'bob', amount: 30 } });
   * });
   * ```
   */
  async try<R = unknown>(target: BranchTarget): Promise<R> {
    const [result] = await this.tryAll<[R]>([target]);
    return result;
  }

  /**
   * Register several branches in one coordinator call, then call their tries
   * concurrently. With the begin folded into the same call, a two-branch
   * transaction costs the coordinator three commits in all.
   *
   * @typeParam R - the tuple of the try handlers' results (not checked)
   * @param targets - the branches, as for {@link TccTransaction.try}
   * @returns the tries' results, in the order of `targets`
   * @throws the first try's failure (TryRejectedError, TryFailedError) once all
   *   tries settled; the registration's errors as for `try`
   */
  async tryAll<R extends unknown[] = unknown[]>(targets: BranchTarget[]): Promise<R> {
    const branches = targets.map((target) => resolveTarget(target, target.branchId ?? this.#generateBranchId()));
    for (const branch of branches) {
      if (!isValidBranchId(branch.branchId)) {
        throw new DtxError('INVALID_BRANCH_ID', `branch id ${JSON.stringify(branch.branchId)} must be 1-64 characters of [A-Za-z0-9_.-]`);
      }
    }
    await this.#register(branches);
    const settled = await Promise.allSettled(branches.map((branch) => this.#callTry(branch)));
    const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failure) throw failure.reason;
    return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value) as R;
  }

  /** Make sure the coordinator knows the transaction (used before submit when no branch was registered). */
  async ensureBegun(): Promise<void> {
    if (!this.#begun) await this.#register([]);
  }

  #generateBranchId(): string {
    const n = String(this.#nextBranch++).padStart(2, '0');
    return this.options.branchPrefix ? `${this.options.branchPrefix}-${n}` : n;
  }

  async #register(branches: ResolvedBranch[]): Promise<void> {
    const registrations = branches.map(({ branchId, confirmUrl, cancelUrl, payload }) => ({ branchId, confirmUrl, cancelUrl, payload }));
    // Concurrent first calls must not both begin: the second waits for the first.
    if (this.#beginning) await this.#beginning.catch(() => undefined);
    if (!this.#begun) {
      this.#beginning = this.options.coordinator.begin({ gid: this.gid, timeoutMs: this.options.timeoutMs, branches: registrations });
      await this.#beginning;
      this.#begun = true;
      return;
    }
    if (registrations.length > 0) await this.options.coordinator.register(this.gid, registrations);
  }

  async #callTry(branch: ResolvedBranch): Promise<unknown> {
    const body = JSON.stringify(branch.payload);
    const headers = callHeaders(this.options.keyFor(branch.tryUrl), {
      url: branch.tryUrl,
      gid: this.gid,
      branchId: branch.branchId,
      op: 'try',
      body,
      timestamp: this.options.now(),
      coordinator: this.options.coordinatorUrl,
    });
    let statusCode: number;
    let text: string;
    try {
      ({ statusCode, text } = await withDeadline(this.options.tryTimeoutMs, async (signal) => {
        const response = await request(branch.tryUrl, { method: 'POST', headers, body, dispatcher: this.options.dispatcher, signal });
        return { statusCode: response.statusCode, text: await response.body.text() };
      }));
    } catch (error) {
      throw new TryFailedError(this.gid, branch.branchId, null, error instanceof Error ? error.message : String(error), { cause: error });
    }
    const outcome = outcomeOfStatus(statusCode);
    if (outcome === 'success') return parseResult(text);
    if (outcome === 'failure') {
      const reply = parseErrorReply(text);
      throw new TryRejectedError(this.gid, branch.branchId, reply.code, reply.message);
    }
    throw new TryFailedError(this.gid, branch.branchId, statusCode, `HTTP ${statusCode}: ${text.slice(0, 300)}`);
  }
}

function parseResult(text: string): unknown {
  try {
    const parsed = JSON.parse(text) as { result?: unknown };
    return parsed.result ?? null;
  } catch {
    return null;
  }
}

function parseErrorReply(text: string): { code: string; message: string } {
  try {
    const parsed = JSON.parse(text) as { code?: string; message?: string };
    return { code: parsed.code ?? 'REJECTED', message: parsed.message ?? text };
  } catch {
    return { code: 'REJECTED', message: text.slice(0, 300) };
  }
}
