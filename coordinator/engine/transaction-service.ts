/**
 * The coordinator's operations on global transactions, as the API and the
 * recovery worker call them: begin, register, submit, abort, recover, read.
 * Each loads what it needs, asks the domain, performs one guarded write,
 * and hands phase two to the runner.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { v7 as uuidv7 } from 'uuid';
import { assembleHistory } from '../domain/history.ts';
import { DEADLINE_REASONS } from '../domain/phase-two.ts';
import { TransactionRefusedError } from '../domain/refusal.ts';
import { distinctRegistrations } from '../domain/registration.ts';
import {
  isTerminal,
  operationNames,
  participantOfBranch,
  type BranchRegistration,
  type GlobalStatus,
  type GlobalTransaction,
  type Mode,
  type TransactionEvent,
  type TransactionSnapshot,
} from '../domain/transaction.ts';
import type { DecisionStep, ModeRules, Transition } from '../modes/mode-rules.ts';
import { DEFAULT_MODE, modeOfOperations, rulesFor } from '../modes/registry.ts';
import type { BeginInput, TransactionStore } from '../store/ports/transaction-store.ts';
import type { PhaseTwoRunner } from './phase-two-runner.ts';
import type { BranchClient } from '../branch-client/http-branch-client.ts';
import { MESSAGE_SENDER_BRANCH } from '@dtx/protocol';
import type { Clock } from './ports.ts';
import type { ParticipantPolicy } from '../security/participant-policy.ts';
import { noopTelemetry, type Telemetry } from './telemetry.ts';

/** Rounds of a registration whose guarded insert lost races to other registrations of the same branches. */
const REGISTRATION_ROUNDS = 3;

export interface TransactionServiceOptions {
  store: TransactionStore;
  runner: PhaseTwoRunner;
  /** Calls initiators' check-back URLs (a message whose sender never decided). */
  client: BranchClient;
  clock: Clock;
  instanceId: string;
  leaseMs: number;
  /** How long past its deadline a check-back may go unanswered before the transaction is flagged needs-attention. */
  attentionAfterMs: number;
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
  /**
   * Submit in the same commit: required for a mode whose transactions are
   * submitted whole (a saga), refused for the others. The caller then waits
   * for phase two up to `waitMs`, as for a submit.
   */
  submit?: { reason: string | null; waitMs: number; actor: string };
  /** Where to ask the initiator whether it committed, if it never decides (a message's sender); checked like branch URLs. */
  checkUrl?: string;
  /** Phase two does not start before this instant (a message's delivery time). */
  notBefore?: number;
}

/** A transaction's status, with the mode that names it for users. */
export interface StatusOf {
  status: GlobalStatus;
  mode: Mode;
}

