/**
 * The workloads of the benchmark (docs/performance.md), each one transaction per call:
 *   a. a bank transfer through dtx: the bench is the initiator (DtxClient,
 *      begin + both registrations in one call, tries in parallel, submit,
 *      the coordinator confirms both);
 *   b. the floor: the same two tries, then the same two confirms, called
 *      directly on the banks (each signed as its sender signs it: the tries
 *      with the initiator's key and the registration proof the coordinator
 *      would hand out, the confirms with the coordinator's key), no coordinator;
 *   c. a two-branch TCC transaction on a participant that does no work;
 *   c0. c's floor: the same two tries, then the same two confirms, called
 *      directly on that participant, no coordinator;
 *   sa. the same transfer as a two-step saga through dtx: the bench submits
 *      it whole (one call), the coordinator runs the debit's action, then the
 *      credit's;
 *   sb. sa's floor: the same two actions, debit then credit, called directly
 *      on the banks (signed, through the banks' barrier), no coordinator;
 *   sc. a two-step saga on the participant that does no work;
 *   xa. the same transfer as a two-branch XA transaction through dtx: the
 *      bench prepares the debit in bank A, then the credit in bank B, and
 *      submits; the coordinator commits both;
 *   xb. xa's floor: the same two prepares, then the same two commits, one
 *      after the other, called directly on the banks (signed), no coordinator;
 *   xc. a two-branch XA transaction on the participant that does no work;
 *   fa. the same transfer as a two-branch FMT transaction through dtx, on the
 *      FMT banks (bench/fmt-bank.ts): the bench executes the debit in bank
 *      A, then the credit in bank B (each execute registers its branch, then
 *      the bank runs its UPDATE with the rows imaged, writes the undo record,
 *      takes the rows' global locks and commits locally); then submit, and
 *      the coordinator commits both (the undo records are dropped). Bank A
 *      first, as xa prepares: one order for every transfer, since a branch
 *      holds its rows' global locks until the decision (--fmt-executes=all:
 *      both at once, tx.executeAll);
 *   fb. fa's floor: the same UPDATEs with no dtx at all, each in a local
 *      transaction of its own on its bank (POST /plain/debit, then
 *      /plain/credit): the debit first, and the credit only once it
 *      succeeded, as a correct client without a coordinator must (it cannot
 *      undo a credit made beside a failed debit); unsigned, no barrier;
 *   fh. fa on one hot account per bank: every transfer writes the same two
 *      rows, so each waits for the previous one's global locks.
 */
import { Agent, request } from 'undici';
import { v7 as uuidv7 } from 'uuid';
import { type DtxClient, callHeaders, isInitiatorOp, outcomeOfStatus, registrationProof, type BranchOp } from '@dtx/participant-sdk';
import type { Work } from './load.ts';

export interface TransferTarget {
  /** Base URLs of the banks' participant resources, e.g. http://127.0.0.1:4001/dtx */
  bankA: string;
  bankB: string;
  accounts: readonly string[];
  random: () => number;
}

function pickLegs(target: TransferTarget): { from: string; to: string } {
  const n = target.accounts.length;
  return { from: target.accounts[Math.floor(target.random() * n)]!, to: target.accounts[Math.floor(target.random() * n)]! };
}

/** (a) Debit in bank A and credit in bank B through the coordinator; succeeds when submit answers `confirmed`. */
export function dtxTransfer(client: DtxClient, target: TransferTarget): Work {
  return async () => {
    const { from, to } = pickLegs(target);
    const outcome = await client.tcc(async (tx) => {
      await tx.tryAll([
        { url: `${target.bankA}/debit`, payload: { account: from, amount: 1 } },
        { url: `${target.bankB}/credit`, payload: { account: to, amount: 1 } },
      ]);
    });
    if (outcome.status !== 'confirmed') throw new Error(`transaction ${outcome.gid} answered ${outcome.status}`);
  };
}

/** The FMT banks' resources (bench/fmt-bank.ts) of one transfer: debit in bank A, credit in bank B. */
function fmtLegs(target: TransferTarget): { url: string; payload: { account: string; amount: number } }[] {
  const { from, to } = pickLegs(target);
  return [
    { url: `${target.bankA}/debit`, payload: { account: from, amount: 1 } },
    { url: `${target.bankB}/credit`, payload: { account: to, amount: 1 } },
  ];
}

/**
 * (fa, fh) `ordered`: bank A's execute, then bank B's, one order for every transfer (as xa prepares);
 * `all`: both branches registered in one call and executed concurrently (tx.executeAll), as a is tried.
 * Succeeds when submit answers `committed`. An execute refused for a row held past the bank's lock wait
 * throws TryRejectedError `FMT_LOCK_CONFLICT` (load.ts counts errors by code).
 */
