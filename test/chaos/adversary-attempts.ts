/**
 * What the adversary tries, kind by kind, and the one refusal each must get
 * (docs/security.md, "An initiator"): pure, no I/O.
 *
 * The adversary is a legitimate initiator at its own bank — a /v1 token
 * scoped to some modes there, and its own initiator key at each bank — and
 * uses exactly that against the load's transactions: deciding or joining
 * them, re-sending their gids with its own content, registering where its
 * scope does not reach, signing the coordinators' ops (or another
 * initiator's tries) with its own key, and trying its own payload under
 * another's branch, with the registration proof a capture of the owner's try
 * would show (the header travels in clear) or none. Every attempt that could
 * change something, if let through, is built to do harm: a confirm forged
 * before the coordinator's, a saga that credits money out of nowhere, a try
 * the owner's confirm would take for its own.
 *
 * A bank checks a try (prepare) in this order, and the expected refusal is
 * the first check that fails: the signature (401), the resource's callers
 * allow-list (409 CALLER_NOT_ALLOWED; the banks set none), the registration
 * proof (409 NOT_REGISTERED).
 */
import { MESSAGE_SENDER_BRANCH, type BranchOp } from '@dtx/participant-sdk';
import { BANKS, type BankName } from '../../examples/bank-transfer/cluster/cluster.ts';
import type { Random } from '../../examples/bank-transfer/cluster/random.ts';
import type { Target } from './adversary-log.ts';
import type { BranchSpec, Resource } from './orderings.ts';

/** What the adversary holds — its token and its own key at each bank, nothing else — and what any service would know. */
export interface AdversaryIdentity {
  caller: string;
  token: string;
  /** Its own initiator key at each bank: it signs its tries and prepares there, and nothing else verifies with it. */
  keys: Record<BankName, string>;
  /** The modes its token may begin, at `ownBank` only; `otherBank` is outside its scope. */
  modes: readonly string[];
  ownBank: BankName;
  otherBank: BankName;
  bankUrls: Record<BankName, string>;
  /** Initiators the banks take tries from (the transfer services), by caller name: whose name it tries in. */
  otherInitiators: readonly string[];
  accountIds: readonly string[];
}

export interface Refusal {
  status: number;
  code: string;
}

export type Attempt =
  | { to: 'coordinator'; gid: string; path: string; body: unknown; expected: Refusal; what: string }
  | {
      to: 'bank';
      gid: string;
      bank: BankName;
      resource: Resource;
      op: BranchOp;
      branchId: string;
      /** The `dtx-caller` it signs. */
      caller: string;
      body: string;
      /** The `dtx-registration` header it sends (a captured proof), if any. */
      registration?: string;
      expected: Refusal;
      what: string;
    };

const NOT_OWNER: Refusal = { status: 403, code: 'NOT_OWNER' };
const OUT_OF_SCOPE: Refusal = { status: 403, code: 'OUT_OF_SCOPE' };
const GID_CONFLICT: Refusal = { status: 409, code: 'GID_CONFLICT' };
const SIGNATURE_MISMATCH: Refusal = { status: 401, code: 'SIGNATURE_MISMATCH' };
const SIGNATURE_UNKNOWN_CALLER: Refusal = { status: 401, code: 'SIGNATURE_UNKNOWN_CALLER' };
const NOT_REGISTERED: Refusal = { status: 409, code: 'NOT_REGISTERED' };

/** A name no bank holds an initiator key for. */
const UNKNOWN_CALLER = 'unknown-initiator';
/** The id of a branch the adversary registers into another's transaction. */
const ITS_BRANCH = 'adversary';
/** Its own transactions (fresh gids) end soon, should one ever be let through. */
const OWN_TIMEOUT_MS = 2_000;

export interface BuildContext {
  id: AdversaryIdentity;
  random: Random;
  /** One of the load's transactions: set for targeted kinds. */
  target: Target | null;
  /** A gid of its own, for the kinds that are not aimed at a transaction of the load. */
  freshGid: string;
}

type Aimed = BuildContext & { target: Target };

/**
 * A kind of attempt: aimed at one of the load's transactions, or at a fresh gid of its own;
 * `weight`: attempts of this kind per unit of a run's intensity, relative to the others.
 */
type KindSpec = { targeted: true; weight: number; build(ctx: Aimed): Attempt } | { targeted: false; weight: number; build(ctx: BuildContext): Attempt };

const aimed = (weight: number, build: (ctx: Aimed) => Attempt): KindSpec => ({ targeted: true, weight, build });
const own = (build: (ctx: BuildContext) => Attempt): KindSpec => ({ targeted: false, weight: 1, build });

