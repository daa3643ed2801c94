/**
 * Forced orderings: the harness plays initiator or coordinator
 * and delivers branch calls in the orders networks and retries can produce —
 * a cancel before its try, a try after the transaction timed out, a try
 * racing its cancel, duplicated and shuffled confirm/cancel deliveries, for
 * sagas duplicated actions and compensations, and for messages duplicated
 * deliveries and late check-backs —
 * each signed as its real sender signs it (participant-sdk protocol module):
 * a try or a prepare with the initiator's own key at the bank and the
 * coordinator's registration proof of its branch, every other op with the
 * coordinators' key. What each must (not) do is checked where it is visible
 * at once; the audit checks the rest at the end.
 *
 * The harness's own transactions (a cancel before its try, a try after the
 * timeout, a try racing its cancel) are TCC transfers, except where the
 * load's transfers are FMT: there they are FMT transfers (an execute for the
 * try, a rollback for the cancel). A TCC try writes an account row outside
 * FMT's global locks; an FMT rollback finding the row changed since its
 * execute would rightly refuse to overwrite it (a dirty write) and wait for
 * an operator.
 */
import { clusterCredentials, TOOLS_CALLER, type BankName } from '../../examples/bank-transfer/cluster/cluster.ts';
import type { Random } from '../../examples/bank-transfer/cluster/random.ts';
import { callHeaders, isInitiatorOp, MESSAGE_SENDER_BRANCH, registrationProof, type BranchOp } from '@dtx/participant-sdk';
import { waitFor } from '../../tools/wait.ts';
import { LOGGED } from './log-words.ts';
import type { ChaosWorld } from './world.ts';

/** The bank's TCC, saga, message, XA and FMT resources (the load's transfers in each mode; replays reach them too). */
export type Resource =
  'debit' | 'credit' | 'saga-debit' | 'saga-credit' | 'msg-credit' | 'transfers-out' | 'xa-debit' | 'xa-credit' | 'fmt-debit' | 'fmt-credit';

/**
 * Per mode, what a replay delivers to a branch of a finished transaction: the
 * op its outcome called (`committed`, `rolled-back`), and the op that came
 * first (a TCC try, a saga's action) arriving late.
 */
const REPLAYED: Record<string, { committed: BranchOp; 'rolled-back': BranchOp; late: BranchOp }> = {
  tcc: { committed: 'confirm', 'rolled-back': 'cancel', late: 'try' },
  saga: { committed: 'action', 'rolled-back': 'compensate', late: 'action' },
  xa: { committed: 'commit', 'rolled-back': 'rollback', late: 'prepare' },
  fmt: { committed: 'commit', 'rolled-back': 'rollback', late: 'execute' },
};

/**
 * How the harness's own transactions run (see the module comment): the mode
 * it begins them in, the resources of their debit and credit, the op it
 * plays initiator with (the try, or FMT's execute) and the one it plays
 * coordinator with (the cancel, or FMT's rollback), the op a commit calls, and
 * the status the API names a rolled-back one by.
 */
interface HarnessMode {
  mode: 'tcc' | 'fmt';
  debit: Resource;
  credit: Resource;
  first: BranchOp;
  commit: BranchOp;
  undo: BranchOp;
  rolledBack: string;
}

const HARNESS_MODES: Record<HarnessMode['mode'], HarnessMode> = {
  tcc: { mode: 'tcc', debit: 'debit', credit: 'credit', first: 'try', commit: 'confirm', undo: 'cancel', rolledBack: 'cancelled' },
  fmt: { mode: 'fmt', debit: 'fmt-debit', credit: 'fmt-credit', first: 'execute', commit: 'commit', undo: 'rollback', rolledBack: 'rolled-back' },
};

/** The harness's mode in `world`: FMT where the load's transfers are FMT, else TCC. */
function harnessMode(world: ChaosWorld): HarnessMode {
  return HARNESS_MODES[world.options.mode === 'fmt' ? 'fmt' : 'tcc'];
}

