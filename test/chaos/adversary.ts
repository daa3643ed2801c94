/**
 * The adversary: a second kind of API caller that runs beside the load in
 * every scenario, at a seeded random pace over the fault window, and tries
 * every cross-caller action against the load's real transactions
 * (adversary-attempts.ts). It holds its own token and its own initiator key
 * at each bank, nothing else.
 *
 * Every answer must be the attempt's documented refusal, or — faults being
 * injected — no answer: no reply (a timeout, a connection refused or reset)
 * or a 503 saying the coordinator's log or queue is down. Those are counted
 * apart. A 2xx, or any other answer, is a violation naming the gid, the
 * attempt and the answer.
 */
import { callHeaders } from '@dtx/participant-sdk';
import type { Violation } from '../../examples/bank-transfer/cluster/audit.ts';
import { seededRandom, type Random } from '../../examples/bank-transfer/cluster/random.ts';
import type { AdversaryLog } from './adversary-log.ts';
import { ATTEMPT_KIND_NAMES, buildAttempt, isTargeted, weightOf, type AdversaryIdentity, type Attempt, type AttemptKind } from './adversary-attempts.ts';
import { scaled, type Budget } from './scenario.ts';

/** The adversary's reach: a legitimate initiator of TCC, sagas and messages at bank a; XA and bank b are outside it. */
export const ADVERSARY_SCOPE = { modes: ['tcc', 'saga', 'msg'], bank: 'a' } as const;

/** Attempts of a kind of weight 1 at intensity 1 (the short variant: 72 attempts in 15 s). */
const PER_KIND = 3;

/** A coordinator's answers that say its log or queue is down: the outcome is unknown, like no answer at all. */
const UNAVAILABLE = new Set(['LOG_UNAVAILABLE', 'QUEUE_UNAVAILABLE']);

export interface AdversaryStep {
  atMs: number;
  kind: AttemptKind;
}

/** Forged calls of XA's phase two: they need banks that take XA branches (on MySQL/MariaDB), else there is no such op to forge. */
const XA_FORGES: readonly AttemptKind[] = ['forge-commit', 'forge-rollback'];

/**
 * Every kind `PER_KIND` times its weight (scaled by the run's intensity, at least twice), at random
 * times inside the horizon; the XA forges only if the banks take XA branches.
 */
export function planAdversary(random: Random, budget: Budget, banks: { xa: boolean } = { xa: true }): AdversaryStep[] {
  const steps: AdversaryStep[] = [];
  for (const kind of ATTEMPT_KIND_NAMES) {
    if (!banks.xa && XA_FORGES.includes(kind)) continue;
    const count = Math.max(2, scaled(PER_KIND * weightOf(kind), budget));
    for (let i = 0; i < count; i++) steps.push({ atMs: random.int(0, budget.horizonMs), kind });
  }
  return steps.sort((a, b) => a.atMs - b.atMs);
}

export interface KindTally {
  kind: AttemptKind;
  /** Attempts sent (those without a target are not). */
  attempts: number;
  /** By `<status> <code>`: the documented refusal each got. */
  refused: Map<string, number>;
  /** By why: no reply, or a 503 of the coordinator's log or queue. */
  unanswered: Map<string, number>;
  /** Attempts whose target the log showed open (not yet decided) right before they were sent. */
  onOpen: number;
  /** Of those, the ones refused as documented: proof that the guard held while it mattered. */
  refusedOnOpen: number;
  /** Planned attempts not sent: no transaction of the load had been seen yet. */
  noTarget: number;
}

export interface AdversaryReport {
  caller: string;
  scope: string;
  kinds: KindTally[];
  notes: string[];
}

export interface AdversaryOptions {
  identity: AdversaryIdentity;
  /** Each coordinator's own address (no proxy): the adversary picks one at random per attempt. */
  coordinatorUrls: readonly string[];
  targets: AdversaryLog;
  seed: number;
  /** Its own gids: `<gidPrefix>-adv-<n>`. */
  gidPrefix: string;
  /** The schedule's waits (cut short once the run is interrupted), and whether it was. */
  sleep: (ms: number) => Promise<void>;
  stopped: () => boolean;
}

/** An HTTP answer (its code, and the start of its body for a report), or why none came. */
type Answer = { status: number; code: string | null; excerpt: string } | { status: null; why: string };

export class Adversary {
  readonly violations: Violation[] = [];
  readonly #options: AdversaryOptions;
  readonly #tally = new Map<AttemptKind, KindTally>();
  readonly #notes: string[] = [];
  /** The kinds its plan holds (a run on banks without XA plans no XA forges): the report lists these. */
  readonly #planned = new Set<AttemptKind>();
  #gids = 0;

  constructor(options: AdversaryOptions) {
    this.#options = options;
    for (const kind of ATTEMPT_KIND_NAMES)
      this.#tally.set(kind, { kind, attempts: 0, refused: new Map(), unanswered: new Map(), onOpen: 0, refusedOnOpen: 0, noTarget: 0 });
  }

