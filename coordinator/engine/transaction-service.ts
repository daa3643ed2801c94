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
import { TransactionRefusedError, type RefusalCode } from '../domain/refusal.ts';
import { distinctRegistrations, registeredTargets, registrationTargets, resentDifference } from '../domain/registration.ts';
import { mayJoin, notOwner, sameCallers } from '../domain/ownership.ts';
import { modeScopeRefusal, prefixScopeRefusal, type CallerScope } from '../security/caller-scopes.ts';
import {
  isTerminal,
  operationNames,
  type BranchRegistration,
  type GlobalStatus,
  type GlobalTransaction,
  type Mode,
  type TransactionEvent,
  type TransactionSnapshot,
} from '../domain/transaction.ts';
import type { DecisionStep, ModeRules, Transition } from '../modes/mode-rules.ts';
import { operationsOf, rulesFor } from '../modes/registry.ts';
import type { BeginInput, TransactionStore } from '../store/ports/transaction-store.ts';
import type { PhaseTwoRunner } from './phase-two-runner.ts';
import { CheckBack } from './check-back.ts';
import { beganDecided } from './began-decided.ts';
import { registrationProof } from '@dtx/protocol';
import type { BranchClient } from '../branch-client/http-branch-client.ts';
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
  /** What each caller may reach (DTX_API_SCOPES), by caller name; a caller without an entry is not limited (development mode). */
  scopes: ReadonlyMap<string, CallerScope>;
}

export interface BeginRequest {
  gid?: string;
  /** The authenticated service beginning it (null: anonymous, development mode). */
  caller: string | null;
  mode: Mode;
  timeoutMs: number;
  branches: BranchRegistration[];
  /** Other callers that may register branches into it (a joining participant); only `caller` decides it. */
  joinableBy?: string[];
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
  /** Per branch of the request registered by this caller, its registration proof (modes whose initiator calls the first op). */
  proofs?: Record<string, string>;
}

export interface DecisionRequest {
  gid: string;
  /**
   * The transaction's mode as the caller knows it (its SDK always says): the
   * decision's first write is then that mode's guarded transition, one round
   * trip. Left out, the transaction is loaded first and its logged mode used;
   * a mode other than the logged one is refused.
   */
  mode?: Mode;
  /**
   * The authenticated service asking (null: anonymous, development mode): only the caller that
   * began the transaction decides it. Left out only by an operator's audited action (force-abort).
   */
  caller?: string | null;
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
  readonly #checkBack: CheckBack;

  constructor(private readonly options: TransactionServiceOptions) {
    this.#checkBack = new CheckBack(options);
  }

