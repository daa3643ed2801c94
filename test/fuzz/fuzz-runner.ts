/**
 * Runs generated cases against a FuzzWorld, one request at a time, and
 * collects findings: answers that break the rules (oracle.ts), refused
 * requests after which the log or the barrier differ (state-marks.ts), and
 * requests far costlier than others of their kind (timing.ts).
 *
 * A case is a transaction under test (brought into one state by valid
 * requests: trying, tried at the participant, confirmed, cancelled, stuck
 * in phase two and paused, or absent; for the second caller's requests also
 * a saga and a prepared message) plus one generated request against it. Transactions under test are reused while no accepted request changed
 * them. Before each case the world is settled: nothing is in phase two or
 * near its deadline, so that any change seen after a refusal is the
 * refusal's doing.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import type { FuzzWorld } from './fuzz-world.ts';
import { render, type FuzzRequest, type RenderContext, type RenderedRequest } from './fuzz-request.ts';
import { judge, type Problem } from './oracle.ts';
import { sendRaw, type RawOutcome } from './raw-http.ts';
import { anyRequest } from './requests.ts';
import { rivalCases } from './rival-requests.ts';
import { busyTransactions, deadlineBetween, diffMarks, takeMarks, type Marks } from './state-marks.ts';
import { CostBook, costKinds, TIMING } from './timing.ts';

/** The transaction under test; a saga (succeeded) and a message (prepared) only for the second caller's requests (rival-requests.ts). */
export type SubjectKind = 'none' | 'trying' | 'tried' | 'confirmed' | 'cancelled' | 'stuck' | 'saga' | 'message';

export interface FuzzCase {
  subject: SubjectKind;
  request: FuzzRequest;
}

export const subjectKinds: fc.Arbitrary<SubjectKind> = fc.oneof(
  { weight: 3, arbitrary: fc.constant<SubjectKind>('trying') },
  { weight: 4, arbitrary: fc.constant<SubjectKind>('tried') },
  { weight: 2, arbitrary: fc.constant<SubjectKind>('stuck') },
  { weight: 1, arbitrary: fc.constantFrom<SubjectKind>('none', 'confirmed', 'cancelled') },
);

export const fuzzCases: fc.Arbitrary<FuzzCase> = fc.oneof(
  { weight: 12, arbitrary: fc.record({ subject: subjectKinds, request: anyRequest }) },
  // A second caller's requests against the first one's transactions, each generated with its subject.
  { weight: 1, arbitrary: rivalCases },
);

export interface Finding {
  /** fast-check path of the case (replay: --seed <seed> --path <path>). */
  path: string;
  label: string;
  subject: SubjectKind;
  problems: Problem[];
  request: string;
  answer: string;
  /** Error lines the coordinator or the participant logged meanwhile. */
  logs: string[];
}

export interface FuzzStats {
  cases: number;
  /** Every HTTP request sent, the generated ones and those that prepared transactions. */
  requests: number;
  byStatus: Record<string, number>;
  /** Cases per route, split by answer class (2xx, 4xx, …): shows which paths changed state. */
  byRoute: Record<string, Record<string, number>>;
  refusalsChecked: number;
  /**
   * The timing check (timing.ts): generated requests whose cost was compared with their kind's, those above
   * its bound (suspects), those of them still above it when measured again (findings), and those that could
   * not be measured again for the same work (an accepted write, or answers unlike the first).
   */
  timing: { judged: number; suspects: number; slow: number; unconfirmed: number };
}

/** One request's measured cost, kept until the end of the run, when every kind's median is known. */
interface Measured {
  kinds: string[];
  costMs: number;
  bytes: number;
  /** Sending it again repeats the same work: a refusal (it writes nothing) or a read; an accepted write is answered from the log the second time. */
  repeatable: boolean;
  /** What a report and a second measurement need; kept only for requests that cost more than any bound can be below. */
  detail?: { fuzzCase: FuzzCase; path: string; ctx: RenderContext; answer: string; summary: string; description: string };
}

const FUZZ_REASON = 'fuzz: settle a stuck phase two';

class StuckWorldError extends Error {
  override readonly name = 'StuckWorldError';
}