export function dtxFmtTransfer(client: DtxClient, target: TransferTarget, executes: 'all' | 'ordered' = 'ordered'): Work {
  return async () => {
    const legs = fmtLegs(target);
    const outcome = await client.fmt(async (tx) => {
      if (executes === 'all') await tx.executeAll(legs);
      else for (const leg of legs) await tx.execute(leg);
    });
    if (outcome.status !== 'committed') throw new Error(`FMT transaction ${outcome.gid} answered ${outcome.status}`);
  };
}

/**
 * (fb) The same UPDATEs without dtx: the debit in bank A's local transaction, then the credit in bank B's,
 * on the FMT banks' plain routes (`<bank>/plain/<op>`, beside their `/dtx` participant).
 */
export function directFmtFloorTransfer(caller: DirectCaller, target: TransferTarget): Work {
  return async () => {
    for (const leg of fmtLegs(target)) {
      const { origin, pathname } = new URL(leg.url);
      const op = pathname.slice(pathname.lastIndexOf('/') + 1);
      await caller.plain(`${origin}/plain/${op}`, leg.payload);
    }
  };
}

/** Who the floors' direct calls act for, and the key of each role they play. */
export interface DirectKeys {
  /** The initiator's caller name, as the participants know it. */
  caller: string;
  /** Signs the coordinator's ops (confirm, action, commit...). */
  coordinatorKey: string | null;
  /** Signs the initiator's ops (try, prepare). */
  initiatorKey: string | null;
}

/**
 * Signed participant calls without a coordinator, for the floors (b, c0, sb, xb; fb's are plain): each op signed as
 * its sender signs it. A try or a prepare also carries its branch's registration proof, which a
 * participant with a coordinator key demands: with no coordinator to register the branch and hand
 * it out, it is made here as the coordinator makes it (its key at the participant, the branch, the
 * caller), so that the floor's calls are the calls dtx's initiator sends.
 */
export class DirectCaller {
  readonly #agent = new Agent({ keepAliveTimeout: 30_000, connections: 128 });

  constructor(private readonly keys: DirectKeys) {}

  async call(resourceUrl: string, op: BranchOp, gid: string, branchId: string, payload: unknown): Promise<void> {
    const body = JSON.stringify(payload);
    const url = `${resourceUrl}/${op}`;
    const { caller, coordinatorKey, initiatorKey } = this.keys;
    const byInitiator = isInitiatorOp(op);
    const registration = byInitiator && coordinatorKey !== null ? registrationProof(coordinatorKey, { gid, branchId, caller }) : undefined;
    const headers = callHeaders(byInitiator ? initiatorKey : coordinatorKey, { url, gid, branchId, op, body, timestamp: Date.now(), caller, registration });
    const response = await request(url, { method: 'POST', headers, body, dispatcher: this.#agent });
    const text = await response.body.text();
    if (outcomeOfStatus(response.statusCode) !== 'success') {
      throw new Error(`${op} ${resourceUrl} answered HTTP ${response.statusCode}: ${text.slice(0, 200)}`);
    }
  }

  /** An unsigned JSON POST, as a client without dtx calls a service (fb); throws unless it answers 2xx. */
  async plain(url: string, payload: unknown): Promise<void> {
    const response = await request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(payload),
      dispatcher: this.#agent,
    });
    const text = await response.body.text();
    if (response.statusCode < 200 || response.statusCode >= 300) throw new Error(`${url} answered HTTP ${response.statusCode}: ${text.slice(0, 200)}`);
  }

  close(): Promise<void> {
    return this.#agent.close();
  }
}

/** (b) Both tries concurrently, then both confirms concurrently, as dtx does; no coordinator. */
export function directTransfer(caller: DirectCaller, target: TransferTarget): Work {
  return async () => {
    const { from, to } = pickLegs(target);
    const gid = uuidv7();
    const legs = [
      { url: `${target.bankA}/debit`, branchId: '01', payload: { account: from, amount: 1 } },
      { url: `${target.bankB}/credit`, branchId: '02', payload: { account: to, amount: 1 } },
    ];
    await Promise.all(legs.map((leg) => caller.call(leg.url, 'try', gid, leg.branchId, leg.payload)));
    await Promise.all(legs.map((leg) => caller.call(leg.url, 'confirm', gid, leg.branchId, leg.payload)));
  };
}

/** The two branches of (c) and (c0) on the empty participant. */
function emptyBranches(participantUrl: string): { url: string; branchId: string; payload: { n: number } }[] {
  return [
    { url: `${participantUrl}/one`, branchId: '01', payload: { n: 1 } },
    { url: `${participantUrl}/two`, branchId: '02', payload: { n: 2 } },
  ];
}

/** (c) Two branches on the empty participant, through the coordinator. */
export function emptyTcc(client: DtxClient, participantUrl: string): Work {
  return async () => {
    const outcome = await client.tcc(async (tx) => {
      await tx.tryAll(emptyBranches(participantUrl).map(({ url, payload }) => ({ url, payload })));
    });
    if (outcome.status !== 'confirmed') throw new Error(`transaction ${outcome.gid} answered ${outcome.status}`);
  };
}