/**
 * What a replay sends a transaction still in phase two (`committing` or
 * `rolling-back`), if anything: its decided op. Not to a running saga (its
 * coordinator calls a step only once the steps before it succeeded, an order
 * a replay cannot know), nor to an aborting message (its receivers are
 * dropped uncalled).
 */
function inFlightOp(mode: string, status: string): BranchOp | undefined {
  const committing = status === 'committing';
  if (mode === 'msg') return committing ? 'deliver' : undefined;
  if (mode === 'saga' && committing) return undefined;
  return REPLAYED[mode]?.[committing ? 'committed' : 'rolled-back'];
}

export interface BranchSpec {
  branchId: string;
  bank: BankName;
  resource: Resource;
  /** The JSON body, exactly as registered (the coordinator sends it verbatim). */
  body: string;
  /**
   * The caller the branch's calls act for: the initiator that registered it (the harness's own
   * transactions: `tools`). A replayed try is signed with that initiator's key, as it sent it.
   */
  caller: string;
  /**
   * The coordinator's registration proof of the branch for `caller`, which its try (prepare) carries:
   * from the begin's reply for the harness's own transactions, else made as the coordinator made it
   * for the initiator that registered it. Absent: none was handed out (a saga step, a receiver, a
   * branch made up).
   */
  registration?: string;
}

interface Reply {
  /** null: no reply (connection refused, timeout). */
  status: number | null;
  code: string | null;
}

/** One signed call to a bank's participant endpoint, directly (no proxy), as its sender signs it. */
async function callBranch(world: ChaosWorld, gid: string, branch: BranchSpec, op: BranchOp): Promise<Reply> {
  const url = `${world.cluster.bankUrls[branch.bank]}/dtx/${branch.resource}/${op}`;
  const credentials = clusterCredentials(world.secret);
  const key = isInitiatorOp(op) ? credentials.initiatorKey(branch.caller, branch.bank) : credentials.bankKey(branch.bank);
  // An FMT execute names the coordinator that holds its rows' global locks, as the initiator's SDK does: one that answers.
  const coordinator = op === 'execute' ? ((await world.coordinatorUrl()) ?? world.coordinatorUrls()[0]) : undefined;
  const headers = callHeaders(key, {
    url,
    gid,
    branchId: branch.branchId,
    op,
    body: branch.body,
    timestamp: Date.now(),
    caller: branch.caller,
    ...(coordinator === undefined ? {} : { coordinator }),
    ...(isInitiatorOp(op) && branch.registration !== undefined ? { registration: branch.registration } : {}),
  });
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers,
      body: branch.body,
      signal: AbortSignal.timeout(5_000),
    });
    const reply = (await response.json().catch(() => ({}))) as { code?: string };
    if (response.status === 401) {
      // Signed with the key its real sender holds: a replay refused for its signature would prove nothing.
      world.findings.push({
        invariant: "a call signed as its sender signs it (an initiator's try or prepare, the coordinators' other ops) is never refused for its signature",
        detail: `${op} of branch ${branch.branchId} for ${branch.caller} at bank ${branch.bank} answered 401 ${reply.code ?? ''}`.trim(),
        gids: [gid],
      });
    }
    if (response.status === 409 && reply.code === 'NOT_REGISTERED' && branch.registration !== undefined) {
      // The proof the coordinator handed its initiator: a replay refused for it would prove nothing either.
      world.findings.push({
        invariant: 'a try or prepare carrying the registration proof the coordinator handed its initiator is never refused NOT_REGISTERED',
        detail: `${op} of branch ${branch.branchId} for ${branch.caller} at bank ${branch.bank} answered 409 NOT_REGISTERED`,
        gids: [gid],
      });
    }
    return { status: response.status, code: reply.code ?? null };
  } catch {
    return { status: null, code: null };
  }
}