const url = (id: AdversaryIdentity, bank: BankName, resource: Resource, op: BranchOp) => `${id.bankUrls[bank]}/dtx/${resource}/${op}`;
const leg = (ctx: BuildContext) => ({ account: ctx.random.pick(ctx.id.accountIds), amount: ctx.random.int(1, 600) });

function api(gid: string, path: string, body: unknown, expected: Refusal, what: string): Attempt {
  return { to: 'coordinator', gid, path, body, expected, what: `POST ${path}: ${what}` };
}

/** Re-sending another's gid in `mode`: outside its modes, the scope answers first; a gid of another mode is taken; else it is another's. */
function onOthersGid(ctx: Aimed, mode: string): Refusal {
  if (!ctx.id.modes.includes(mode)) return OUT_OF_SCOPE;
  return ctx.target.mode === mode ? NOT_OWNER : GID_CONFLICT;
}

/** Per op the adversary forges at a bank: the bank's resources that answer it, and the branch id the load uses for each. */
const FORGED: Record<string, { resources: Resource[]; branchId: (resource: Resource) => string }> = {
  confirm: { resources: ['debit', 'credit'], branchId: (r) => (r === 'debit' ? '01' : '02') },
  cancel: { resources: ['debit', 'credit'], branchId: (r) => (r === 'debit' ? '01' : '02') },
  action: { resources: ['saga-debit', 'saga-credit'], branchId: (r) => r.replace('saga-', '') },
  compensate: { resources: ['saga-debit', 'saga-credit'], branchId: (r) => r.replace('saga-', '') },
  deliver: { resources: ['msg-credit'], branchId: () => 'credit' },
  check: { resources: ['transfers-out'], branchId: () => MESSAGE_SENDER_BRANCH },
  commit: { resources: ['xa-debit', 'xa-credit'], branchId: (r) => (r === 'xa-debit' ? '01' : '02') },
  rollback: { resources: ['xa-debit', 'xa-credit'], branchId: (r) => (r === 'xa-debit' ? '01' : '02') },
};

/** Phase two's ops of FMT: forged at an FMT target's own resources (XA's elsewhere: FORGED). */
const FMT_RESOURCES: Resource[] = ['fmt-debit', 'fmt-credit'];
const FMT_PHASE_TWO: readonly BranchOp[] = ['commit', 'rollback'];

/** The load's branch id of a made-up branch on a debit (01) or credit (02) resource of a two-phase mode. */
const twoPhaseBranchId = (resource: Resource) => (resource.endsWith('debit') ? '01' : '02');

/** The first op of a branch of the target's mode, and the resources that answer it: XA's prepare, FMT's execute, else TCC's try. */
function firstPhaseOf(target: Target): { op: BranchOp; resources: Resource[] } {
  if (target.mode === 'xa') return { op: 'prepare', resources: ['xa-debit', 'xa-credit'] };
  if (target.mode === 'fmt') return { op: 'execute', resources: FMT_RESOURCES };
  return { op: 'try', resources: ['debit', 'credit'] };
}

/** One of the target's real branches on `resources` (its body as registered), or one made up for its gid when it has none there. */
function branchOf(ctx: Aimed, resources: Resource[], branchId: (resource: Resource) => string): BranchSpec {
  const real = ctx.target.branches.filter((branch) => resources.includes(branch.resource));
  if (real.length > 0) return ctx.random.pick(real);
  const resource = ctx.random.pick(resources);
  const body = resource === 'transfers-out' ? '{}' : JSON.stringify(leg(ctx));
  const bank = resource === 'transfers-out' ? (ctx.target.senderBank ?? ctx.random.pick(BANKS)) : ctx.random.pick(BANKS);
  return { branchId: branchId(resource), bank, resource, body, caller: ctx.random.pick(ctx.id.otherInitiators) };
}

function signedCall(ctx: Aimed, branch: BranchSpec, op: BranchOp, caller: string, expected: Refusal, how: string): Attempt {
  return {
    to: 'bank',
    gid: ctx.target.gid,
    bank: branch.bank,
    resource: branch.resource,
    op,
    branchId: branch.branchId,
    caller,
    body: branch.body,
    expected,
    what: `${op} of branch ${branch.branchId} (${branch.resource}) at bank ${branch.bank}, signed with its own key ${how}`,
  };
}

/** A coordinator's op at a bank, signed with the adversary's own initiator key: as itself, or as the branch's initiator. */
function forge(op: BranchOp): KindSpec {
  const spec = FORGED[op]!;
  return aimed(1, (ctx) => {
    // An FMT transaction's commit and rollback are forged at its own branches (FMT resources), an XA one's at XA's.
    const fmt = ctx.target.mode === 'fmt' && FMT_PHASE_TWO.includes(op);
    const branch = fmt ? branchOf(ctx, FMT_RESOURCES, twoPhaseBranchId) : branchOf(ctx, spec.resources, spec.branchId);
    const caller = ctx.random.pick([ctx.id.caller, branch.caller]);
    return signedCall(ctx, branch, op, caller, SIGNATURE_MISMATCH, `as ${caller}`);
  });
}