export interface BeginResult extends StatusOf {
  gid: string;
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
    const rules = rulesFor(request.mode);
    if (rules.submittedAtBegin !== (request.submit !== undefined)) throw submittedWholeOrNot(gid, rules);
    this.#checkOperations(gid, request.branches, request.mode);
    this.#checkTargets(gid, request.branches);
    if (request.checkUrl !== undefined) this.#checkUrl(gid, 'checkUrl', request.checkUrl);
    rules.checkSteps(gid, request.branches);
    const branches = distinctRegistrations(gid, inModeOrder(rules, request.branches));
    const now = clock.now();
    const deadlineAt = now + request.timeoutMs;
    const lease = this.#newLease();
    const decision = request.submit && { ...request.submit, to: rules.submit(now).to, owner: lease, leaseUntil: now + this.options.leaseMs };
    const input: BeginInput = {
      gid,
      mode: request.mode,
      now,
      deadlineAt,
      branches,
      caller: request.caller,
      decision,
      checkUrl: request.checkUrl,
      notBefore: request.notBefore,
    };
    if ((await store.begin(input)) === 'created') {
      this.options.logger.debug({ gid, mode: request.mode, branches: branches.length }, 'transaction begun');
      (this.options.telemetry ?? noopTelemetry).onBegin({ mode: request.mode });
      if (!decision) return { gid, mode: request.mode, status: 'open', deadlineAt, created: true };
      const round = this.options.runner.runRound(beganDecided({ ...input, decision }), { lease, decidedAt: now });
      return { gid, mode: request.mode, status: await waitAtMost(round, decision.waitMs, decision.to), deadlineAt, created: true };
    }
    if (!rules.registersLater) return this.#resent(gid, request.mode, request.submit?.waitMs ?? null, branches);
    // The gid exists: a re-sent begin is fine, as long as it asks for the same kind of transaction.
    const registered = await this.#register(gid, branches, request.caller, rules, (snapshot) => {
      if (snapshot.transaction.mode !== request.mode) throw gidTaken(gid, snapshot);
    });
    return { gid, mode: request.mode, status: registered.status, deadlineAt: registered.deadlineAt, created: false };
  }

  /**
   * A begin whose branches are all given at once (a saga, a message), sent
   * again with its gid (the caller lost the reply): the same branches are
   * answered with where it stands. Submitted with it (a saga): once its
   * outcome is known or `waitMs` passed, and the mode refuses one it cannot
   * submit any more (a saga compensated). Other branches under the gid are a conflict.
   */
  async #resent(gid: string, mode: Mode, waitMs: number | null, branches: readonly BranchRegistration[]): Promise<BeginResult> {
    const snapshot = await this.#load(gid);
    const { transaction } = snapshot;
    if (transaction.mode !== mode) throw gidTaken(gid, snapshot);
    const ids = (list: readonly { branchId: string }[]) => list.map((b) => b.branchId).join('\n');
    if (ids(snapshot.branches) !== ids(branches)) {
      throw new TransactionRefusedError('GID_CONFLICT', `gid ${gid} is already used by a ${transaction.mode} transaction with other branches`, gid);
    }
    if (waitMs === null) return { gid, mode, status: transaction.status, deadlineAt: transaction.deadlineAt, created: false };
    const step = rulesFor(mode).explainSubmit(transaction, this.options.clock.now());
    const status = step.kind === 'already' && !isTerminal(step.status) ? await this.#awaitOutcome(gid, step.status, waitMs) : transaction.status;
    return { gid, mode, status, deadlineAt: transaction.deadlineAt, created: false };
  }

  /**
   * The branches' operations say which mode they belong to; the transaction
   * must be of that mode. `caller`: the authenticated service registering
   * them (null: anonymous, development mode).
   */
  async register(gid: string, branches: BranchRegistration[], caller: string | null): Promise<StatusOf & { inserted: string[] }> {
    const mode = this.#modeOfBranches(gid, branches);
    this.#checkTargets(gid, branches);
    const rules = rulesFor(mode);
    const result = await this.#register(gid, inModeOrder(rules, branches), caller, rules, (snapshot) => {
      if (snapshot.transaction.mode !== mode) {
        throw new TransactionRefusedError(
          'ILLEGAL_STATE',
          `transaction ${gid} is a ${snapshot.transaction.mode} transaction: ${mode} branches cannot join it`,
          gid,
        );
      }
    });
    return { status: result.status, mode, inserted: result.inserted };
  }

  async submit(request: DecisionRequest): Promise<StatusOf> {
    try {
      return await this.#decide(
        request,
        (rules, now) => rules.submit(now),
        (rules, txn, now) => rules.explainSubmit(txn, now),
      );
    } catch (error) {
      if (error instanceof TransactionRefusedError && error.code === 'DEADLINE_PASSED') {
        // The deadline won: carry out the abort the sweep would, then tell the caller.
        await this.abort({ ...request, reason: DEADLINE_REASONS.lateSubmit, actor: 'coordinator' });
      }
      throw error;
    }
  }

  abort(request: DecisionRequest): Promise<StatusOf> {
    return this.#decide(
      request,
      (rules, now) => rules.abort(now),
      (rules, txn, now) => rules.explainAbort(txn, now),
    );
  }

  /**
   * Recovery's entry point for a due transaction: take the lease, then abort
   * it if its deadline passed before a decision, or run a phase-two round.
   * Returns null if the transaction was not due or another instance holds it.
   */
  async recover(gid: string): Promise<GlobalStatus | null> {
    const { store, clock, leaseMs, runner } = this.options;
    const now = clock.now();
    const lease = this.#newLease();
    const snapshot = await store.claim(gid, lease, now, now + leaseMs);
    if (!snapshot) return null;
    const rules = rulesFor(snapshot.transaction.mode);
    switch (rules.recoveryStep(snapshot.transaction, now)) {
      case 'nothing':
        return snapshot.transaction.status;
      case 'run-phase-two':
        return runner.runRound(snapshot, { lease });
      case 'check-back':
        return this.#checkBack(snapshot.transaction, rules, lease);
      case 'abort-timeout': {
        this.options.logger.warn({ gid, deadlineAt: new Date(snapshot.transaction.deadlineAt).toISOString() }, 'deadline passed before a decision: aborting');
        const decided = await store.decide({
          gid,
          ...rules.abort(now),
          reason: DEADLINE_REASONS.sweep,
          now,
          owner: lease,
          leaseUntil: now + leaseMs,
          actor: 'timeout-sweeper',
        });
        if (!decided) return null;
        return runner.runRound(decided, { lease, decidedAt: now });
      }
    }
  }

  /**
   * Asks the initiator's check-back URL whether it committed, and logs the
   * answer as its decision: committed → submit, never committed → abort.
   * Any other answer leaves it as it is: recovery asks again once the lease
   * taken for this ends.
   */
  async #checkBack(txn: GlobalTransaction, rules: ModeRules, lease: string): Promise<GlobalStatus | null> {
    const { store, clock, leaseMs, runner, logger } = this.options;
    const log = logger.child({ gid: txn.gid });
    if (txn.checkUrl === null) {
      log.error('no check-back URL to ask: the transaction stays open for an operator');
      return txn.status;
    }
    const answer = await this.options.client.call({ gid: txn.gid, branchId: MESSAGE_SENDER_BRANCH, op: 'check', url: txn.checkUrl, payload: '{}' });
    if (answer.outcome !== 'success' && answer.outcome !== 'failure') {
      log.warn({ outcome: answer.outcome, httpStatus: answer.httpStatus, error: answer.error }, 'check-back did not answer; asking again later');
      await this.#flagUnansweredCheckBack(txn, lease, answer.httpStatus, answer.error);
      return txn.status;
    }
    const now = clock.now();
    const committed = answer.outcome === 'success';
    const transition = committed ? rules.submit(now) : rules.abort(now);
    const decided = await store.decide({
      gid: txn.gid,
      ...transition,
      reason: committed ? 'check-back: the initiator committed' : 'check-back: the initiator never committed',
      now,
      owner: lease,
      leaseUntil: now + leaseMs,
      actor: 'check-back',
    });
    if (!decided) return null;
    log.info({ status: transition.to }, 'decided by check-back');
    return runner.runRound(decided, { lease, decidedAt: now });
  }

  /** A check-back unanswered long past the deadline is raised to an operator (once): nothing else would show it. */
  async #flagUnansweredCheckBack(txn: GlobalTransaction, lease: string, httpStatus: number | null, error: string | null): Promise<void> {
    const now = this.options.clock.now();
    const late = now - txn.deadlineAt;
    if (txn.needsAttention || late < this.options.attentionAfterMs) return;
    const answer = httpStatus === null ? (error ?? 'no reply') : `HTTP ${httpStatus}`;
    const reason = `check-back unanswered ${Math.floor(late / 1000)} s past the deadline (last: ${answer})`;
    if (!(await this.options.store.flagAttention({ gid: txn.gid, owner: lease, reason, now }))) return;
    this.options.logger.error({ gid: txn.gid, reason }, 'transaction needs attention');
    (this.options.telemetry ?? noopTelemetry).onAttention({ gid: txn.gid, mode: txn.mode, status: txn.status, reason, retryCount: txn.retryCount, at: now });
  }

  /** The transaction, its branches and its whole history (the event rows and the happy path read from the rows). */
  async view(gid: string): Promise<TransactionView> {
    const snapshot = await this.#load(gid);
    return { ...snapshot, events: assembleHistory(snapshot, await this.options.store.events(gid)) };
  }

  async #register(
    gid: string,
    branches: BranchRegistration[],
    caller: string | null,
    rules: ModeRules,
    precheck: (snapshot: TransactionSnapshot) => void,
  ): Promise<{ status: GlobalStatus; deadlineAt: number; inserted: string[] }> {
    const { store, clock, logger } = this.options;
    const now = clock.now();
    // The domain's answer on a snapshot of the transaction: a refusal (it
    // throws), or the registrations that are new (none: a re-send).
    const check = (snapshot: TransactionSnapshot) => {
      precheck(snapshot);
      return rules.checkRegistration(snapshot.transaction, snapshot.branches, branches, now);
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
      // One guarded operation: inserts all of them only while the mode's
      // registration guard holds and none is known yet.
      const result = await store.registerBranches({ gid, guard: rules.registrationGuard(now), now, branches: candidates, actor: caller });
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

  /**
   * A decision (submit or abort): first the guarded write itself, the
   * mode's transition with its precondition, so on the happy path one round
   * trip both decides and logs. Only when it loses is the transaction loaded
   * and the mode asked why: already decided, refused, or a race (then one
   * more pass).
   */
  async #decide(
    request: DecisionRequest,
    transitionOf: (rules: ModeRules, now: number) => Transition,
    explain: (rules: ModeRules, txn: GlobalTransaction, now: number) => DecisionStep,
  ): Promise<StatusOf> {
    const { store, clock, leaseMs, runner } = this.options;
    // The mode is in the log; the first write assumes the default mode. The
    // guard includes the mode, so a wrong guess writes nothing and costs a
    // load (the transaction's own rules then decide); only TCC exists today.
    let rules = rulesFor(DEFAULT_MODE);
    let rulesKnown = false;
    for (let pass = 1; ; pass++) {
      const now = clock.now();
      const lease = this.#newLease();
      const transition = transitionOf(rules, now);
      const decided = await store.decide({
        gid: request.gid,
        ...transition,
        guard: { ...transition.guard, mode: rules.mode },
        reason: request.reason,
        now,
        owner: lease,
        leaseUntil: now + leaseMs,
        actor: request.actor,
      });
      if (decided) {
        this.options.logger.debug({ gid: request.gid, status: transition.to, reason: request.reason, actor: request.actor }, 'decision logged');
        // The happy path runs phase two here, not through the queue; the
        // caller waits for it up to waitMs, then gets the current status.
        const round = runner.runRound(decided, { lease, decidedAt: now });
        return { status: await waitAtMost(round, request.waitMs, transition.to), mode: rules.mode };
      }
      const txn = (await this.#load(request.gid)).transaction;
      const guessedWrong = !rulesKnown && txn.mode !== rules.mode;
      rules = rulesFor(txn.mode);
      rulesKnown = true;
      const next = explain(rules, txn, clock.now());
      // A re-sent or concurrent decision waits for phase two like the first one did.
      if (next.kind === 'already') {
        const status = isTerminal(next.status) ? next.status : await this.#awaitOutcome(request.gid, next.status, request.waitMs);
        return { status, mode: rules.mode };
      }
      if (pass >= (guessedWrong ? 3 : 2)) {
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
      for (const [op, url] of Object.entries(branch.operations)) this.#checkUrl(gid, `branches[${index}].${op}Url`, url);
    }
  }

  #checkUrl(gid: string, field: string, url: string): void {
    const refusal = this.options.participants.check(field, url);
    if (refusal) throw new TransactionRefusedError(refusal.code, refusal.message, gid);
  }

  /** Each branch must name exactly the operations of `mode`. */
  #checkOperations(gid: string, branches: readonly BranchRegistration[], mode: Mode): void {
    for (const [index, branch] of branches.entries()) {
      if (modeOfOperations(operationNames(branch.operations)) !== mode) throw wrongOperations(gid, index, branch, rulesFor(mode));
    }
  }

  /** The mode whose operations the first branch names; every branch must name the same. */
  #modeOfBranches(gid: string, branches: readonly BranchRegistration[]): Mode {
    const [first] = branches;
    const mode = first && modeOfOperations(operationNames(first.operations));
    if (!mode) throw wrongOperations(gid, 0, first, undefined);
    this.#checkOperations(gid, branches, mode);
    return mode;
  }

  async #load(gid: string): Promise<TransactionSnapshot> {
    const snapshot = await this.options.store.load(gid);
    if (!snapshot) throw notFound(gid);
    return snapshot;
  }
}

