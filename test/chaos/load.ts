/**
 * Transfers through the transfer services while faults run. Like the
 * example's runTransfers (same seeded plan: random accounts in either bank,
 * amounts up to `maxAmount`), except that the harness names every gid, so
 * it knows each transfer's gid even when the request failed, and records
 * what the caller was told — the chaos suite checks that against the
 * transaction's final status.
 */
import { BANKS } from '../../examples/bank-transfer/cluster/cluster.ts';
import type { Random } from '../../examples/bank-transfer/cluster/random.ts';
import type { TransferResult } from '../../examples/bank-transfer/cluster/transfer-load.ts';

export interface ChaosLoadOptions {
  transferUrls: string[];
  accountIds: string[];
  count: number;
  concurrency: number;
  maxAmount: number;
  random: Random;
  /** Gid of transfer n: `${gidPrefix}-t${n}`. */
  gidPrefix: string;
  /** Per-request timeout. */
  timeoutMs: number;
  /**
   * Spread the transfers evenly over this long (transfer n is not sent
   * before n/count of it has passed), so that they meet the faults of the
   * whole schedule rather than only its first seconds. A slow system just
   * falls behind; 0 sends as fast as the concurrency allows.
   */
  spreadOverMs: number;
  /** Checked before each transfer: true stops sending (the run was interrupted). */
  stopped?: () => boolean;
  onResult?: (done: number) => void;
}

export interface TransferRecord {
  gid: string;
  answer: TransferResult;
  /** HTTP status, null when no reply came. */
  httpStatus: number | null;
}

export interface ChaosLoadSummary {
  results: Record<TransferResult, number>;
  records: TransferRecord[];
  elapsedMs: number;
}

export async function runChaosLoad(options: ChaosLoadOptions): Promise<ChaosLoadSummary> {
  const results: Record<TransferResult, number> = { confirmed: 0, pending: 0, 'insufficient-funds': 0, refused: 0, failed: 0 };
  const records: TransferRecord[] = [];
  const started = Date.now();
  // Drawn up front: the transfers depend on the seed only, not on timing.
  const plan = Array.from({ length: options.count }, (_, i) => {
    const from = { bank: options.random.pick(BANKS), account: options.random.pick(options.accountIds) };
    let to = { bank: options.random.pick(BANKS), account: options.random.pick(options.accountIds) };
    while (to.bank === from.bank && to.account === from.account) to = { bank: options.random.pick(BANKS), account: options.random.pick(options.accountIds) };
    const gid = `${options.gidPrefix}-t${i + 1}`;
    return { url: options.transferUrls[i % options.transferUrls.length]!, body: { from, to, amount: options.random.int(1, options.maxAmount), gid } };
  });
  let next = 0;
  const worker = async () => {
    while (next < plan.length && !options.stopped?.()) {
      const index = next++;
      const item = plan[index]!;
      const notBefore = started + (index * options.spreadOverMs) / plan.length;
      if (Date.now() < notBefore) await new Promise((resolve) => setTimeout(resolve, notBefore - Date.now()));
      if (options.stopped?.()) break;
      const record = await send(item.url, item.body, options.timeoutMs);
      records.push(record);
      results[record.answer]++;
      options.onResult?.(records.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, plan.length) }, worker));
  return { results, records, elapsedMs: Date.now() - started };
}

async function send(url: string, body: { gid: string }, timeoutMs: number): Promise<TransferRecord> {
  const record = (answer: TransferResult, httpStatus: number | null): TransferRecord => ({ gid: body.gid, answer, httpStatus });
  try {
    const response = await fetch(`${url}/transfers`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const reply = (await response.json().catch(() => ({}))) as { status?: string; code?: string };
    if (response.status === 200) return record(reply.status === 'confirmed' ? 'confirmed' : 'pending', 200);
    if (response.status === 409 && reply.code === 'INSUFFICIENT_FUNDS') return record('insufficient-funds', 409);
    if (response.status === 409) return record('refused', 409);
    return record('failed', response.status);
  } catch {
    return record('failed', null);
  }
}

/**
 * What the caller was told must hold at the end: a transfer answered as
 * confirmed (or confirming) ends confirmed; one refused (insufficient
 * funds, or the coordinator refusing it) never ends confirmed. A failed
 * request promises nothing.
 */
export function contradicts(answer: TransferResult, finalStatus: string | undefined): boolean {
  switch (answer) {
    case 'confirmed':
    case 'pending':
      return finalStatus !== 'confirmed';
    case 'insufficient-funds':
    case 'refused':
      return finalStatus === 'confirmed';
    case 'failed':
      return false;
  }
}
