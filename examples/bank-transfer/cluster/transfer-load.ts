/**
 * Random transfers against the transfer services, with bounded concurrency,
 * for the demo and the chaos suite. Amounts go up to `maxAmount`, so with
 * small balances some transfers must fail for insufficient funds. Every
 * transfer gets its gid from the caller's prefix, so a transfer whose
 * request failed can still be found, and what the caller was told is
 * recorded next to it.
 */
import { BANKS } from './cluster.ts';
import type { Random } from './random.ts';

/**
 * How a transfer is run: one TCC transaction, a saga of two steps, a transactional message sent by
 * the payer's bank, one XA transaction, or one FMT transaction (plain SQL undone from row images).
 */
export type TransferMode = 'tcc' | 'saga' | 'msg' | 'xa' | 'fmt';

/**
 * What the caller was told: `confirmed` (a TCC transfer confirmed, a saga
 * succeeded, a message delivered, an XA or FMT transfer committed); `pending` (TCC confirming, XA or FMT committing: decided,
 * finished by recovery; a message committed at the payer, its credit on its
 * way);
 * `undecided` (a saga still running when the answer was sent: it may end
 * either way); `insufficient-funds`; `refused` (cancelled or compensated for
 * another reason, or refused by the coordinator); `failed` (no answer, or an
 * error: promises nothing).
 */
export type TransferResult = 'confirmed' | 'pending' | 'undecided' | 'insufficient-funds' | 'refused' | 'failed';

export const noResults = (): Record<TransferResult, number> => ({ confirmed: 0, pending: 0, undecided: 0, 'insufficient-funds': 0, refused: 0, failed: 0 });

export interface LoadOptions {
  transferUrls: string[];
  accountIds: string[];
  count: number;
  concurrency: number;
  maxAmount: number;
  /** Default tcc. */
  mode?: TransferMode;
  random: Random;
  /** Gid of transfer n: `${gidPrefix}-t${n}`. */
  gidPrefix: string;
  /** Per-request timeout. */
  timeoutMs: number;
  /**
   * Spread the transfers evenly over this long (transfer n is not sent
   * before n/count of it has passed), so that they meet a whole fault
   * schedule rather than only its first seconds. 0 (default) sends as fast
   * as the concurrency allows.
   */
  spreadOverMs?: number;
  /** Checked before each transfer: true stops sending (the run was interrupted). */
  stopped?: () => boolean;
  onResult?: (result: TransferResult, done: number) => void;
}

export interface TransferRecord {
  gid: string;
  answer: TransferResult;
  /** HTTP status, null when no reply came. */
  httpStatus: number | null;
}

export interface LoadSummary {
  results: Record<TransferResult, number>;
  records: TransferRecord[];
  elapsedMs: number;
}

export async function runTransfers(options: LoadOptions): Promise<LoadSummary> {
  const results = noResults();
  const mode = options.mode ?? 'tcc';
  const records: TransferRecord[] = [];
  const started = Date.now();
  const spreadOverMs = options.spreadOverMs ?? 0;
  // Drawn up front: the transfers depend on the seed only, not on timing.
  const plan = Array.from({ length: options.count }, (_, i) => {
    const from = { bank: options.random.pick(BANKS), account: options.random.pick(options.accountIds) };
    let to = { bank: options.random.pick(BANKS), account: options.random.pick(options.accountIds) };
    while (to.bank === from.bank && to.account === from.account) to = { bank: options.random.pick(BANKS), account: options.random.pick(options.accountIds) };
    const gid = `${options.gidPrefix}-t${i + 1}`;
    return { url: options.transferUrls[i % options.transferUrls.length]!, body: { from, to, amount: options.random.int(1, options.maxAmount), gid, mode } };
  });
  let next = 0;
  const worker = async () => {
    while (next < plan.length && !options.stopped?.()) {
      const index = next++;
      const item = plan[index]!;
      const notBefore = started + (index * spreadOverMs) / plan.length;
      if (Date.now() < notBefore) await new Promise((resolve) => setTimeout(resolve, notBefore - Date.now()));
      if (options.stopped?.()) break;
      const record = await send(item.url, item.body, options.timeoutMs);
      records.push(record);
      results[record.answer]++;
      options.onResult?.(record.answer, records.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, plan.length) }, worker));
  return { results, records, elapsedMs: Date.now() - started };
}

/** The statuses of a transfer finished when the answer came, in each mode's words. */
const FINISHED = new Set(['confirmed', 'succeeded', 'delivered', 'committed']);

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
    if (response.status === 200) return record(FINISHED.has(reply.status ?? '') ? 'confirmed' : 'pending', 200);
    if (response.status === 202) return record('undecided', 202);
    if (response.status === 409 && reply.code === 'INSUFFICIENT_FUNDS') return record('insufficient-funds', 409);
    if (response.status === 409) return record('refused', 409);
    return record('failed', response.status);
  } catch {
    return record('failed', null);
  }
}