/** Each branch's operations in the order the mode lists them (the first names the participant). */
function inModeOrder(rules: ModeRules, branches: readonly BranchRegistration[]): BranchRegistration[] {
  return branches.map((branch) => ({ ...branch, operations: Object.fromEntries(rules.operations.map((op) => [op, branch.operations[op]])) }));
}

function wrongOperations(gid: string, index: number, branch: BranchRegistration | undefined, rules: ModeRules | undefined): TransactionRefusedError {
  const named = branch ? operationNames(branch.operations).join(', ') || 'none' : 'none';
  const expected = rules ? `; a ${rules.mode} branch has ${rules.operations.join(' and ')}` : '';
  return new TransactionRefusedError('INVALID_OPERATIONS', `branches[${index}] names the operations ${named}${expected}`, gid);
}

function gidTaken(gid: string, snapshot: TransactionSnapshot): TransactionRefusedError {
  return new TransactionRefusedError('GID_CONFLICT', `gid ${gid} is already used by a ${snapshot.transaction.mode} transaction`, gid);
}

function submittedWholeOrNot(gid: string, rules: ModeRules): TransactionRefusedError {
  const message = rules.submittedAtBegin
    ? `a ${rules.mode} is submitted whole, with all its steps, in one request`
    : `a ${rules.mode} transaction is begun first and submitted once its branches are tried`;
  return new TransactionRefusedError('UNSUPPORTED_MODE', message, gid);
}