/** Sends cases to one world; keeps the transactions under test between cases. */
export class FuzzSession {
  readonly stats: FuzzStats = {
    cases: 0,
    requests: 0,
    byStatus: {},
    byRoute: {},
    refusalsChecked: 0,
    timing: { judged: 0, suspects: 0, slow: 0, unconfirmed: 0 },
  };
  readonly #world: FuzzWorld;
  readonly #tag = randomBytes(3).toString('hex');
  #counter = 0;
  readonly #pool = new Map<SubjectKind, string>();
  /** The last refused case, to look for writes after its answer. */
  #lastRefusal: { at: number; marks: Marks; gids: string[]; finding: Finding } | null = null;
  /** Every generated request's cost, judged by checkCosts() at the end of the run. */
  readonly #measured: Measured[] = [];

  constructor(world: FuzzWorld) {
    this.#world = world;
  }

  #newGid(kind: string): string {
    return `fz${this.#tag}-${kind}-${++this.#counter}`;
  }

  #context(gid: string, newGid: string): RenderContext {
    const w = this.#world;
    return {
      gid,
      newGid,
      stub: w.urls.stub,
      participantFastify: w.urls.participantFastify,
      participantNode: w.urls.participantNode,
      apiToken: w.tokens.api,
      rivalToken: w.tokens.rival,
      operatorToken: w.tokens.operator,
      viewerToken: w.tokens.viewer,
      coordinatorKey: w.participantKeys.coordinator,
      initiator: w.participantKeys.initiator,
      initiatorKey: w.participantKeys.initiatorKey,
      now: Date.now(),
      ports: { coordinator: w.ports.coordinator, 'participant-fastify': w.ports.participantFastify, 'participant-node': w.ports.participantNode },
    };
  }

  /** Sends one request and measures its cost: the CPU time of this process (servers included) while it is in flight. */
  async #send(request: FuzzRequest, ctx: RenderContext) {
    const rendered = render(request, ctx);
    this.stats.requests++;
    const cpu = process.cpuUsage();
    // A request the server may rightly leave waiting (a body shorter than declared) gets a short timeout.
    const outcome = await sendRaw({ port: rendered.port, bytes: rendered.bytes, head: rendered.head, timeoutMs: request.mayGoUnanswered ? 700 : 30_000 });
    const spent = process.cpuUsage(cpu);
    const key = outcome.kind === 'reply' ? String(outcome.reply.status) : outcome.kind;
    this.stats.byStatus[key] = (this.stats.byStatus[key] ?? 0) + 1;
    return { rendered, outcome, costMs: (spent.user + spent.system) / 1000 };
  }

  /**
   * A well-formed request that prepares a transaction under test; anything but 2xx is a finding of its own.
   * Returns the reply's JSON body (`{}` when it has none).
   */
  async #setup(label: string, request: Omit<FuzzRequest, 'label'>, gid: string): Promise<Record<string, unknown>> {
    const { rendered, outcome } = await this.#send({ ...request, label: `setup ${label}` }, this.#context(gid, gid));
    if (outcome.kind === 'reply' && outcome.reply.status < 300) {
      try {
        return (JSON.parse(outcome.reply.body.toString('utf8')) as Record<string, unknown> | null) ?? {};
      } catch {
        return {};
      }
    }
    throw new SetupFailedError({
      path: 'setup',
      label: `setup ${label}`,
      subject: 'none',
      problems: [{ kind: 'crash', detail: `a valid request to prepare a transaction failed: ${describe(outcome)}` }],
      request: rendered.summary,
      answer: describe(outcome),
      logs: [],
    });
  }

  #api(method: string, path: string, body?: unknown): Omit<FuzzRequest, 'label'> {
    return {
      target: 'coordinator',
      method,
      path,
      headers: [['authorization', 'Bearer {{API_TOKEN}}'], ...(body === undefined ? [] : [['content-type', 'application/json'] as [string, string]])],
      ...(body === undefined ? {} : { body: { kind: 'json' as const, value: body } }),
    };
  }

  /** The initiator's try of `branchId`, with `registration`: the proof the begin's reply handed out for it (none: none came). */
  #signedTry(target: 'participant-fastify' | 'participant-node', branchId: string, registration: unknown): Omit<FuzzRequest, 'label'> {
    return {
      target,
      method: 'POST',
      path: '/dtx/account/try',
      headers: [
        ['dtx-gid', '{{GID}}'],
        ['dtx-branch-id', branchId],
        ['dtx-op', 'try'],
        ['dtx-timestamp', '{{NOW}}'],
        ['dtx-caller', '{{CALLER}}'],
        ...(typeof registration === 'string' ? [['dtx-registration', registration] as [string, string]] : []),
        ['content-type', 'application/json'],
      ],
      body: { kind: 'json', value: { amount: 1 } },
      sign: { key: 'good' },
    };
  }

  /** The gid of a transaction in state `kind`, prepared now or reused. */
  async #subject(kind: SubjectKind): Promise<string> {
    if (kind === 'none') return this.#newGid('none');
    const pooled = this.#pool.get(kind);
    if (pooled) return pooled;
    const gid = this.#newGid(kind);
    const timeoutMs = 6 * 3_600_000;
    const stubBranches = [
      { branchId: 'b1', confirmUrl: '{{STUB}}/ok/b1/confirm', cancelUrl: '{{STUB}}/ok/b1/cancel', payload: { amount: 1 } },
      { branchId: 'b2', confirmUrl: '{{STUB}}/ok/b2/confirm', cancelUrl: '{{STUB}}/ok/b2/cancel' },
    ];
    const participantBranches = [
      { branchId: 'b1', confirmUrl: '{{P_FASTIFY}}/confirm', cancelUrl: '{{P_FASTIFY}}/cancel', payload: { amount: 1 } },
      { branchId: 'b2', confirmUrl: '{{P_NODE}}/confirm', cancelUrl: '{{P_NODE}}/cancel', payload: { amount: 2 } },
    ];
    switch (kind) {
      case 'trying':
        await this.#setup('begin', this.#api('POST', '/v1/transactions', { gid, timeoutMs, branches: stubBranches }), gid);
        break;
      case 'tried':
      case 'confirmed':
      case 'cancelled': {
        const begun = await this.#setup('begin', this.#api('POST', '/v1/transactions', { gid, timeoutMs, branches: participantBranches }), gid);
        // The tries carry the registration proofs the begin's reply handed out, as a DtxClient's do.
        const proofs = (begun.proofs ?? {}) as Record<string, unknown>;
        await this.#setup('try b1', this.#signedTry('participant-fastify', 'b1', proofs['b1']), gid);
        await this.#setup('try b2', this.#signedTry('participant-node', 'b2', proofs['b2']), gid);
        if (kind === 'confirmed') await this.#setup('submit', this.#api('POST', `/v1/transactions/${gid}/submit`, { waitMs: 5000 }), gid);
        if (kind === 'cancelled') await this.#setup('abort', this.#api('POST', `/v1/transactions/${gid}/abort`, { waitMs: 5000 }), gid);
        break;
      }
      case 'saga':
        await this.#setup(
          'saga',
          this.#api('POST', '/v1/sagas', {
            gid,
            timeoutMs,
            waitMs: 5000,
            steps: [{ id: 's1', action: { url: '{{STUB}}/ok/s1/action', payload: { amount: 1 } }, compensate: { url: '{{STUB}}/ok/s1/compensate' } }],
          }),
          gid,
        );
        break;
      case 'message':
        // Prepared, never submitted: its check-back is due only at its deadline, hours away.
        await this.#setup(
          'message',
          this.#api('POST', '/v1/messages', {
            gid,
            timeoutMs,
            checkUrl: '{{STUB}}/ok/check',
            branches: [{ id: 'r1', url: '{{STUB}}/ok/r1/deliver', payload: { amount: 1 } }],
          }),
          gid,
        );
        break;
      case 'stuck':
        await this.#setup(
          'begin',
          this.#api('POST', '/v1/transactions', {
            gid,
            timeoutMs,
            branches: [{ branchId: 'b1', confirmUrl: '{{STUB}}/fail/b1/confirm', cancelUrl: '{{STUB}}/fail/b1/cancel' }],
          }),
          gid,
        );
        await this.#setup('submit', this.#api('POST', `/v1/transactions/${gid}/submit`, { waitMs: 0 }), gid);
        await this.#pause(gid);
        break;
    }
    this.#pool.set(kind, gid);
    return gid;
  }

  async #pause(gid: string): Promise<void> {
    const request: FuzzRequest = {
      label: 'settle pause',
      target: 'coordinator',
      method: 'POST',
      path: `/admin/v1/transactions/${gid}/pause`,
      headers: [
        ['authorization', 'Bearer {{OPERATOR_TOKEN}}'],
        ['content-type', 'application/json'],
      ],
      body: { kind: 'json', value: { reason: FUZZ_REASON } },
    };
    // 409 when it finished or got paused meanwhile: fine either way.
    const { rendered, outcome } = await this.#send(request, this.#context(gid, gid));
    if (outcome.kind === 'reply' && outcome.reply.status < 500) return;
    throw new SetupFailedError({
      path: 'settle',
      label: 'settle pause',
      subject: 'none',
      problems: [{ kind: 'crash', detail: `pausing a stuck phase two failed: ${describe(outcome)}` }],
      request: rendered.summary,
      answer: describe(outcome),
      logs: [],
    });
  }

  /**
   * Waits until nothing is in phase two or near its deadline. A phase two
   * that keeps failing (a branch at an address nobody answers) is paused
   * through the admin API, which is how an operator would stop it.
   */
  async settle(): Promise<void> {
    const started = Date.now();
    const busySince = new Map<string, number>();
    for (;;) {
      const now = Date.now();
      const busy = await busyTransactions(this.#world.logDb, now, 3_000);
      if (busy.length === 0) return;
      for (const { gid, status } of busy) {
        const since = busySince.get(gid) ?? now;
        busySince.set(gid, since);
        if ((status === 'committing' || status === 'rolling-back') && now - since > 1_500) {
          await this.#pause(gid);
          busySince.set(gid, Date.now());
        }
      }
      if (now - started > 20_000) throw new StuckWorldError(`transactions stay busy: ${busy.map((b) => `${b.gid} (${b.status})`).join(', ')}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /**
   * A refused request must not write later either: its marks are compared
   * once more when the next case starts — unless a deadline passed
   * meanwhile (the coordinator's own abort writes then), which leaves the
   * check inconclusive.
   */
  async #lateWrites(): Promise<Finding | null> {
    const last = this.#lastRefusal;
    this.#lastRefusal = null;
    if (!last) return null;
    const world = this.#world;
    const now = Date.now();
    if ((await busyTransactions(world.logDb, now, 0)).length > 0) return null;
    if (await deadlineBetween(world.logDb, last.at - 3_000, now + 3_000)) return null;
    const changed = diffMarks(last.marks, await takeMarks(world.logDb, world.participantDb, last.gids));
    if (changed.length === 0) return null;
    return { ...last.finding, problems: [{ kind: 'state-changed', detail: `refused, and changed after its answer: ${changed.join('; ')}` }] };
  }

  /** One case: prepare, settle, send, judge. Returns its findings (and a late write of the case before). */
  async runCase(fuzzCase: FuzzCase, path: string): Promise<Finding[]> {
    const started = performance.now();
    this.stats.cases++;
    const findings: Finding[] = [];
    const late = await this.#lateWrites();
    if (late) findings.push(late);
    const route = fuzzCase.request.label
      .split(' / ')[0]!
      .split(' + ')[0]!
      .replace(/ \(bad path (gid|id)\)$/, '');
    let gid: string;
    try {
      gid = await this.#subject(fuzzCase.subject);
      await this.settle();
    } catch (error) {
      if (error instanceof SetupFailedError) return [...findings, { ...error.finding, path, subject: fuzzCase.subject }];
      throw error;
    }
    const ctx = this.#context(gid, this.#newGid('new'));
    const rendered = render(fuzzCase.request, ctx);
    const world = this.#world;
    const before = await takeMarks(world.logDb, world.participantDb, rendered.gids);
    const coordinatorMark = world.coordinatorLog.mark();
    const participantMark = world.participantLog.mark();
    const { outcome, costMs } = await this.#send(fuzzCase.request, ctx);
    const problems = judge(fuzzCase.request, outcome, { apiAuthActive: world.apiAuthActive, httpInvalid: rendered.httpInvalid });

    const status = outcome.kind === 'reply' ? outcome.reply.status : null;
    const answerClass = status === null ? outcome.kind : `${Math.floor(status / 100)}xx`;
    this.#measure({ fuzzCase, path, ctx, route, rendered, outcome, costMs });
    const perRoute = (this.stats.byRoute[route] ??= {});
    perRoute[answerClass] = (perRoute[answerClass] ?? 0) + 1;
    if (process.env['DTX_FUZZ_TRACE']) {
      const text = outcome.kind === 'reply' ? outcome.reply.body.toString('utf8').slice(0, 160) : '';
      process.stderr.write(
        `[fuzz] ${path} ${Math.round(performance.now() - started)}ms ${fuzzCase.subject} ${fuzzCase.request.label} → ${status ?? outcome.kind} ${text}\n`,
      );
    }
    const refused = status === null ? outcome.kind === 'closed' || fuzzCase.request.mayGoUnanswered === true : status >= 400;
    const finding = (list: Problem[]): Finding => ({
      path,
      label: fuzzCase.request.label,
      subject: fuzzCase.subject,
      problems: list,
      request: rendered.summary,
      answer: describe(outcome),
      logs: [
        ...world.coordinatorLog.since(coordinatorMark).map((l) => `coordinator: ${l.trim()}`),
        ...world.participantLog.since(participantMark).map((l) => `participant: ${l.trim()}`),
      ],
    });
    if (refused) {
      this.stats.refusalsChecked++;
      const after = await takeMarks(world.logDb, world.participantDb, rendered.gids);
      const changed = diffMarks(before, after);
      if (changed.length > 0) problems.push({ kind: 'state-changed', detail: `refused (${status ?? outcome.kind}) but changed: ${changed.join('; ')}` });
      else this.#lastRefusal = { at: Date.now(), marks: after, gids: rendered.gids, finding: finding([]) };
    }
    if (status !== null && status < 300 && fuzzCase.request.method !== 'GET' && fuzzCase.request.method !== 'HEAD') {
      // It may have changed the transaction under test: prepare a fresh one next time.
      this.#pool.delete(fuzzCase.subject);
    }
    if (problems.length > 0) findings.push(finding(problems));
    return findings;
  }

  /** Keeps a generated request's cost for checkCosts(). */
  #measure(sent: { fuzzCase: FuzzCase; path: string; ctx: RenderContext; route: string; rendered: RenderedRequest; outcome: RawOutcome; costMs: number }) {
    const { fuzzCase, path, ctx, rendered, outcome, costMs } = sent;
    const answer = outcome.kind === 'reply' ? String(outcome.reply.status) : outcome.kind;
    const accepted = /^2\d\d$/.test(answer);
    const measured: Measured = {
      kinds: costKinds(fuzzCase.request.target, sent.route, answer),
      costMs,
      bytes: rendered.bytes.length,
      repeatable: !accepted || fuzzCase.request.method === 'GET' || fuzzCase.request.method === 'HEAD',
    };
    // Every bound is at least the slack above a median of zero or more: cheaper requests need no second look.
    if (costMs > TIMING.slackMs) measured.detail = { fuzzCase, path, ctx, answer, summary: rendered.summary, description: describe(outcome) };
    this.#measured.push(measured);
  }

  /**
   * The timing check, once the run is over and the costs of every kind are
   * known (timing.ts): a generated request above its kind's bound is sent
   * again TIMING.repeats times, and is a finding when the fastest of its
   * measurements (those answered as the first was) is still above it.
   */
  async checkCosts(): Promise<Finding[]> {
    const book = new CostBook();
    for (const m of this.#measured) book.add(m.kinds, m.costMs);
    const findings: Finding[] = [];
    const timing = this.stats.timing;
    for (const m of this.#measured) {
      const bound = book.bound(m.kinds, m.bytes);
      if (!bound) continue;
      timing.judged++;
      if (m.costMs <= bound.boundMs || !m.detail) continue;
      timing.suspects++;
      const { fuzzCase, path, ctx, answer } = m.detail;
      const costs = [m.costMs];
      for (let i = 0; m.repeatable && i < TIMING.repeats; i++) {
        await this.settle();
        // A fresh timestamp, so that a signed participant call is not refused as stale this time.
        const again = await this.#send(fuzzCase.request, { ...ctx, now: Date.now() });
        const answeredAs = again.outcome.kind === 'reply' ? String(again.outcome.reply.status) : again.outcome.kind;
        // Only the same answer is a measurement of the same work.
        if (answeredAs === answer) costs.push(again.costMs);
      }
      if (costs.length === 1) {
        timing.unconfirmed++;
        continue;
      }
      const fastest = Math.min(...costs);
      if (fastest <= bound.boundMs) continue;
      timing.slow++;
      findings.push({
        path,
        label: fuzzCase.request.label,
        subject: fuzzCase.subject,
        problems: [
          {
            kind: 'slow',
            detail:
              `costs ${ms(fastest)} ms of CPU at the fastest of ${costs.length} measurements (${costs.map(ms).join(', ')}), ` +
              `where "${bound.kind}" costs ${ms(bound.medianMs)} ms (median of ${bound.samples}, MAD ${ms(bound.madMs)}): bound ${ms(bound.boundMs)} ms`,
          },
        ],
        request: m.detail.summary,
        answer: m.detail.description,
        logs: [],
      });
    }
    return findings;
  }
}

const ms = (value: number) => value.toFixed(1);

class SetupFailedError extends Error {
  override readonly name = 'SetupFailedError';
  constructor(readonly finding: Finding) {
    super(finding.problems[0]?.detail ?? 'setup failed');
  }
}

export function describe(outcome: RawOutcome): string {
  if (outcome.kind !== 'reply') return `${outcome.kind} after ${outcome.ms} ms`;
  const { status, headers, body } = outcome.reply;
  const text = body.toString('utf8');
  return `HTTP ${status} ${headers['content-type'] ?? '(no content-type)'} ${text.length > 400 ? `${text.slice(0, 400)}…` : text}`;
}

export interface FuzzRunOptions {
  runs: number;
  seed: number;
  /** Replays this path only (from a finding), and shrinks it to a smallest failing case. */
  path?: string;
  /** Cases run before the generated ones (known trouble). */
  examples?: FuzzCase[];
  onProgress?: (done: number, findings: number, stats: FuzzStats) => void;
}

export interface FuzzRunResult {
  seed: number;
  findings: Finding[];
  stats: FuzzStats;
  /** With `path`: the smallest failing case fast-check shrank to. */
  shrunk?: { finding: Finding; numShrinks: number } | undefined;
}

/**
 * Runs the cases. Without `path` every case runs and every finding is kept
 * (the property never fails, so the run is not cut short). With `path` one
 * case is replayed and, if it still fails, shrunk.
 */
export async function runFuzz(session: FuzzSession, options: FuzzRunOptions): Promise<FuzzRunResult> {
  const findings: Finding[] = [];
  const examples = (options.examples ?? []).map((example) => [example] as [FuzzCase]);
  let index = 0;
  if (options.path === undefined) {
    // An error of the run itself (a world that does not settle, a lost database) ends it: later cases could not be judged.
    let broken = false;
    const property = fc.asyncProperty(fuzzCases, async (fuzzCase) => {
      const path = String(index++);
      if (broken) return true;
      try {
        findings.push(...(await session.runCase(fuzzCase, path)));
      } catch (error) {
        broken = true;
        findings.push({
          path,
          label: `run stopped at ${fuzzCase.request.label}`,
          subject: fuzzCase.subject,
          problems: [{ kind: 'crash', detail: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }],
          request: '',
          answer: '',
          logs: [],
        });
      }
      options.onProgress?.(index, findings.length, session.stats);
      return true;
    });
    const details = await fc.check(property, { numRuns: options.runs, seed: options.seed, examples });
    if (details.failed) throw details.errorInstance instanceof Error ? details.errorInstance : new Error(String(details.errorInstance));
    if (!broken) {
      try {
        findings.push(...(await session.checkCosts()));
      } catch (error) {
        findings.push({
          path: 'timing',
          label: 'timing check stopped',
          subject: 'none',
          problems: [{ kind: 'crash', detail: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }],
          request: '',
          answer: '',
          logs: [],
        });
      }
    }
    return { seed: options.seed, findings, stats: session.stats };
  }

  let last: Finding | null = null;
  const property = fc.asyncProperty(fuzzCases, async (fuzzCase) => {
    const found = await session.runCase(fuzzCase, options.path!);
    if (found.length > 0) {
      last = found[found.length - 1]!;
      findings.push(...found);
      return false;
    }
    return true;
  });
  const details = await fc.check(property, { numRuns: options.runs, seed: options.seed, path: options.path, examples });
  const shrunk = details.failed && last ? { finding: last as Finding, numShrinks: details.numShrinks } : undefined;
  return { seed: options.seed, findings, stats: session.stats, shrunk };
}