  async begin(request: BeginRequest): Promise<BeginResult> {
    const { store, clock } = this.options;
    const gid = request.gid ?? uuidv7();
    const rules = rulesFor(request.mode);
    if (rules.submittedAtBegin !== (request.submit !== undefined)) throw submittedWholeOrNot(gid, rules);
    this.#checkOperations(gid, request.branches, request.mode);
    const targets = [
      ...registeredTargets(request.mode, request.branches),
      ...(request.checkUrl === undefined ? [] : [{ field: 'checkUrl', url: request.checkUrl }]),
    ];
    this.#checkUrls(gid, request.caller, targets, request.mode);
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
      joinableBy: request.joinableBy,
      decision,
      checkUrl: request.checkUrl,
      notBefore: request.notBefore,
    };
    if ((await store.begin(input)) === 'created') {
      this.options.logger.debug({ gid, mode: request.mode, branches: branches.length }, 'transaction begun');
      (this.options.telemetry ?? noopTelemetry).onBegin({ mode: request.mode });
      if (!decision) return { gid, mode: request.mode, status: 'open', deadlineAt, created: true, proofs: this.#proofs(gid, request.caller, rules, branches) };
      const round = this.options.runner.runRound(beganDecided({ ...input, decision }), { lease, decidedAt: now });
      return { gid, mode: request.mode, status: await waitAtMost(round, decision.waitMs, decision.to), deadlineAt, created: true };
    }
    if (!rules.registersLater) return this.#resent({ ...input, branches }, request.submit?.waitMs ?? null);
    // The gid exists: a re-sent begin is fine, as long as the same caller asks for the same kind of transaction.
    const registered = await this.#register(gid, branches, request.caller, rules, (snapshot) => {
      if (snapshot.transaction.mode !== request.mode) throw gidTaken(gid, snapshot);
      if (snapshot.transaction.caller !== request.caller) throw notOwner(snapshot.transaction, request.caller, 'begin');
      if (!sameCallers(snapshot.transaction.joinableBy, request.joinableBy ?? [])) {
        throw new TransactionRefusedError('GID_CONFLICT', `gid ${gid} was begun with other joinableBy callers`, gid);
      }
    });
    return {
      gid,
      mode: request.mode,
      status: registered.status,
      deadlineAt: registered.deadlineAt,
      created: false,
      proofs: this.#proofs(gid, request.caller, rules, registered.mine),
    };
  }

  /**
   * A begin whose branches are all given at once (a saga, a message), sent
   * again with its gid (the caller lost the reply): the same caller, the same
   * branches with the same URLs and payloads, the same check-back and
   * delivery time, or it is refused — never merged. A re-sent saga waits for
   * its outcome like the first submit did, unless it cannot submit any more
   * (a saga compensated).
   */
  async #resent(input: BeginInput, waitMs: number | null): Promise<BeginResult> {
    const { gid, mode } = input;
    const snapshot = await this.#load(gid);
    const { transaction } = snapshot;
    if (transaction.mode !== mode) throw gidTaken(gid, snapshot);
    if (transaction.caller !== input.caller) throw notOwner(transaction, input.caller, 'begin');
    const difference = resentDifference(snapshot, input);
    if (difference) {
      throw new TransactionRefusedError('GID_CONFLICT', `gid ${gid} is already used by a ${transaction.mode} transaction with ${difference}`, gid);
    }
    if (waitMs === null) return { gid, mode, status: transaction.status, deadlineAt: transaction.deadlineAt, created: false };
    const step = rulesFor(mode).explainSubmit(transaction, this.options.clock.now());
    const status = step.kind === 'already' && !isTerminal(step.status) ? await this.#awaitOutcome(gid, step.status, waitMs) : transaction.status;
    return { gid, mode, status, deadlineAt: transaction.deadlineAt, created: false };
  }

  /**
   * Registers `branches` into a transaction of `mode` (as the caller says;
   * left out, the logged mode, read first): each branch must name exactly
   * that mode's operations, and the transaction must be of it. `caller`: the
   * authenticated service registering them (null: anonymous, development mode).
   */
  async register(
    gid: string,
    branches: BranchRegistration[],
    caller: string | null,
    asked?: Mode,
  ): Promise<StatusOf & { inserted: string[]; proofs: Record<string, string> }> {
    // What needs no mode is refused before anything is read: URLs outside the allow-list or the caller's prefixes.
    this.#checkUrls(gid, caller, registrationTargets(branches), asked);
    const mode = asked ?? (await this.#loggedModeFor(gid, caller));
    this.#checkOperations(gid, branches, mode);
    const rules = rulesFor(mode);
    const result = await this.#register(gid, inModeOrder(rules, branches), caller, rules, (snapshot) => {
      if (!mayJoin(snapshot.transaction, caller)) throw notOwner(snapshot.transaction, caller, 'register branches in');
      if (snapshot.transaction.mode !== mode) {
        throw new TransactionRefusedError(
          'ILLEGAL_STATE',
          `transaction ${gid} is a ${snapshot.transaction.mode} transaction: ${mode} branches cannot join it`,
          gid,
        );
      }
    });
    return { status: result.status, mode, inserted: result.inserted, proofs: this.#proofs(gid, caller, rules, result.mine) ?? {} };
  }

  async submit(request: DecisionRequest): Promise<StatusOf> {
    try {
      return await this.#decide(
        request,
        'submit',
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
      'abort',
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
        return this.#checkBack.ask(snapshot.transaction, rules, lease);
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
   * A caller's abort of a transaction its initiator's own record must decide
   * (a prepared message): the sender may have committed already, or be
   * committing (a re-sent request, a twin of this gid). The check-back is
   * asked now, as recovery would at the deadline: "never committed" writes
   * the sender's row that refuses a late commit, then the message is
   * aborted; "committed" delivers it instead, and the abort is refused.
   * Unanswered, the message stays prepared (the answer says so) and the
   * check-back at its deadline decides.
   */
  async #abortByCheckBack(txn: GlobalTransaction, rules: ModeRules, request: DecisionRequest): Promise<StatusOf> {
    const decided = await this.#checkBack.ask(txn, rules, this.#newLease(), { abortAskedBy: request.actor });
    const settled = decided === null ? (await this.#load(txn.gid)).transaction.status : decided;
    const status = settled === 'open' ? settled : await this.#awaitOutcome(txn.gid, settled, request.waitMs);
    if (status === 'committing' || status === 'committed') {
      throw new TransactionRefusedError(
        'ILLEGAL_STATE',
        `transaction ${txn.gid}: its initiator's check-back says it committed; it is ${rules.words.status[status]}, not aborted`,
        txn.gid,
        rules.words.status[status],
      );
    }
    return { status, mode: rules.mode };
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
  ): Promise<{ status: GlobalStatus; deadlineAt: number; inserted: string[]; mine: BranchRegistration[] }> {
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
      // Only the caller that began it, or one it named, registers: the store checks it with the mode's guard.
      const guard = { ...rules.registrationGuard(now), joiner: caller };
      const result = await store.registerBranches({ gid, guard, now, branches: candidates, actor: caller });
      if (!result) throw notFound(gid);
      const { before, inserted } = result;
      // The branches of this request that are this caller's: the ones just inserted, and those it registered before (a re-send).
      const mine = () => {
        const own = new Set([...inserted.map((b) => b.branchId), ...before.branches.filter((b) => b.registeredBy === caller).map((b) => b.branchId)]);
        return branches.filter((b) => own.has(b.branchId));
      };
      if (inserted.length > 0) {
        logger.debug({ gid, branches: inserted.map((b) => b.branchId) }, 'branches registered');
        return { status: before.transaction.status, deadlineAt: before.transaction.deadlineAt, inserted: inserted.map((b) => b.branchId), mine: mine() };
      }
      // Nothing inserted (the guard refused, or nothing was asked): the
      // domain says why on the snapshot the operation read. Fewer new
      // branches than asked means another registration of the same branch
      // won a race: the rest are inserted in the next round.
      const fresh = check(before);
      if (fresh.length === 0) return { status: before.transaction.status, deadlineAt: before.transaction.deadlineAt, inserted: [], mine: mine() };
      if (attempt >= REGISTRATION_ROUNDS) throw new Error(`registration of branches of ${gid} kept losing races; try again`);
      candidates = fresh;
    }
  }

  /**
   * A decision (submit or abort): first the guarded write itself, the
   * mode's transition with its precondition, so on the happy path one round
   * trip both decides and logs. Only when it loses is the transaction loaded
   * and the mode asked why: already decided, refused, or a race (then one
   * more pass). The mode comes from the request, or from the log when the
   * request names none (then the load comes first): never guessed.
   */
  async #decide(
    request: DecisionRequest,
    what: 'submit' | 'abort',
    transitionOf: (rules: ModeRules, now: number) => Transition,
    explain: (rules: ModeRules, txn: GlobalTransaction, now: number) => DecisionStep,
  ): Promise<StatusOf> {
    const { store, clock, leaseMs, runner } = this.options;
    const rules = rulesFor(request.mode ?? (await this.#load(request.gid)).transaction.mode);
    // A mode whose caller's abort is asked first (a message's check-back) writes nothing before explaining.
    const writeFirst = what === 'submit' || !rules.abortAsksFirst;
    for (let pass = 1; ; pass++) {
      const now = clock.now();
      const lease = this.#newLease();
      const transition = transitionOf(rules, now);
      const decided =
        writeFirst &&
        (await store.decide({
          gid: request.gid,
          ...transition,
          // Only the caller that began it decides it (operators have their own, audited path).
          guard: { ...transition.guard, mode: rules.mode, caller: request.caller },
          reason: request.reason,
          now,
          owner: lease,
          leaseUntil: now + leaseMs,
          actor: request.actor,
          // A commit makes the rows final: their global locks go with the decision.
          releaseRowLocks: rules.rowLocks && transition.to === 'committing',
        }));
      if (decided) {
        this.options.logger.debug({ gid: request.gid, status: transition.to, reason: request.reason, actor: request.actor }, 'decision logged');
        // The happy path runs phase two here, not through the queue; the
        // caller waits for it up to waitMs, then gets the current status.
        const round = runner.runRound(decided, { lease, decidedAt: now });
        return { status: await waitAtMost(round, request.waitMs, transition.to), mode: rules.mode };
      }
      const txn = (await this.#load(request.gid)).transaction;
      if (request.caller !== undefined && txn.caller !== request.caller) throw notOwner(txn, request.caller, what);
      if (txn.mode !== rules.mode) {
        throw new TransactionRefusedError('ILLEGAL_STATE', `transaction ${request.gid} is a ${txn.mode} transaction, not ${rules.mode}`, request.gid);
      }
      const next = explain(rules, txn, clock.now());
      if (next.kind === 'check-back') return this.#abortByCheckBack(txn, rules, request);
      // A re-sent or concurrent decision waits for phase two like the first one did.
      if (next.kind === 'already') {
        const status = isTerminal(next.status) ? next.status : await this.#awaitOutcome(request.gid, next.status, request.waitMs);
        return { status, mode: rules.mode };
      }
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

  /**
   * Every URL a caller registers must be one the coordinator may call, and
   * one this caller may make it call in this mode (before anything is written).
   */
  /** The URLs a caller registers: under the coordinator's allow-list, in a mode it may use (when known), under its own prefixes. */
  #checkUrls(gid: string, caller: string | null, targets: readonly { field: string; url: string }[], mode?: Mode): void {
    for (const { field, url } of targets) this.#refuse(gid, this.options.participants.check(field, url));
    const scope = this.#scopeOf(caller);
    if (mode !== undefined) this.#refuse(gid, modeScopeRefusal(scope, caller, mode));
    this.#refuse(gid, prefixScopeRefusal(scope, caller, targets));
  }

  /**
   * The logged mode of a transaction `caller` registers in without naming
   * the mode: read first, and refused as for a registration that named it —
   * another caller's transaction first (whatever its branches look like),
   * then a mode outside the caller's scope.
   */
  async #loggedModeFor(gid: string, caller: string | null): Promise<Mode> {
    const { transaction } = await this.#load(gid);
    if (!mayJoin(transaction, caller)) throw notOwner(transaction, caller, 'register branches in');
    this.#refuse(gid, modeScopeRefusal(this.#scopeOf(caller), caller, transaction.mode));
    return transaction.mode;
  }

  #scopeOf(caller: string | null): CallerScope | undefined {
    return caller === null ? undefined : this.options.scopes.get(caller);
  }

  #refuse(gid: string, refusal: { code: RefusalCode; message: string } | null): void {
    if (refusal) throw new TransactionRefusedError(refusal.code, refusal.message, gid);
  }

  /** Each branch must name exactly the operations of `mode`. */
  #checkOperations(gid: string, branches: readonly BranchRegistration[], mode: Mode): void {
    for (const [index, branch] of branches.entries()) {
      if (!operationsOf(mode, operationNames(branch.operations))) throw wrongOperations(gid, index, branch, rulesFor(mode));
    }
  }

  /**
   * The registration proof of each of `branches` (registered by `caller`), for a mode whose
   * initiator calls the first op: keyed with the coordinator's key for the branch's participant,
   * which only the coordinator and that participant hold. None when calls go unsigned (development).
   */
  #proofs(gid: string, caller: string | null, rules: ModeRules, branches: readonly BranchRegistration[]): Record<string, string> | undefined {
    if (!rules.firstOpByInitiator) return undefined;
    const proofs: Record<string, string> = {};
    for (const branch of branches) {
      const [url] = Object.values(branch.operations);
      const key = url === undefined ? null : this.options.participants.keyFor(url);
      if (key !== null) proofs[branch.branchId] = registrationProof(key, { gid, branchId: branch.branchId, caller: caller ?? '' });
    }
    return proofs;
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

function wrongOperations(gid: string, index: number, branch: BranchRegistration, rules: ModeRules): TransactionRefusedError {
  const named = operationNames(branch.operations).join(', ') || 'none';
  const expected = `; a ${rules.mode} branch has ${rules.operations.join(' and ')}`;
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