/** A call to the coordinator API of any instance that answers; null if none does. */
async function coordinatorCall(
  world: ChaosWorld,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> } | null> {
  const base = await world.coordinatorUrl();
  if (!base) return null;
  try {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${clusterCredentials(world.secret).toolsToken}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    return { status: response.status, body: (await response.json().catch(() => ({}))) as Record<string, unknown> };
  } catch {
    return null;
  }
}

/** A debit in one bank and a credit in the other (or the same) bank, registered under ids 01 and 02, in the harness's mode. */
function transferBranches(world: ChaosWorld, random: Random): [BranchSpec, BranchSpec] {
  const { debit, credit } = harnessMode(world);
  const account = () => random.pick(world.cluster.accountIds);
  const amount = random.int(1, 50);
  const leg = (branchId: string, resource: Resource): BranchSpec => ({
    branchId,
    bank: random.pick(['a', 'b'] as const),
    resource,
    body: JSON.stringify({ account: account(), amount }),
    // The harness begins these transactions itself, with the tools token.
    caller: TOOLS_CALLER,
  });
  return [leg('01', debit), leg('02', credit)];
}

/**
 * Begins `gid` with `branches` as the `tools` initiator, in the harness's mode; on success each
 * branch takes the registration proof the coordinator's reply handed out for it, for its tries
 * (executes).
 */
async function begin(world: ChaosWorld, gid: string, branches: BranchSpec[], timeoutMs: number): Promise<boolean> {
  const { mode, commit, undo } = harnessMode(world);
  const url = (b: BranchSpec, op: BranchOp) => `${world.cluster.bankUrls[b.bank]}/dtx/${b.resource}/${op}`;
  const reply = await coordinatorCall(world, 'POST', '/v1/transactions', {
    gid,
    mode,
    timeoutMs,
    branches: branches.map((b) => ({
      branchId: b.branchId,
      [`${commit}Url`]: url(b, commit),
      [`${undo}Url`]: url(b, undo),
      payload: JSON.parse(b.body) as unknown,
    })),
  });
  if (reply?.status === 201 || reply?.status === 200) {
    const proofs = (reply.body.proofs ?? {}) as Record<string, string | undefined>;
    for (const branch of branches) branch.registration = proofs[branch.branchId];
    const missing = branches.filter((branch) => branch.registration === undefined).map((branch) => branch.branchId);
    if (missing.length > 0) {
      // Every bank has a key on the coordinators: without its proof, a branch's try could never run.
      world.findings.push({
        invariant: 'a begin answers the registration proof of every branch it registered for its caller',
        detail: `the begin's reply (HTTP ${reply.status}) has no proof for branch(es) ${missing.join(', ')}`,
        gids: [gid],
      });
    }
    return true;
  }
  world.note(`${gid}: could not begin (${reply ? `HTTP ${reply.status}` : 'no coordinator answered'})`);
  return false;
}

async function ledgerRows(world: ChaosWorld, gid: string, branchId?: string): Promise<number> {
  let total = 0;
  for (const db of Object.values(world.bankDbs)) {
    const query = db('ledger').where({ gid });
    if (branchId) query.andWhere({ branch_id: branchId });
    const [row] = await query.count({ n: '*' });
    total += Number(row?.n ?? 0);
  }
  return total;
}

/** A try (an FMT execute) that reached its handler after its cancel (rollback): the barrier failed at anti-suspension. */
function checkLateTry(world: ChaosWorld, gid: string, branch: BranchSpec, reply: Reply, after: string): void {
  if (reply.status === null || reply.status >= 500) return; // no verdict
  if (reply.status === 409 && reply.code === 'SUSPENDED') return;
  const { first, undo } = harnessMode(world);
  world.findings.push({
    invariant: `a ${first} after its ${undo} is refused (anti-suspension)`,
    detail: `${first} of branch ${branch.branchId} after ${after} answered HTTP ${reply.status} ${reply.code ?? ''}`.trim(),
    gids: [gid],
  });
}