/** The first op of the target's branch (an XA branch's prepare, an FMT branch's execute, else a try), as `caller`. */
function tryAs(pickCaller: (ctx: BuildContext) => string, expected: Refusal): KindSpec {
  return aimed(1, (ctx) => {
    const first = firstPhaseOf(ctx.target);
    const branch = branchOf(ctx, first.resources, twoPhaseBranchId);
    const caller = pickCaller(ctx);
    return signedCall(ctx, branch, first.op, caller, expected, `in the name of ${caller}`);
  });
}

/**
 * Its own payload as the first op of the target's branch (an XA branch's prepare, an FMT branch's execute, else a try), signed as
 * itself: a signature the bank verifies, by a caller no bank resource turns away, so only the
 * registration proof stands in the way — the branch is the owner's (or no one's: a branch made up
 * under the target's gid), and a proof names its caller. It sends the owner's proof, as a capture
 * of the owner's try would show it, or none. Let through, the owner's confirm would apply its payload.
 */
function tryUnderOthersBranch(): KindSpec {
  return aimed(2, (ctx) => {
    const first = firstPhaseOf(ctx.target);
    const real = branchOf(ctx, first.resources, twoPhaseBranchId);
    const branch = { ...real, body: JSON.stringify(leg(ctx)) };
    const captured = real.registration !== undefined && ctx.random.int(0, 1) === 1 ? real.registration : undefined;
    const attempt = signedCall(ctx, branch, first.op, ctx.id.caller, NOT_REGISTERED, 'as itself, with its own payload');
    return captured === undefined
      ? { ...attempt, what: `${attempt.what}, without a registration proof` }
      : { ...attempt, registration: captured, what: `${attempt.what}, with the proof of its owner ${real.caller}` };
  });
}

/** A TCC (XA) branch crediting an account at `bank`, for a begin or a registration. */
function twoPhaseBranch(ctx: BuildContext, bank: BankName, mode: 'tcc' | 'xa', branchId: string) {
  const [resource, first, second] = mode === 'xa' ? (['xa-credit', 'commit', 'rollback'] as const) : (['credit', 'confirm', 'cancel'] as const);
  return { branchId, [`${first}Url`]: url(ctx.id, bank, resource, first), [`${second}Url`]: url(ctx.id, bank, resource, second), payload: leg(ctx) };
}

/** A one-step saga crediting an account at `bank`: money out of nowhere, if it ever ran. */
function creditSaga(ctx: BuildContext, gid: string, bank: BankName) {
  const payload = leg(ctx);
  const step = {
    id: 'credit',
    action: { url: url(ctx.id, bank, 'saga-credit', 'action'), payload },
    compensate: { url: url(ctx.id, bank, 'saga-credit', 'compensate'), payload },
  };
  return { gid, timeoutMs: OWN_TIMEOUT_MS, waitMs: 0, steps: [step] };
}

/** A message crediting an account at `receiverBank`, with its check-back at `senderBank`. */
function creditMessage(ctx: BuildContext, gid: string, senderBank: BankName, receiverBank: BankName) {
  return {
    gid,
    checkUrl: url(ctx.id, senderBank, 'transfers-out', 'check'),
    timeoutMs: OWN_TIMEOUT_MS,
    branches: [{ id: 'credit', url: url(ctx.id, receiverBank, 'msg-credit', 'deliver'), payload: leg(ctx) }],
  };
}