/** (c0) c's four calls made directly: both tries concurrently, then both confirms concurrently, as dtx does; no coordinator. */
export function directEmpty(caller: DirectCaller, participantUrl: string): Work {
  return async () => {
    const gid = uuidv7();
    const branches = emptyBranches(participantUrl);
    await Promise.all(branches.map((b) => caller.call(b.url, 'try', gid, b.branchId, b.payload)));
    await Promise.all(branches.map((b) => caller.call(b.url, 'confirm', gid, b.branchId, b.payload)));
  };
}

/** The banks' saga resources (examples/bank-transfer/bank/saga-resources.ts) of one transfer, in the order the saga runs them. */
function sagaSteps(target: TransferTarget): { id: string; url: string; payload: { account: string; amount: number } }[] {
  const { from, to } = pickLegs(target);
  return [
    { id: 'debit', url: `${target.bankA}/saga-debit`, payload: { account: from, amount: 1 } },
    { id: 'credit', url: `${target.bankB}/saga-credit`, payload: { account: to, amount: 1 } },
  ];
}

/** Submits a two-step saga and waits for its outcome; succeeds when it answers `succeeded`. */
async function submitSaga(client: DtxClient, steps: readonly { id: string; url: string; payload: unknown }[]): Promise<void> {
  const saga = client.saga();
  for (const { id, url, payload } of steps) saga.step(id, { url, payload });
  const outcome = await saga.submit();
  if (outcome.status !== 'succeeded') throw new Error(`saga ${outcome.gid} answered ${outcome.status}`);
}

/** (sa) Debit in bank A, then credit in bank B, as a saga through the coordinator. */
export function dtxSagaTransfer(client: DtxClient, target: TransferTarget): Work {
  return () => submitSaga(client, sagaSteps(target));
}

/**
 * (sb) The two actions one after the other, as the coordinator runs them (the
 * credit depends on the debit); branch ids are the step ids, as the
 * coordinator sends them. No coordinator.
 */
export function directSagaTransfer(caller: DirectCaller, target: TransferTarget): Work {
  return async () => {
    const gid = uuidv7();
    for (const step of sagaSteps(target)) await caller.call(step.url, 'action', gid, step.id, step.payload);
  };
}

/** (sc) A two-step saga on the empty participant, through the coordinator. */
export function emptySaga(client: DtxClient, participantUrl: string): Work {
  return () =>
    submitSaga(
      client,
      emptyBranches(participantUrl).map(({ url, branchId, payload }) => ({ id: `step-${branchId}`, url, payload })),
    );
}

/**
 * The banks' XA resources (examples/bank-transfer/bank/xa-resources.ts) of
 * one transfer, bank A first: each prepare holds its rows locked until the
 * commit, and taking the banks in one order keeps two transfers from
 * waiting on each other across databases. Branch ids as the initiator
 * numbers them.
 */
function xaBranches(target: TransferTarget): { url: string; branchId: string; payload: { account: string; amount: number } }[] {
  const { from, to } = pickLegs(target);
  return [
    { url: `${target.bankA}/xa-debit`, branchId: '01', payload: { account: from, amount: 1 } },
    { url: `${target.bankB}/xa-credit`, branchId: '02', payload: { account: to, amount: 1 } },
  ];
}

/** Prepares the branches one after the other, in their order, then submits; succeeds when the outcome is `committed`. */
async function runXa(client: DtxClient, branches: readonly { url: string; payload: unknown }[]): Promise<void> {
  const outcome = await client.xa(async (tx) => {
    for (const { url, payload } of branches) await tx.prepare({ url, payload });
  });
  if (outcome.status !== 'committed') throw new Error(`XA transaction ${outcome.gid} answered ${outcome.status}`);
}

/** (xa) Debit in bank A, then credit in bank B, as one XA transaction through the coordinator. */
export function dtxXaTransfer(client: DtxClient, target: TransferTarget): Work {
  return () => runXa(client, xaBranches(target));
}

/**
 * (xb) xa's four participant calls made directly, one after the other:
 * prepare A, prepare B, commit A, commit B. The same XA statements on the
 * banks; no coordinator.
 */
export function directXaTransfer(caller: DirectCaller, target: TransferTarget): Work {
  return async () => {
    const gid = uuidv7();
    const branches = xaBranches(target);
    for (const b of branches) await caller.call(b.url, 'prepare', gid, b.branchId, b.payload);
    for (const b of branches) await caller.call(b.url, 'commit', gid, b.branchId, b.payload);
  };
}

/** (xc) A two-branch XA transaction on the empty participant, prepared one after the other, through the coordinator. */
export function emptyXa(client: DtxClient, participantUrl: string): Work {
  return () => runXa(client, emptyBranches(participantUrl));
}
