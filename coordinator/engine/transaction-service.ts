/**
 * The coordinator's operations on global transactions, as the API and the
 * recovery worker call them: begin, register, submit, abort, recover, read.
 * Each loads what it needs, asks the domain, performs one guarded write,
 * and hands phase two to the runner.
 */
import type { Logger } from 'pino';
import { v7 as uuidv7 } from 'uuid';
import { TransactionRefusedError } from '../domain/refusal.ts';
import {
  checkRegistration,
  decideAbort,
  decideRecovery,
  decideSubmit,
  distinctRegistrations,
  type DecisionStep,
} from '../domain/tcc-decisions.ts';
import type {
  BranchRegistration,
  GlobalStatus,
  Mode,
  TransactionEvent,
  TransactionSnapshot,
} from '../domain/transaction.ts';
import type { TransactionStore } from '../store/transaction-store.ts';
import type { PhaseTwoRunner } from './phase-two-runner.ts';
import type { Clock } from './ports.ts';
import { noopTelemetry, type Telemetry } from './telemetry.ts';

export interface TransactionServiceOptions {
  store: TransactionStore;
  runner: PhaseTwoRunner;
  clock: Clock;
  instanceId: string;
  leaseMs: number;
  logger: Logger;
  /** Metrics; nothing by default. */
  telemetry?: Telemetry;
}

export interface BeginRequest {
  gid?: string;
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
  constructor(private readonly options: TransactionServiceOptions) {}

  async begin(request: BeginRequest): Promise<BeginResult> {
    const { store, clock } = this.options;
    const gid = request.gid ?? uuidv7();
    const branches = distinctRegistrations(gid, request.branches);
    const now = clock.now();
    const deadlineAt = now + request.timeoutMs;
    const outcome = await store.begin({ gid, mode: request.mode, now, deadlineAt, branches });
    if (outcome === 'created') {
      this.options.logger.debug({ gid, mode: request.mode, branches: branches.length }, 'transaction begun');
      (this.options.telemetry ?? noopTelemetry).onBegin({ mode: request.mode });
      return { gid, status: 'trying', deadlineAt, created: true };
    }
    // The gid exists: a re-sent begin is fine, as long as it asks for the same kind of transaction.
    const registered = await this.#register(gid, branches, (snapshot) => {
      if (snapshot.transaction.mode !== request.mode) {
        throw new TransactionRefusedError('GID_CONFLICT', `gid ${gid} is already used by a ${snapshot.transaction.mode} transaction`, gid);
      }
    });
    return { gid, status: registered.status, deadlineAt: registered.deadlineAt, created: false };
  }

  async register(gid: string, branches: BranchRegistration[]): Promise<{ status: GlobalStatus; inserted: string[] }> {
    const result = await this.#register(gid, branches, () => undefined);
    return { status: result.status, inserted: result.inserted };
  }

  async submit(request: DecisionRequest): Promise<GlobalStatus> {
    try {
      return await this.#decide(request, 'confirming', (snapshot, now) => decideSubmit(snapshot.transaction, now), true);
    } catch (error) {
      if (error instanceof TransactionRefusedError && error.code === 'DEADLINE_PASSED') {
        // The deadline won: carry out the abort the sweep would, then tell the caller.
        await this.abort({ ...request, reason: 'deadline passed before submit', actor: 'coordinator' });
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
          reason: 'timeout',
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
    precheck: (snapshot: TransactionSnapshot) => void,
  ): Promise<{ status: GlobalStatus; deadlineAt: number; inserted: string[] }> {
    const now = this.options.clock.now();
    const result = await this.options.store.registerBranches(gid, now, (snapshot) => {
      precheck(snapshot);
      return checkRegistration(snapshot.transaction, snapshot.branches, branches, now);
    });
    if (!result) throw notFound(gid);
    if (result.inserted.length > 0) {
      this.options.logger.debug({ gid, branches: result.inserted.map((b) => b.branchId) }, 'branches registered');
    }
    return {
      status: result.before.transaction.status,
      deadlineAt: result.before.transaction.deadlineAt,
      inserted: result.inserted.map((b) => b.branchId),
    };
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
      if (next.kind === 'already') return next.status;
      if (pass >= 2) {
        throw new TransactionRefusedError('ILLEGAL_STATE', `transaction ${request.gid} changed concurrently; query it and retry`, request.gid);
      }
    }
  }


  /**
   * A lease name unique to one acquisition: the instance id plus a counter.
   * Two rounds of the same instance (a slow happy-path round and a recovery
   * claim after its lease expired) then hold different leases, and only the
   * current one can record.
   */
  #newLease(): string {
    this.#leases = (this.#leases + 1) % Number.MAX_SAFE_INTEGER;
    return `${this.options.instanceId}#${this.#leases}`;
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
