/**
 * The alert hook (DTX_ALERT_URL): a needs-attention flag POSTs a signed JSON
 * notice, retried with backoff while the receiver fails, dropped after the
 * budget, never holding up the phase-two round.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import type { DtxClient } from '../../participant-sdk/index.ts';
import { signWebhook, verifyWebhook, WEBHOOK_HEADERS } from '../../protocol/webhook.ts';
import { TEST_SECRET, type InProcessCoordinator } from '../support/coordinator-harness.ts';
import { startCoordinatorWithBank, type CoordinatorWithBank } from '../support/coordinator-with-bank.ts';
import type { TestParticipant } from '../support/test-participant.ts';
import { viewOf, waitForStatus, waitForView } from '../support/transaction-view.ts';
import { waitFor } from '../../tools/wait.ts';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

/** Reply to the next POSTs: a status code, or 'hold' (answered 200 when `release()` is called). */
type Answer = number | 'hold';

interface Receiver {
  url: string;
  received: Received[];
  /** Answers for the next requests, in order; 200 once they are used up. */
  script(...answers: Answer[]): void;
  release(): void;
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const received: Received[] = [];
  let answers: Answer[] = [];
  const held: (() => void)[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
      const answer = answers.shift() ?? 200;
      if (answer === 'hold') {
        held.push(() => response.writeHead(200).end('ok'));
        return;
      }
      response.writeHead(answer, { 'content-type': 'text/plain' }).end(answer < 300 ? 'ok' : 'receiver failing');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    // A path and query, as real webhook URLs (with tokens) have.
    url: `http://127.0.0.1:${port}/hooks/dtx?token=abc`,
    received,
    script: (...next) => {
      answers = next;
    },
    release: () => held.splice(0).forEach((answer) => answer()),
    close: async () => {
      held.splice(0).forEach((answer) => answer());
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const header = (r: Received, name: string) => r.headers[name] as string | undefined;

/** The signature check a receiver would run. */
function verify(r: Received, secret = TEST_SECRET) {
  return verifyWebhook(
    secret,
    {
      event: header(r, WEBHOOK_HEADERS.event) ?? '',
      delivery: header(r, WEBHOOK_HEADERS.delivery) ?? '',
      timestamp: Number(header(r, WEBHOOK_HEADERS.timestamp)),
      body: r.body,
    },
    header(r, WEBHOOK_HEADERS.signature),
    Date.now(),
    60_000,
  );
}

describe('alert hook', () => {
  const ATTEMPTS = 3;
  let env: CoordinatorWithBank | undefined;
  let coordinator: InProcessCoordinator;
  let bank: TestParticipant;
  let receiver: Receiver;
  let dtx: DtxClient;

  beforeAll(async () => {
    receiver = await startReceiver();
    env = await startCoordinatorWithBank(inject('mysqlUrl'), inject('redisUrl'), 'alert', {
      DTX_ALERT_URL: receiver.url,
      DTX_ALERT_ATTEMPTS: String(ATTEMPTS),
    });
    ({ coordinator, bank, dtx } = env);
  });

  afterEach(async () => {
    receiver.script();
    receiver.release();
    for (const op of ['try', 'confirm', 'cancel'] as const) bank.behave(op, 'ok');
  });

  afterAll(async () => {
    await env?.stop();
    await receiver?.close();
  });

  /** Starts a transaction whose confirm answers 409: flagged at once on its first round. */
  async function refusedConfirm(): Promise<string> {
    bank.behave('confirm', 'reject');
    const outcome = await dtx.tcc(async (tx) => {
      await tx.try({ url: bank.resourceUrl, payload: { amount: 9 } });
    });
    expect(outcome.status).toBe('confirming');
    return outcome.gid;
  }

  const alertsOf = (gid: string) => receiver.received.filter((r) => (JSON.parse(r.body) as { gid: string }).gid === gid);

  async function repair(gid: string): Promise<void> {
    bank.behave('confirm', 'ok');
    await waitForStatus(dtx, gid, 'confirmed');
  }

  it('a confirm answering 409 sends one signed needs-attention alert with the transaction and the instance', async () => {
    const gid = await refusedConfirm();
    const [alert] = await waitFor(() => (alertsOf(gid).length > 0 ? alertsOf(gid) : null), { what: 'the alert' }).then((a) => a!);
    expect(alert!.headers['content-type']).toBe('application/json');
    expect(header(alert!, WEBHOOK_HEADERS.event)).toBe('needs-attention');
    expect(header(alert!, WEBHOOK_HEADERS.delivery)).toMatch(/^[0-9a-f-]{36}$/);
    expect(verify(alert!)).toEqual({ ok: true });
    // The exact signature scheme documented in docs/protocol.md.
    expect(header(alert!, WEBHOOK_HEADERS.signature)).toBe(
      signWebhook(TEST_SECRET, {
        event: 'needs-attention',
        delivery: header(alert!, WEBHOOK_HEADERS.delivery)!,
        timestamp: Number(header(alert!, WEBHOOK_HEADERS.timestamp)),
        body: alert!.body,
      }),
    );
    // Forged or altered: refused by the receiver's check.
    expect(verify(alert!, 'not-the-secret')).toEqual({ ok: false, reason: 'mismatch' });
    expect(verify({ ...alert!, body: alert!.body.replace('"tcc"', '"xa"') })).toEqual({ ok: false, reason: 'mismatch' });

    const payload = JSON.parse(alert!.body) as Record<string, unknown>;
    expect(payload).toEqual({
      event: 'needs-attention',
      gid,
      mode: 'tcc',
      status: 'confirming',
      reason: expect.stringContaining('refused confirm (HTTP 409)'),
      retryCount: 1,
      at: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
      coordinator: coordinator.config.instanceId,
    });
    const view = await waitForView(dtx, gid, 'flagged', (v) => v.transaction.needsAttention);
    expect(payload.reason).toBe(view.transaction.attentionReason);

    // The branch keeps refusing round after round: the flag is raised once, so one alert.
    await waitForView(dtx, gid, 'three more rounds', (v) => v.transaction.retryCount >= 4);
    expect(alertsOf(gid)).toHaveLength(1);
    await repair(gid);
  });

  it('does not hold up the round: the submit answers while the receiver has not answered yet', async () => {
    receiver.script('hold');
    const gid = await refusedConfirm();
    await waitFor(() => alertsOf(gid).length === 1, { what: 'the held alert' });
    // While the receiver still holds the alert, phase two goes on with its rounds.
    await waitForView(dtx, gid, 'another round while the alert is held', (v) => v.transaction.retryCount >= 2);
    expect(coordinator.coordinator.alerts?.pendingCount).toBe(1);
    receiver.release();
    await waitFor(() => coordinator.coordinator.alerts?.pendingCount === 0, { what: 'the held alert answered' });
    await repair(gid);
  });

  it('retries with backoff when the receiver answers 500, with the same delivery id, signed afresh', async () => {
    receiver.script(500);
    const gid = await refusedConfirm();
    const alerts = await waitFor(() => (alertsOf(gid).length >= 2 ? alertsOf(gid) : null), { what: 'the retried alert' }).then((a) => a!);
    const [first, second] = alerts as [Received, Received];
    expect(header(second, WEBHOOK_HEADERS.delivery)).toBe(header(first, WEBHOOK_HEADERS.delivery));
    expect(second.body).toBe(first.body);
    expect(verify(first)).toEqual({ ok: true });
    expect(verify(second)).toEqual({ ok: true });
    // Backoff from DTX_RETRY_BASE_MS (100 in tests), with jitter: at least half of it.
    expect(second.at - first.at).toBeGreaterThanOrEqual(45);
    await waitFor(() => (coordinator.coordinator.alerts?.pendingCount ?? 0) === 0, { what: 'delivery done' });
    expect(alertsOf(gid)).toHaveLength(2);
    await repair(gid);
  });

  it('gives up after DTX_ALERT_ATTEMPTS attempts while the receiver keeps failing', async () => {
    receiver.script(500, 503, 502, 500, 500, 500);
    const gid = await refusedConfirm();
    await waitFor(() => alertsOf(gid).length >= ATTEMPTS, { what: `${ATTEMPTS} attempts` });
    await waitFor(() => (coordinator.coordinator.alerts?.pendingCount ?? 1) === 0, { what: 'the alert dropped' });
    // Nothing is pending any more, so nothing more can come.
    expect(alertsOf(gid)).toHaveLength(ATTEMPTS);
    // The flag stays in the log: dropping the push loses no information.
    expect((await viewOf(dtx, gid)).transaction.needsAttention).toBe(true);
    await repair(gid);
  });
});