  /** Carries out every step at its time; resolves once every attempt is answered (or gave up). */
  async run(steps: readonly AdversaryStep[]): Promise<void> {
    const started = Date.now();
    for (const step of steps) this.#planned.add(step.kind);
    await Promise.all(
      steps.map(async (step, index) => {
        await this.#options.sleep(started + step.atMs - Date.now());
        if (this.#options.stopped()) return;
        // Its own random source per step: the same attempt for the same step in every run of the seed (its target aside).
        await this.#attempt(step.kind, seededRandom(this.#options.seed * 104_729 + index)).catch((error: unknown) => {
          this.#notes.push(`${step.kind}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
        });
      }),
    );
  }

  report(): AdversaryReport {
    const { identity } = this.#options;
    return {
      caller: identity.caller,
      scope: `${identity.modes.join(', ')} at bank ${identity.ownBank}`,
      kinds: [...this.#tally.values()].filter((tally) => this.#planned.has(tally.kind)),
      notes: this.#notes,
    };
  }

  async #attempt(kind: AttemptKind, random: Random): Promise<void> {
    const tally = this.#tally.get(kind)!;
    const target = isTargeted(kind) ? await this.#options.targets.pick(random) : null;
    const attempt = buildAttempt(kind, { id: this.#options.identity, random, target, freshGid: `${this.#options.gidPrefix}-adv-${++this.#gids}` });
    if (!attempt) {
      tally.noTarget++;
      return;
    }
    tally.attempts++;
    if (target?.open === true) tally.onOpen++;
    const answer = attempt.to === 'coordinator' ? await this.#toCoordinator(attempt, random) : await this.#toBank(attempt);
    if (answer.status === null) {
      count(tally.unanswered, answer.why);
    } else if (attempt.to === 'coordinator' && answer.status === 503 && answer.code !== null && UNAVAILABLE.has(answer.code)) {
      count(tally.unanswered, `503 ${answer.code}`);
    } else if (answer.status === attempt.expected.status && answer.code === attempt.expected.code) {
      count(tally.refused, `${answer.status} ${answer.code}`);
      if (target?.open === true) tally.refusedOnOpen++;
    } else {
      this.violations.push({
        invariant: 'the adversary is refused',
        detail: `${kind}: ${attempt.what} answered HTTP ${answer.status} ${answer.code ?? answer.excerpt}, where ${attempt.expected.status} ${attempt.expected.code} is documented${target?.open ? ' (its target was open)' : ''}`,
        gids: [attempt.gid],
      });
    }
  }

  /**
   * The attempt to the coordinators, in a random order: a connection refused (a coordinator killed)
   * sent nothing, so the next one is asked, as any client would.
   */
  async #toCoordinator(attempt: Extract<Attempt, { to: 'coordinator' }>, random: Random): Promise<Answer> {
    const order = [...this.#options.coordinatorUrls];
    for (let i = order.length - 1; i > 0; i--) {
      const j = random.int(0, i);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    let answer: Answer = { status: null, why: 'no coordinator' };
    for (const base of order) {
      answer = await answerOf(() =>
        fetch(`${base}${attempt.path}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${this.#options.identity.token}`, 'content-type': 'application/json' },
          body: JSON.stringify(attempt.body),
          signal: AbortSignal.timeout(10_000),
        }),
      );
      if (answer.status !== null || answer.why !== 'ECONNREFUSED') return answer;
    }
    return answer;
  }

  /** A call straight to the bank, signed with the adversary's own key there: the only key it has. */
  async #toBank(attempt: Extract<Attempt, { to: 'bank' }>): Promise<Answer> {
    const url = `${this.#options.identity.bankUrls[attempt.bank]}/dtx/${attempt.resource}/${attempt.op}`;
    const headers = callHeaders(this.#options.identity.keys[attempt.bank], {
      url,
      gid: attempt.gid,
      branchId: attempt.branchId,
      op: attempt.op,
      body: attempt.body,
      timestamp: Date.now(),
      caller: attempt.caller,
      registration: attempt.registration,
    });
    return answerOf(() => fetch(url, { method: 'POST', headers, body: attempt.body, signal: AbortSignal.timeout(5_000) }));
  }
}

async function answerOf(send: () => Promise<Response>): Promise<Answer> {
  try {
    const response = await send();
    // A reply cut off before its body (the process killed meanwhile) is no answer; one that is not JSON has no code.
    const text = await response.text();
    let code: string | null = null;
    try {
      const body = JSON.parse(text) as { code?: unknown } | null;
      if (typeof body?.code === 'string') code = body.code;
    } catch {
      // not JSON: no code
    }
    return { status: response.status, code, excerpt: text.slice(0, 160) };
  } catch (error) {
    const name = error instanceof Error ? error.name : '';
    if (name === 'TimeoutError' || name === 'AbortError') return { status: null, why: 'timeout' };
    // fetch's own error says little; its cause names the socket's fate (ECONNREFUSED, ECONNRESET, …).
    const cause = error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined;
    return { status: null, why: typeof cause?.code === 'string' ? cause.code : 'no reply' };
  }
}

function count(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

/** Attempts of `kinds` refused as documented while their target was still open. */
export function refusedOnOpen(report: AdversaryReport, kinds: readonly AttemptKind[]): number {
  return report.kinds.filter((k) => kinds.includes(k.kind)).reduce((sum, k) => sum + k.refusedOnOpen, 0);
}