/** The snapshot a begin that logged its decision wrote (no read needed: every value is the caller's). */
function beganDecided(input: BeginInput & Required<Pick<BeginInput, 'decision'>>): TransactionSnapshot {
  const { gid, mode, now, decision } = input;
  return {
    transaction: {
      gid,
      mode,
      status: decision.to,
      reason: decision.reason,
      caller: input.caller,
      createdAt: now,
      updatedAt: now,
      deadlineAt: input.deadlineAt,
      decidedAt: now,
      decidedBy: decision.actor,
      finishedAt: null,
      retryCount: 0,
      nextRetryAt: decision.leaseUntil,
      needsAttention: false,
      attentionReason: null,
      paused: false,
      leaseOwner: decision.owner,
      leaseUntil: decision.leaseUntil,
      checkUrl: input.checkUrl ?? null,
      notBefore: input.notBefore ?? null,
    },
    branches: input.branches.map((b) => ({
      gid,
      branchId: b.branchId,
      operations: b.operations,
      participant: participantOfBranch(b.operations),
      payload: b.payload,
      opPayloads: b.opPayloads ?? null,
      dependsOn: b.dependsOn ?? null,
      maxAttempts: b.maxAttempts ?? null,
      callTimeoutMs: b.callTimeoutMs ?? null,
      status: 'pending',
      attempts: 0,
      lastError: null,
      createdAt: now,
      updatedAt: now,
      registeredBy: input.caller,
      completion: null,
    })),
  };
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
