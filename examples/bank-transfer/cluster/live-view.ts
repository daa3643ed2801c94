/**
 * What the running cluster says about itself over HTTP: the money each bank
 * holds (its read-only GET /accounts) and how many transactions the
 * coordinators still have open (the admin API's stats, with the `tools`
 * viewer token). The harness's view while the parts run, which needs no access
 * to their databases — an embedded database is its process's alone, so
 * audit.ts reads the databases once the parts have stopped.
 */
import type { Account } from '../bank/schema.ts';

const TIMEOUT_MS = 10_000;

async function getJson<T>(url: string, headers: Record<string, string> = {}): Promise<T> {
  const response = await fetch(url, { headers, signal: AbortSignal.timeout(TIMEOUT_MS) });
  if (!response.ok) throw new Error(`GET ${url} answered ${response.status}`);
  return (await response.json()) as T;
}

/** The money at the banks: balance plus frozen over every account (incoming is not yet anyone's money), as audit.ts counts it. */
export async function moneyAtBanks(bankUrls: Record<string, string>): Promise<number> {
  let total = 0;
  for (const url of Object.values(bankUrls)) {
    const { accounts } = await getJson<{ accounts: Account[] }>(`${url}/accounts`);
    for (const account of accounts) total += account.balance + account.frozen;
  }
  return total;
}

/**
 * The transactions of the log not yet finished, in every mode and open status
 * (GET /admin/v1/stats; every coordinator of the cluster reads the same log).
 */
export async function openTransactions(coordinatorUrl: string, viewerToken: string): Promise<number> {
  const stats = await getJson<{ open: Record<string, number> }>(`${coordinatorUrl}/admin/v1/stats`, { authorization: `Bearer ${viewerToken}` });
  return Object.values(stats.open).reduce((sum, n) => sum + n, 0);
}
