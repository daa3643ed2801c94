/**
 * The coordinator's operations on global transactions, as the API and the
 * recovery worker call them: begin, register, submit, abort, recover, read.
 * Each loads what it needs, asks the domain, performs one guarded write,
 * and hands phase two to the runner.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { v7 as uuidv7 } from 'uuid';
import { TransactionRefusedError } from '../domain/refusal.ts';
import {
  checkRegistration,
  decideAbort,
  decideRecovery,
  decideSubmit,
  DEADLINE_REASONS,
  distinctRegistrations,
  type DecisionStep,
} from '../domain/tcc-decisions.ts';
import {
  isTerminal,
  type BranchRegistration,
  type GlobalStatus,
  type Mode,
  type TransactionEvent,
  type TransactionSnapshot,
} from '../domain/transaction.ts';
import type { TransactionStore } from '../store/ports/transaction-store.ts';
import type { PhaseTwoRunner } from './phase-two-runner.ts';
import type { Clock } from './ports.ts';
import type { ParticipantPolicy } from '../security/participant-policy.ts';
import { noopTelemetry, type Telemetry } from './telemetry.ts';

/** Rounds of a registration whose guarded insert lost races to other registrations of the same branches. */
const REGISTRATION_ROUNDS = 3;

export interface TransactionServiceOptions {
  store: TransactionStore;
  runner: PhaseTwoRunner;
  clock: Clock;
  instanceId: string;
  leaseMs: number;
  logger: Logger;
  /** Metrics; nothing by default. */
  telemetry?: Telemetry;
  /** Which branch URLs may be registered. */
  participants: ParticipantPolicy;
}

export interface BeginRequest {
  gid?: string;
  /** The authenticated service beginning it (null: anonymous, development mode). */
  caller: string | null;
  mode: Mode;
  timeoutMs: number;
  branches: BranchRegistration[];
}

export interface BeginResult {
  gid: string;
  status: GlobalStatus;
  deadlineAt: number;
  /** False when the gid already existed (an idempotent re-send). */
  created: boolean;
}

export interface DecisionRequest {
  gid: string;
  reason: string | null;
  /** How long the caller waits for phase two before getting the current status. */
  waitMs: number;
  actor: string;
}

export interface TransactionView extends TransactionSnapshot {
  events: TransactionEvent[];
}

export class TransactionService {
  #leases = 0;
  /** Drawn once per service (per process start): see #newLease. */
  readonly #leaseNonce = randomBytes(6).toString('hex');
  constructor(private readonly options: TransactionServiceOptions) {}