export async function cancelBeforeTry(world: ChaosWorld): Promise<void> {
  const gid = world.nextGid('cbt');
  const random = world.random();
  const [debit, credit] = transferBranches(world, random);
  const { first, undo } = harnessMode(world);
  if (!(await begin(world, gid, [debit, credit], 10_000))) return;
  const cancel = await callBranch(world, gid, debit, undo);
  if (cancel.status === 200) {
    checkLateTry(world, gid, debit, await callBranch(world, gid, debit, first), 'its null compensation');
    if ((await ledgerRows(world, gid, debit.branchId)) !== 0) {
      world.findings.push({
        invariant: 'null compensation runs nothing',
        detail: `branch ${debit.branchId} has ledger rows after cancel-before-try`,
        gids: [gid],
      });
    }
  } else {
    world.note(`${gid}: early ${undo} got ${cancel.status ?? 'no reply'}`);
  }
  await callBranch(world, gid, credit, first);
  await coordinatorCall(world, 'POST', `/v1/transactions/${gid}/abort`, { reason: 'chaos: cancel before try', waitMs: 0 });
}

export async function tryAfterTimeout(world: ChaosWorld): Promise<void> {
  const gid = world.nextGid('tat');
  const random = world.random();
  const branches = transferBranches(world, random);
  const { first, rolledBack } = harnessMode(world);
  if (!(await begin(world, gid, branches, 200))) return;
  const cancelled = await waitFor(
    async () => {
      const reply = await coordinatorCall(world, 'GET', `/v1/transactions/${gid}`);
      return (reply?.body.transaction as { status?: string } | undefined)?.status === rolledBack;
    },
    { what: `${gid} to be ${rolledBack} at its deadline`, timeoutMs: 30_000, intervalMs: 200 },
  ).catch(() => false);
  if (!cancelled) {
    world.note(`${gid}: not ${rolledBack} within 30 s of its deadline (coordinators busy or down); late ${first}s not sent`);
    return;
  }
  for (const branch of branches) checkLateTry(world, gid, branch, await callBranch(world, gid, branch, first), 'the timeout abort');
}

export async function tryCancelRace(world: ChaosWorld): Promise<void> {
  const gid = world.nextGid('race');
  const random = world.random();
  const [debit, credit] = transferBranches(world, random);
  const { first, undo } = harnessMode(world);
  if (!(await begin(world, gid, [debit, credit], 10_000))) return;
  await Promise.all([callBranch(world, gid, debit, first), callBranch(world, gid, debit, undo), callBranch(world, gid, credit, first)]);
  await coordinatorCall(world, 'POST', `/v1/transactions/${gid}/abort`, { reason: 'chaos: try/cancel race', waitMs: 0 });
}

interface StoredBranch {
  branch_id: string;
  /** Operation → URL: JSON text from MySQL, already parsed from PostgreSQL (a json column). */
  operations: string | Record<string, string>;
  payload: string;
  status: string;
  /** The caller that registered it: a transfer service, a bank (a message) or tools. */
  registered_by: string | null;
}

