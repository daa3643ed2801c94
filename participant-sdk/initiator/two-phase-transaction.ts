/**
 * The initiator's side of a transaction whose first phase it runs itself
 * (TCC's tries, XA's prepares, FMT's executes): register a branch with the coordinator, then
 * call its first op. Registration always comes first, so the coordinator can
 * roll back a branch whose first op ran even if the initiator dies right
 * after. TccTransaction and XaTransaction name the calls in their mode's words.
 */
import type { Dispatcher } from 'undici';
import { request } from 'undici';
import { isValidBranchId, outcomeOfStatus, callHeaders, withDeadline } from '@dtx/protocol';
import { DtxError } from '../errors.ts';
import type { CoordinatorClient } from './coordinator-client.ts';
import { resolveTarget, type BranchTarget, type FmtBranchTarget, type ResolvedBranch, type TwoPhaseOps, type XaBranchTarget } from './branch-target.ts';
import { TryFailedError, TryRejectedError } from './errors.ts';

/** What a {@link TccTransaction} or XaTransaction is built with; DtxClient builds it, users do not. */
export interface TwoPhaseTransactionOptions {
  gid: string;
  /** The mode's ops. */
  ops: TwoPhaseOps;
  coordinator: CoordinatorClient;
  coordinatorUrl: string;
  dispatcher: Dispatcher;
  /** The key to sign the first-phase call sent to `url` with; null sends it unsigned. */
  keyFor: (url: string) => string | null;
  tryTimeoutMs: number;
  timeoutMs: number | undefined;
  /** Other callers that may register branches into it (a participant's try that joins it); sent with the begin. */
  joinableBy: readonly string[] | undefined;
  /** Prefix of generated branch ids (a joined transaction uses the parent branch id). */
  branchPrefix: string;
  /** True when the transaction already exists on the coordinator (joined, not begun here). */
  begun: boolean;
  now: () => number;
}

/** What the coordinator answers a registration (or a begin carrying one) with. */
interface Registered {
  caller: string | null;
  proofs?: Record<string, string>;
}

/** The calls both modes share; see the module comment. */
export abstract class TwoPhaseTransaction {
  /** The transaction's id. */
  readonly gid: string;
  #begun: boolean;
  /**
   * This service's caller name as the coordinator authenticated it (its answer to the begin or a
   * registration), sent as `dtx-caller` with every first-phase call: the participant picks the key
   * that verifies it by that name. Null until the coordinator answered, or when it knows no name
   * (a coordinator in development mode without tokens).
   */
  #caller: string | null = null;
  /**
   * The coordinator's registration proof of each branch registered here, by branch id: sent with
   * the branch's first-phase call, so that the participant runs it only for a branch the
   * coordinator knows (and will confirm or cancel), and only for this caller.
   */
  readonly #proofs = new Map<string, string>();
  #nextBranch = 1;
  #beginning: Promise<Registered> | null = null;

  /** @param options - built by DtxClient; not meant to be called directly */
  constructor(private readonly options: TwoPhaseTransactionOptions) {
    this.gid = options.gid;
    this.#begun = options.begun;
  }

  /** The transaction's mode. */
  get mode(): TwoPhaseOps['mode'] {
    return this.options.ops.mode;
  }

  /** Whether the coordinator knows this transaction yet (the begin travels with the first registration). */
  get begun(): boolean {
    return this.#begun;
  }

  /**
   * Register `targets` in one coordinator call (the begin folded into the
   * first), then call their first ops concurrently; the results in order,
   * or the first failure once all settled.
   */
  protected async callAll<R extends unknown[]>(targets: (BranchTarget | XaBranchTarget | FmtBranchTarget)[]): Promise<R> {
    const branches = targets.map((target) => resolveTarget(target, target.branchId ?? this.#generateBranchId(), this.options.ops));
    for (const branch of branches) {
      if (!isValidBranchId(branch.branchId)) {
        throw new DtxError('INVALID_BRANCH_ID', `branch id ${JSON.stringify(branch.branchId)} must be 1-64 characters of [A-Za-z0-9_.-]`);
      }
    }
    await this.#register(branches);
    const settled = await Promise.allSettled(branches.map((branch) => this.#callFirst(branch)));
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
    const { ops } = this.options;
    const registrations = branches.map(({ branchId, commitUrl, rollbackUrl, payload }) => ({
      branchId,
      [`${ops.commit}Url`]: commitUrl,
      [`${ops.rollback}Url`]: rollbackUrl,
      payload,
    }));
    // Concurrent first calls must not both begin: the second waits for the first.
    if (this.#beginning) await this.#beginning.catch(() => undefined);
    if (!this.#begun) {
      this.#beginning = this.options.coordinator.begin({
        gid: this.gid,
        mode: ops.mode,
        timeoutMs: this.options.timeoutMs,
        branches: registrations,
        ...(this.options.joinableBy ? { joinableBy: [...this.options.joinableBy] } : {}),
      });
      this.#remember(await this.#beginning);
      this.#begun = true;
      return;
    }
    if (registrations.length > 0) this.#remember(await this.options.coordinator.register(this.gid, registrations, ops.mode));
  }

  #remember(reply: Registered): void {
    this.#caller = reply.caller;
    for (const [branchId, proof] of Object.entries(reply.proofs ?? {})) this.#proofs.set(branchId, proof);
  }

  async #callFirst(branch: ResolvedBranch): Promise<unknown> {
    const { first } = this.options.ops;
    const body = JSON.stringify(branch.payload);
    const headers = callHeaders(this.options.keyFor(branch.firstUrl), {
      url: branch.firstUrl,
      gid: this.gid,
      branchId: branch.branchId,
      op: first,
      body,
      timestamp: this.options.now(),
      coordinator: this.options.coordinatorUrl,
      ...(this.#caller === null ? {} : { caller: this.#caller }),
      ...(this.#proofs.has(branch.branchId) ? { registration: this.#proofs.get(branch.branchId) } : {}),
    });
    let statusCode: number;
    let text: string;
    try {
      ({ statusCode, text } = await withDeadline(this.options.tryTimeoutMs, async (signal) => {
        const response = await request(branch.firstUrl, { method: 'POST', headers, body, dispatcher: this.options.dispatcher, signal });
        return { statusCode: response.statusCode, text: await response.body.text() };
      }));
    } catch (error) {
      throw new TryFailedError(this.gid, branch.branchId, null, error instanceof Error ? error.message : String(error), { cause: error, op: first });
    }
    const outcome = outcomeOfStatus(statusCode);
    if (outcome === 'success') return parseResult(text);
    if (outcome === 'failure') {
      const reply = parseErrorReply(text);
      throw new TryRejectedError(this.gid, branch.branchId, reply.code, reply.message, first);
    }
    throw new TryFailedError(this.gid, branch.branchId, statusCode, `HTTP ${statusCode}: ${text.slice(0, 300)}`, { op: first });
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
