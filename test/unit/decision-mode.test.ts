/**
 * A decision's mode comes from the request or from the log, never guessed:
 * the first write is the named mode's guarded transition (one round trip); a
 * request naming no mode reads the log first; a mode other than the logged
 * one is refused; and a message's abort writes nothing before its sender's
 * check-back answered. The store is a fake recording what the service asks
 * of it (the decision logic is what is under test; stores are tested by the
 * contract suite).
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { GlobalTransaction, Mode, TransactionSnapshot } from '../../coordinator/domain/transaction.ts';
import { TransactionService } from '../../coordinator/engine/transaction-service.ts';
import type { PhaseTwoRunner } from '../../coordinator/engine/phase-two-runner.ts';
import type { BranchClient } from '../../coordinator/branch-client/http-branch-client.ts';
import { ParticipantPolicy } from '../../coordinator/security/participant-policy.ts';
import type { DecisionInput, TransactionStore } from '../../coordinator/store/ports/transaction-store.ts';
import { transactionAt } from '../support/model-fixtures.ts';

const NOW = 1_700_000_000_000;

/** A service on a fake store holding `txn`: `calls` lists the store operations in order. */
function serviceOn(txn: GlobalTransaction) {
  const calls: string[] = [];
  const decisions: DecisionInput[] = [];
  const snapshot = (): TransactionSnapshot => ({ transaction: txn, branches: [] });
  const store = {
    load: async () => {
      calls.push('load');
      return snapshot();
    },
    decide: async (input: DecisionInput) => {
      calls.push('decide');
      decisions.push(input);
      // The guard as the store applies it: status, mode and caller.
      const { guard } = input;
      const holds =
        txn.status === guard.from && (guard.mode === undefined || guard.mode === txn.mode) && (guard.caller === undefined || guard.caller === txn.caller);
      return holds ? { transaction: { ...txn, status: input.to }, branches: [] } : null;
    },
  } as unknown as TransactionStore;
  const runner = { runRound: async (s: TransactionSnapshot) => s.transaction.status } as unknown as PhaseTwoRunner;
  // A check-back that never answers: a message's abort leaves it open.
  const client = { call: async () => ({ outcome: 'unknown', httpStatus: null, error: 'no reply' }) } as unknown as BranchClient;
  const service = new TransactionService({
    store,
    runner,
    client,
    clock: { now: () => NOW },
    instanceId: 'unit',
    leaseMs: 1_000,
    attentionAfterMs: 600_000,
    logger: pino({ level: 'silent' }),
    participants: new ParticipantPolicy([], null, true),
    scopes: new Map(),
  });
  const decide = (what: 'submit' | 'abort', mode?: Mode) =>
    service[what]({ gid: txn.gid, caller: null, reason: null, waitMs: 0, actor: 'tests', ...(mode ? { mode } : {}) });
  return { calls, decisions, decide };
}

describe('the mode of a decision', () => {
  it.each(['tcc', 'xa', 'fmt'] as const)('a %s submit naming its mode is one guarded write, nothing read first', async (mode) => {
    const { calls, decisions, decide } = serviceOn(transactionAt(NOW - 1_000, { mode }));
    await expect(decide('submit', mode)).resolves.toEqual({ status: 'committing', mode });
    expect(calls).toEqual(['decide']);
    expect(decisions[0]?.guard).toMatchObject({ from: 'open', mode });
    // FMT's rows are final once it commits: the decision releases their locks in its commit.
    expect(decisions[0]?.releaseRowLocks).toBe(mode === 'fmt');
  });

  it('a submit naming no mode reads the log first, then writes that mode’s transition', async () => {
    const { calls, decisions, decide } = serviceOn(transactionAt(NOW - 1_000, { mode: 'xa' }));
    await expect(decide('submit')).resolves.toEqual({ status: 'committing', mode: 'xa' });
    expect(calls).toEqual(['load', 'decide']);
    expect(decisions[0]?.guard.mode).toBe('xa');
  });

  it('a mode other than the logged one is refused, and nothing is written', async () => {
    const { calls, decide } = serviceOn(transactionAt(NOW - 1_000, { mode: 'xa' }));
    await expect(decide('submit', 'tcc')).rejects.toMatchObject({ code: 'ILLEGAL_STATE', message: expect.stringContaining('is a xa transaction, not tcc') });
    // The guarded write (refused by its mode) and the load that tells why; no second write.
    expect(calls).toEqual(['decide', 'load']);
  });

  it("a message's abort writes nothing before its sender's check-back answers", async () => {
    const { calls, decide } = serviceOn(transactionAt(NOW - 1_000, { mode: 'msg', checkUrl: 'http://127.0.0.1:9/check' }));
    await expect(decide('abort', 'msg')).resolves.toEqual({ status: 'open', mode: 'msg' });
    expect(calls).not.toContain('decide');
  });

  it('an FMT abort holds the row locks: its rollback still has to restore the rows', async () => {
    const { decisions, decide } = serviceOn(transactionAt(NOW - 1_000, { mode: 'fmt' }));
    await expect(decide('abort', 'fmt')).resolves.toEqual({ status: 'rolling-back', mode: 'fmt' });
    expect(decisions[0]?.releaseRowLocks).toBe(false);
  });
});