export const ATTEMPT_KINDS = {
  'submit-others': aimed(2, ({ target }) =>
    api(target.gid, `/v1/transactions/${target.gid}/submit`, { waitMs: 0 }, NOT_OWNER, "submit another caller's transaction"),
  ),
  'abort-others': aimed(2, ({ target }) =>
    api(target.gid, `/v1/transactions/${target.gid}/abort`, { waitMs: 0, reason: 'adversary' }, NOT_OWNER, "abort another caller's transaction"),
  ),
  'register-in-others': aimed(2, (ctx) =>
    api(
      ctx.target.gid,
      `/v1/transactions/${ctx.target.gid}/branches`,
      // Naming its branches' mode, as the SDK's initiator does (left out, the coordinator takes the transaction's
      // mode from its log, and one outside the adversary's scope, XA's or FMT's, is refused for the scope first).
      { mode: 'tcc', branches: [twoPhaseBranch(ctx, ctx.id.ownBank, 'tcc', ITS_BRANCH)] },
      NOT_OWNER,
      "register a credit of its own in another caller's transaction",
    ),
  ),
  'begin-on-others-gid': aimed(1, (ctx) => {
    // In the target's mode where it is a begin (XA, outside its scope: refused for the mode first), else TCC.
    const mode = ctx.target.mode === 'xa' ? 'xa' : 'tcc';
    return api(
      ctx.target.gid,
      '/v1/transactions',
      { gid: ctx.target.gid, mode, timeoutMs: OWN_TIMEOUT_MS, branches: [twoPhaseBranch(ctx, ctx.id.ownBank, mode, '01')] },
      onOthersGid(ctx, mode),
      `re-send another caller's gid as a ${mode} begin with a branch of its own`,
    );
  }),
  'saga-on-others-gid': aimed(1, (ctx) =>
    api(
      ctx.target.gid,
      '/v1/sagas',
      creditSaga(ctx, ctx.target.gid, ctx.id.ownBank),
      onOthersGid(ctx, 'saga'),
      "re-send another caller's gid as a saga of its own",
    ),
  ),
  'message-on-others-gid': aimed(1, (ctx) =>
    api(
      ctx.target.gid,
      '/v1/messages',
      creditMessage(ctx, ctx.target.gid, ctx.id.ownBank, ctx.id.ownBank),
      onOthersGid(ctx, 'msg'),
      "re-send another caller's gid as a message of its own",
    ),
  ),
  'saga-step-out-of-scope': own((ctx) =>
    api(ctx.freshGid, '/v1/sagas', creditSaga(ctx, ctx.freshGid, ctx.id.otherBank), OUT_OF_SCOPE, 'a saga step outside its scope'),
  ),
  'receiver-out-of-scope': own((ctx) =>
    api(ctx.freshGid, '/v1/messages', creditMessage(ctx, ctx.freshGid, ctx.id.ownBank, ctx.id.otherBank), OUT_OF_SCOPE, 'a message receiver outside its scope'),
  ),
  'check-back-out-of-scope': own((ctx) =>
    api(
      ctx.freshGid,
      '/v1/messages',
      creditMessage(ctx, ctx.freshGid, ctx.id.otherBank, ctx.id.ownBank),
      OUT_OF_SCOPE,
      'a message check-back outside its scope',
    ),
  ),
  'branch-out-of-scope': own((ctx) =>
    api(
      ctx.freshGid,
      '/v1/transactions',
      { gid: ctx.freshGid, mode: 'tcc', timeoutMs: OWN_TIMEOUT_MS, branches: [twoPhaseBranch(ctx, ctx.id.otherBank, 'tcc', '01')] },
      OUT_OF_SCOPE,
      'a TCC branch outside its scope',
    ),
  ),
  'mode-out-of-scope': own((ctx) => {
    if (ctx.id.modes.includes('xa')) throw new Error("the adversary's scope must leave out XA: its mode-out-of-scope attempts begin XA transactions");
    return api(
      ctx.freshGid,
      '/v1/transactions',
      { gid: ctx.freshGid, mode: 'xa', timeoutMs: OWN_TIMEOUT_MS, branches: [twoPhaseBranch(ctx, ctx.id.ownBank, 'xa', '01')] },
      OUT_OF_SCOPE,
      'an XA begin, a mode outside its scope',
    );
  }),
  'forge-confirm': forge('confirm'),
  'forge-cancel': forge('cancel'),
  'forge-action': forge('action'),
  'forge-compensate': forge('compensate'),
  'forge-deliver': forge('deliver'),
  'forge-check': forge('check'),
  'forge-commit': forge('commit'),
  'forge-rollback': forge('rollback'),
  'try-as-another-initiator': tryAs((ctx) => ctx.random.pick(ctx.id.otherInitiators), SIGNATURE_MISMATCH),
  'try-as-unknown-caller': tryAs(() => UNKNOWN_CALLER, SIGNATURE_UNKNOWN_CALLER),
  'try-under-others-branch': tryUnderOthersBranch(),
} satisfies Record<string, KindSpec>;

export type AttemptKind = keyof typeof ATTEMPT_KINDS;
export const ATTEMPT_KIND_NAMES = Object.keys(ATTEMPT_KINDS) as AttemptKind[];

export const isTargeted = (kind: AttemptKind): boolean => ATTEMPT_KINDS[kind].targeted;
export const weightOf = (kind: AttemptKind): number => ATTEMPT_KINDS[kind].weight;

/** The attempt of `kind`; null for a targeted kind without a target (nothing of the load seen yet). */
export function buildAttempt(kind: AttemptKind, ctx: BuildContext): Attempt | null {
  const spec: KindSpec = ATTEMPT_KINDS[kind];
  if (!spec.targeted) return spec.build(ctx);
  return ctx.target === null ? null : spec.build({ ...ctx, target: ctx.target });
}
