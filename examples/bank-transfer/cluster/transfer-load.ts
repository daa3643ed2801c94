/**
 * Random transfers against the transfer services, with bounded concurrency.
 * Amounts go up to `maxAmount`, so with small balances some transfers must
 * fail for insufficient funds.
 */
import { BANKS } from './cluster.ts';
import type { Random } from './random.ts';

export type TransferResult = 'confirmed' | 'pending' | 'insufficient-funds' | 'refused' | 'failed';

export interface LoadOptions {
  transferUrls: string[];
  accountIds: string[];
  count: number;
  concurrency: number;
  maxAmount: number;
  random: Random;
  /** Per-request timeout. */
  timeoutMs: number;
  onResult?: (result: TransferResult, done: number) => void;
}

export interface LoadSummary {
  results: Record<TransferResult, number>;
  gids: string[];
  elapsedMs: number;
}

export async function runTransfers(options: LoadOptions): Promise<LoadSummary> {
  const results: Record<TransferResult, number> = { confirmed: 0, pending: 0, 'insufficient-funds': 0, refused: 0, failed: 0 };
  const gids: string[] = [];
  const started = Date.now();
  // Draw every transfer up front so the schedule depends on the seed only, not on timing.
  const plan = Array.from({ length: options.count }, (_, i) => {
    const from = { bank: options.random.pick(BANKS), account: options.random.pick(options.accountIds) };
    let to = { bank: options.random.pick(BANKS), account: options.random.pick(options.accountIds) };
    while (to.bank === from.bank && to.account === from.account) to = { bank: options.random.pick(BANKS), account: options.random.pick(options.accountIds) };
    return { url: options.transferUrls[i % options.transferUrls.length]!, body: { from, to, amount: options.random.int(1, options.maxAmount) } };
  });
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < plan.length) {
      const item = plan[next++]!;
      const result = await send(item.url, item.body, options.timeoutMs, gids);
      results[result]++;
      done++;
      options.onResult?.(result, done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, plan.length) }, worker));
  return { results, gids, elapsedMs: Date.now() - started };
}

async function send(url: string, body: unknown, timeoutMs: number, gids: string[]): Promise<TransferResult> {
  try {
    const response = await fetch(`${url}/transfers`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const reply = (await response.json().catch(() => ({}))) as { gid?: string; status?: string; code?: string };
    if (reply.gid) gids.push(reply.gid);
    if (response.status === 200) return reply.status === 'confirmed' ? 'confirmed' : 'pending';
    if (response.status === 409 && reply.code === 'INSUFFICIENT_FUNDS') return 'insufficient-funds';
    if (response.status === 409) return 'refused';
    return 'failed';
  } catch {
    return 'failed';
  }
}