/** A transaction's branches as registered (the adversary aims its forged calls at them too). */
export async function branchesOf(world: ChaosWorld, gid: string): Promise<BranchSpec[]> {
  const rows = (await world
    .coordinatorDb('dtx_branch')
    .where({ gid })
    .select('branch_id', 'operations', 'payload', 'status', 'registered_by')) as StoredBranch[];
  const specs: BranchSpec[] = [];
  const credentials = clusterCredentials(world.secret);
  for (const row of rows) {
    // A branch's first phase-two URL (TCC's confirm, a saga step's action, a message receiver's deliver, XA's and FMT's commit) names the resource.
    const operations = typeof row.operations === 'string' ? (JSON.parse(row.operations) as Record<string, string>) : row.operations;
    const url = operations['confirm'] ?? operations['action'] ?? operations['deliver'] ?? operations['commit'];
    if (url === undefined) continue;
    const bank = world.bankOfUrl(url);
    const resource = /\/dtx\/(debit|credit|saga-debit|saga-credit|msg-credit|xa-debit|xa-credit|fmt-debit|fmt-credit)\//.exec(url)?.[1] as Resource | undefined;
    if (!bank || !resource) continue;
    const caller = row.registered_by ?? TOOLS_CALLER;
    // The proof its initiator was handed (only a try or a prepare carries one), made as the coordinator
    // makes it: with its key for the bank, for the caller that registered the branch.
    const registration = registrationProof(credentials.bankKey(bank), { gid, branchId: row.branch_id, caller });
    specs.push({ branchId: row.branch_id, bank, resource, body: row.payload, caller, registration });
  }
  return specs;
}

/**
 * The branches a replay may reach: all but a saga's skipped steps. A step
 * whose prerequisites never all succeeded is marked compensated without a
 * call: the coordinator never sent its action and never will, so its
 * participant holds no row that could refuse one (a replayed action would
 * apply — a delivery no correct coordinator makes, like a cancel after a
 * confirm).
 */
async function replayableBranches(world: ChaosWorld, gid: string): Promise<BranchSpec[]> {
  const skipped = new Set((await world.coordinatorDb('dtx_event').where({ gid, outcome: 'skipped' }).pluck('branch_id')).map(String));
  return (await branchesOf(world, gid)).filter((branch) => !skipped.has(branch.branchId));
}

async function gidsIn(world: ChaosWorld, statuses: readonly string[], count: number): Promise<string[]> {
  const rows = await world.coordinatorDb('dtx_global').whereIn('status', statuses).orderBy('updated_at', 'desc').limit(200).pluck('gid');
  const random = world.random();
  const picked = new Set<string>();
  for (let i = 0; i < count && picked.size < rows.length; i++) picked.add(String(random.pick(rows)));
  return [...picked];
}

/**
 * Finished transactions get their phase-two op twice and a late try (a saga:
 * its deciding op twice and a late action; XA: commit or rollback twice and a
 * late prepare; FMT: the same with a late execute), in a shuffled order, the last two
 * at once: nothing may change (their ledger lines stay as they were), and a
 * repeated confirm/cancel (action/compensate) answers success.
 */
export async function replayFinished(world: ChaosWorld, count: number): Promise<void> {
  const finished = await world
    .coordinatorDb('dtx_global')
    .whereIn('gid', await gidsIn(world, LOGGED.terminal, count))
    .select('gid', 'mode', 'status');
  const random = world.random();
  for (const { gid, mode, status } of finished as { gid: string; mode: string; status: string }[]) {
    if (mode === 'msg') {
      await replayFinishedMessage(world, gid, status);
      continue;
    }
    const replayed = REPLAYED[mode];
    if (!replayed) continue;
    const branches = await replayableBranches(world, gid);
    const before = await ledgerRows(world, gid);
    const op = status === 'committed' ? replayed.committed : replayed['rolled-back'];
    const ops: BranchOp[] = [op, op, replayed.late];
    for (let i = ops.length - 1; i > 0; i--) {
      const j = random.int(0, i);
      [ops[i], ops[j]] = [ops[j]!, ops[i]!];
    }
    for (const branch of branches) {
      const replies = [await callBranch(world, gid, branch, ops[0]!)];
      replies.push(...(await Promise.all(ops.slice(1).map((o) => callBranch(world, gid, branch, o)))));
      replies.forEach((reply, i) => {
        if (ops[i] === op && reply.status === 409) {
          world.findings.push({
            invariant: 'a repeated confirm/cancel (action/compensate) answers success',
            detail: `${ops[i]} of branch ${branch.branchId} answered 409 ${reply.code ?? ''}`,
            gids: [gid],
          });
        }
      });
    }
    const after = await ledgerRows(world, gid);
    world.count('replayed-calls', branches.length * ops.length);
    if (after !== before) {
      world.findings.push({
        invariant: 'a replayed delivery changes nothing',
        detail: `ledger lines of ${status} ${gid}: ${before} before, ${after} after replaying ${ops.join(', ')}`,
        gids: [gid],
      });
    }
  }
}

