/* global process */
/**
 * An initiator as a user writes it: plain JavaScript on plain node, with the
 * initiator client of the SDK from the tarball. Moves 30 from alice to bob in
 * one TCC transaction (debit and credit at the bank) and prints its outcome
 * as one JSON line: `{ gid, status }`, or `{ error, code }` when it failed.
 *
 * Environment: DTX_COORDINATOR_URL, DTX_API_TOKEN, BANK_URL, INITIATOR_KEY (this
 * service's own key at the bank).
 */
import { DtxClient } from '@dtx/participant-sdk';

const dtx = new DtxClient({
  coordinatorUrl: process.env.DTX_COORDINATOR_URL,
  apiToken: process.env.DTX_API_TOKEN,
  initiatorKey: process.env.INITIATOR_KEY,
});
const bank = process.env.BANK_URL;

try {
  const outcome = await dtx.tcc(
    async (tx) => {
      await tx.tryAll([
        { url: `${bank}/dtx/debit`, payload: { account: 'alice', amount: 30 } },
        { url: `${bank}/dtx/credit`, payload: { account: 'bob', amount: 30 } },
      ]);
    },
    { timeoutMs: 30_000 },
  );
  process.stdout.write(`${JSON.stringify({ gid: outcome.gid, status: outcome.status })}\n`);
} catch (error) {
  process.stdout.write(`${JSON.stringify({ error: String(error), code: error?.code ?? null })}\n`);
  process.exitCode = 1;
} finally {
  await dtx.close();
}