  async begin(request: BeginRequest): Promise<BeginResult> {
    const { store, clock } = this.options;
    const gid = request.gid ?? uuidv7();
    this.#checkTargets(gid, request.branches);
    const branches = distinctRegistrations(gid, request.branches);
    const now = clock.now();
    const deadlineAt = now + request.timeoutMs;
    const outcome = await store.begin({ gid, mode: request.mode, now, deadlineAt, branches, caller: request.caller });
    if (outcome === 'created') {
      this.options.logger.debug({ gid, mode: request.mode, branches: branches.length }, 'transaction begun');
      (this.options.telemetry ?? noopTelemetry).onBegin({ mode: request.mode });
      return { gid, status: 'trying', deadlineAt, created: true };
    }
    // The gid exists: a re-sent begin is fine, as long as it asks for the same kind of transaction.
    const registered = await this.#register(gid, branches, request.caller, request.mode, (snapshot) => {
      if (snapshot.transaction.mode !== request.mode) {
        throw new TransactionRefusedError('GID_CONFLICT', `gid ${gid} is already used by a ${snapshot.transaction.mode} transaction`, gid);
      }
    });
    return { gid, status: registered.status, deadlineAt: registered.deadlineAt, created: false };
  }

  /** `caller`: the authenticated service registering them (null: anonymous, development mode). */
  async register(gid: string, branches: BranchRegistration[], caller: string | null): Promise<{ status: GlobalStatus; inserted: string[] }> {
    this.#checkTargets(gid, branches);
    const result = await this.#register(gid, branches, caller, undefined, () => undefined);
    return { status: result.status, inserted: result.inserted };
  }

  async submit(request: DecisionRequest): Promise<GlobalStatus> {
    try {
      return await this.#decide(request, 'confirming', (snapshot, now) => decideSubmit(snapshot.transaction, now), true);
    } catch (error) {
      if (error instanceof TransactionRefusedError && error.code === 'DEADLINE_PASSED') {
        // The deadline won: carry out the abort the sweep would, then tell the caller.
        await this.abort({ ...request, reason: DEADLINE_REASONS.lateSubmit, actor: 'coordinator' });
      }
      throw error;
    }
  }

  abort(request: DecisionRequest): Promise<GlobalStatus> {
    return this.#decide(request, 'cancelling', (snapshot) => decideAbort(snapshot.transaction), false);
  }

  /**
   * Recovery's entry point for a due transaction: take the lease, then abort
   * it if its deadline passed while trying, or run a phase-two round.
   * Returns null if the transaction was not due or another instance holds it.
   */
  async recover(gid: string): Promise<GlobalStatus | null> {
    const { store, clock, leaseMs, runner } = this.options;
    const now = clock.now();
    const lease = this.#newLease();
    const snapshot = await store.claim(gid, lease, now, now + leaseMs);
    if (!snapshot) return null;
    switch (decideRecovery(snapshot.transaction, now)) {
      case 'nothing':
        return snapshot.transaction.status;
      case 'run-phase-two':
        return runner.runRound(snapshot, { lease });
      case 'abort-timeout': {
        this.options.logger.warn({ gid, deadlineAt: new Date(snapshot.transaction.deadlineAt).toISOString() }, 'deadline passed while trying: aborting');
        const decided = await store.decide({
          gid,
          to: 'cancelling',
          reason: DEADLINE_REASONS.sweep,
          now,
          owner: lease,
          leaseUntil: now + leaseMs,
          beforeDeadline: false,
          actor: 'timeout-sweeper',
        });
        if (!decided) return null;
        return runner.runRound(decided, { lease, decidedAt: now });
      }
    }
  }

  async view(gid: string): Promise<TransactionView> {
    const snapshot = await this.#load(gid);
    return { ...snapshot, events: await this.options.store.events(gid) };
  }

  async #register(
    gid: string,
    branches: BranchRegistration[],
    caller: string | null,
    mode: Mode | undefined,
    precheck: (snapshot: TransactionSnapshot) => void,
  ): Promise<{ status: GlobalStatus; deadlineAt: number; inserted: string[] }> {
    const { store, clock, logger } = this.options;
    const now = clock.now();
    // The domain's answer on a snapshot of the transaction: a refusal (it
    // throws), or the registrations that are new (none: a re-send).
    const check = (snapshot: TransactionSnapshot) => {
      precheck(snapshot);
      return checkRegistration(snapshot.transaction, snapshot.branches, branches, now);
    };
    let candidates: BranchRegistration[];
    try {
      candidates = distinctRegistrations(gid, branches);
    } catch (error) {
      // Refused as sent; an unknown gid and the precheck still answer first.
      const snapshot = await store.load(gid);
      if (!snapshot) throw notFound(gid);
      check(snapshot);
      throw error;
    }
    for (let attempt = 1; ; attempt++) {
      // One guarded operation: inserts all of them only while the
      // transaction is trying, before its deadline, and none is known yet.
      const result = await store.registerBranches({ gid, mode, now, branches: candidates, actor: caller });
      if (!result) throw notFound(gid);
      const { before, inserted } = result;
      if (inserted.length > 0) {
        logger.debug({ gid, branches: inserted.map((b) => b.branchId) }, 'branches registered');
        return { status: before.transaction.status, deadlineAt: before.transaction.deadlineAt, inserted: inserted.map((b) => b.branchId) };
      }
      // Nothing inserted (the guard refused, or nothing was asked): the
      // domain says why on the snapshot the operation read. Fewer new
      // branches than asked means another registration of the same branch
      // won a race: the rest are inserted in the next round.
      const fresh = check(before);
      if (fresh.length === 0) return { status: before.transaction.status, deadlineAt: before.transaction.deadlineAt, inserted: [] };
      if (attempt >= REGISTRATION_ROUNDS) throw new Error(`registration of branches of ${gid} kept losing races; try again`);
      candidates = fresh;
    }
  }

  async #decide(
    request: DecisionRequest,
    to: 'confirming' | 'cancelling',
    step: (snapshot: TransactionSnapshot, now: number) => DecisionStep,
    beforeDeadline: boolean,
  ): Promise<GlobalStatus> {
    const { store, clock, leaseMs, runner } = this.options;
    // First the guarded write itself: its precondition (trying, and before
    // the deadline for a submit) is the decision's, so on the happy path one
    // round trip both decides and logs. Only when it loses is the transaction
    // loaded and the decision asked why: already decided, refused, or a race
    // (then one more pass).
    for (let pass = 1; ; pass++) {
      const now = clock.now();
      const lease = this.#newLease();
      const decided = await store.decide({
        gid: request.gid,
        to,
        reason: request.reason,
        now,
        owner: lease,
        leaseUntil: now + leaseMs,
        beforeDeadline,
        actor: request.actor,
      });
      if (decided) {
        this.options.logger.debug({ gid: request.gid, status: to, reason: request.reason, actor: request.actor }, 'decision logged');
        // The happy path runs phase two here, not through the queue; the
        // caller waits for it up to waitMs, then gets the current status.
        const round = runner.runRound(decided, { lease, decidedAt: now });
        return waitAtMost(round, request.waitMs, to);
      }
      const next = step(await this.#load(request.gid), clock.now());
      // A re-sent or concurrent decision waits for phase two like the first one did.
      if (next.kind === 'already') return isTerminal(next.status) ? next.status : this.#awaitOutcome(request.gid, next.status, request.waitMs);
      if (pass >= 2) {
        throw new TransactionRefusedError('ILLEGAL_STATE', `transaction ${request.gid} changed concurrently; query it and retry`, request.gid);
      }
    }
  }


  /**
   * A lease name unique to one acquisition: the instance id (for people
   * reading the log), a random nonce drawn when this service was created, and
   * a counter. Two rounds of the same instance (a slow happy-path round and a
   * recovery claim after its lease expired) then hold different leases, and
   * only the current one can record. The nonce keeps that true across
   * processes: two instances configured with the same DTX_INSTANCE_ID (or one
   * restarted with it) count from the same start, and a paused owner's stale
   * round must not pass for the new owner's. The id is cut so the name fits
   * the lease_owner column (128).
   */
  #newLease(): string {
    this.#leases = (this.#leases + 1) % Number.MAX_SAFE_INTEGER;
    return `${this.options.instanceId.slice(0, 96)}#${this.#leaseNonce}#${this.#leases}`;
  }

  /**
   * Waits up to `waitMs` for a transaction whose phase two runs elsewhere
   * (another request's round, another instance, recovery) to end; answers
   * its status then. Polls the log, at a short interval growing to 250 ms:
   * only re-sent or concurrent decisions come here, never the happy path.
   */
  async #awaitOutcome(gid: string, status: GlobalStatus, waitMs: number): Promise<GlobalStatus> {
    const { clock } = this.options;
    const until = clock.now() + waitMs;
    let current = status;
    for (let pause = 20; !isTerminal(current) && clock.now() < until; pause = Math.min(pause * 2, 250)) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(pause, Math.max(0, until - clock.now()))));
      current = (await this.#load(gid)).transaction.status;
    }
    return current;
  }

  /** Every URL a caller registers must be one the coordinator may call (before anything is written). */
  #checkTargets(gid: string, branches: readonly BranchRegistration[]): void {
    for (const [index, branch] of branches.entries()) {
      for (const field of ['confirmUrl', 'cancelUrl'] as const) {
        const refusal = this.options.participants.check(`branches[${index}].${field}`, branch[field]);
        if (refusal) throw new TransactionRefusedError(refusal.code, refusal.message, gid);
      }
    }
  }

  async #load(gid: string): Promise<TransactionSnapshot> {
    const snapshot = await this.options.store.load(gid);
    if (!snapshot) throw notFound(gid);
    return snapshot;
  }
}


function notFound(gid: string): TransactionRefusedError {
  return new TransactionRefusedError('NOT_FOUND', `no transaction with gid ${gid}`, gid);
}

async function waitAtMost<T>(work: Promise<T>, ms: number, fallback: T): Promise<T> {
  if (ms <= 0) {
    work.catch(() => undefined);
    return fallback;
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms);
  });
  try {
    return await Promise.race([work.catch(() => fallback), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