/**
 * A finished message: a delivered one gets every delivery twice at once
 * (each answers success) and a late check-back (answers "committed"); an
 * aborted one gets two check-backs (each answers "never committed", 409).
 * Either way its ledger lines stay as they were: a delivery applies once,
 * and a check-back never commits the sender's work.
 */
async function replayFinishedMessage(world: ChaosWorld, gid: string, status: string): Promise<void> {
  const [row] = (await world.coordinatorDb('dtx_global').where({ gid }).select('check_url', 'caller')) as { check_url: string | null; caller: string | null }[];
  const senderBank = row?.check_url ? world.bankOfUrl(row.check_url) : null;
  if (!senderBank) return;
  const sender: BranchSpec = { branchId: MESSAGE_SENDER_BRANCH, bank: senderBank, resource: 'transfers-out', body: '{}', caller: row?.caller ?? TOOLS_CALLER };
  const delivered = status === 'committed';
  const before = await ledgerRows(world, gid);
  const calls: { branch: BranchSpec; op: BranchOp; expected: number }[] = delivered
    ? [
        ...(await branchesOf(world, gid)).flatMap((branch) => [0, 1].map(() => ({ branch, op: 'deliver' as const, expected: 200 }))),
        { branch: sender, op: 'check', expected: 200 },
      ]
    : [0, 1].map(() => ({ branch: sender, op: 'check' as const, expected: 409 }));
  const replies = await Promise.all(calls.map((call) => callBranch(world, gid, call.branch, call.op)));
  replies.forEach((reply, i) => {
    const call = calls[i]!;
    if (reply.status === null || reply.status >= 500 || reply.status === call.expected) return; // no verdict, or as it must be
    world.findings.push({
      invariant: delivered
        ? 'a repeated delivery or check-back of a delivered message answers success'
        : 'a check-back of an aborted message answers "never committed"',
      detail: `${call.op} of ${call.branch.branchId} answered ${reply.status} ${reply.code ?? ''}, expected ${call.expected}`.trim(),
      gids: [gid],
    });
  });
  world.count('replayed-calls', calls.length);
  const after = await ledgerRows(world, gid);
  if (after !== before) {
    world.findings.push({
      invariant: 'a replayed delivery changes nothing',
      detail: `ledger lines of ${delivered ? 'delivered' : 'aborted'} message ${gid}: ${before} before, ${after} after replaying ${calls.map((c) => c.op).join(', ')}`,
      gids: [gid],
    });
  }
}

/** Transactions still in phase two get their decided op directly (inFlightOp), racing the coordinator's own calls. */
export async function replayInFlight(world: ChaosWorld, count: number): Promise<void> {
  const open = await world
    .coordinatorDb('dtx_global')
    .whereIn('gid', await gidsIn(world, LOGGED.phaseTwo, count))
    .select('gid', 'mode', 'status');
  for (const { gid, mode, status } of open as { gid: string; mode: string; status: string }[]) {
    // Read again just now: a transaction that finished meanwhile is left alone (a cancel after
    // its confirm is not a delivery a correct coordinator can make; see docs/chaos.md, Limits).
    if (!LOGGED.phaseTwo.includes(status as never)) continue;
    const op = inFlightOp(mode, status);
    if (!op) continue;
    const branches = await branchesOf(world, gid);
    await Promise.all(branches.map((branch) => callBranch(world, gid, branch, op)));
    world.count('replayed-calls', branches.length);
  }
}
