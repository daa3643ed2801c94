/**
 * The operator console (/console) in a real headless browser: Debian's
 * chromium driven by playwright-core (installed with apt-get when missing,
 * never downloaded by playwright), against a coordinator on real MariaDB and
 * Redis and a participant whose confirm fails.
 *
 * The coordinator retries phase two only after 5-10 minutes, so a stuck
 * transaction becomes confirmed in this test only because "Retry now" was
 * clicked. Set DTX_CONSOLE_SCREENSHOTS=<dir> to keep screenshots of each step.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import type { DtxClient } from '../../participant-sdk/index.ts';
import { ADMIN_TOKENS, adminCall, OPERATOR, VIEWER, type AdminTransaction } from '../support/admin-api.ts';
import { ensureChromium, launchChromium, type HeadlessBrowser } from '../support/chromium.ts';
import { type InProcessCoordinator } from '../support/coordinator-harness.ts';
import { startCoordinatorWithBank, type CoordinatorWithBank } from '../support/coordinator-with-bank.ts';
import type { TestParticipant } from '../support/test-participant.ts';

const hex = () => randomBytes(4).toString('hex');
const UI_TIMEOUT = 15_000;

let env: CoordinatorWithBank | undefined;
let coordinator: InProcessCoordinator;
let bank: TestParticipant;
let dtx: DtxClient;
let browser: HeadlessBrowser;
let page: Page;
let pageErrors: string[] = [];
let step = 0;

beforeAll(async () => {
  // Installing the chromium package on a fresh machine may take minutes.
  await ensureChromium();
}, 20 * 60_000);

beforeAll(async () => {
  env = await startCoordinatorWithBank(inject('mysqlUrl'), inject('redisUrl'), 'console', {
    DTX_ADMIN_TOKENS: ADMIN_TOKENS,
    DTX_RETRY_BASE_MS: '600000',
    DTX_RETRY_MAX_MS: '600000',
    DTX_ATTENTION_AFTER_RETRIES: '1',
  });
  ({ coordinator, bank, dtx } = env);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await env?.stop();
});

/** A fresh tab (so a fresh sessionStorage) for each test; uncaught page errors fail the test. */
async function openConsole(): Promise<Page> {
  pageErrors = [];
  page = await browser.context.newPage();
  page.setDefaultTimeout(UI_TIMEOUT);
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) pageErrors.push(message.text());
  });
  await page.goto(`${coordinator.url}/console`);
  return page;
}

afterEach(async () => {
  bank.behave('confirm', 'ok');
  await page?.close();
  expect(pageErrors).toEqual([]);
});

async function snap(name: string): Promise<void> {
  const dir = process.env['DTX_CONSOLE_SCREENSHOTS'];
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, `${String(++step).padStart(2, '0')}-${name}.png`), fullPage: true });
}

async function signIn(token: string): Promise<void> {
  await page.fill('#token', token);
  await page.click('#sign-in');
  await page.locator('#app').waitFor({ state: 'visible' });
}

async function stuckTransaction(label: string): Promise<string> {
  bank.behave('confirm', 'error');
  const gid = `${label}-${hex()}`;
  const outcome = await dtx.tcc(
    async (tx) =>
      void (await tx.tryAll([
        { url: bank.resourceUrl, payload: { a: 1 } },
        { url: bank.resourceUrl, payload: { a: 2 } },
      ])),
    { gid },
  );
  expect(outcome.status).toBe('confirming');
  bank.behave('confirm', 'ok');
  return gid;
}

async function confirmedTransaction(label: string): Promise<string> {
  const gid = `${label}-${hex()}`;
  expect((await dtx.tcc(async (tx) => void (await tx.try({ url: bank.resourceUrl, payload: {} })), { gid })).status).toBe('confirmed');
  return gid;
}

const text = async (selector: string) => ((await page.locator(selector).textContent()) ?? '').trim();

describe('serving the console', () => {
  it('serves the page and its modules with content types, revalidation and a strict CSP', async () => {
    const redirect = await fetch(`${coordinator.url}/console`, { redirect: 'manual' });
    expect(redirect.status).toBe(302);
    expect(new URL(redirect.headers.get('location')!, `${coordinator.url}/console`).pathname).toBe('/console/');

    const expected: Record<string, string> = {
      '/console/': 'text/html; charset=utf-8',
      '/console/console.js': 'text/javascript; charset=utf-8',
      '/console/api.js': 'text/javascript; charset=utf-8',
      '/console/actions.js': 'text/javascript; charset=utf-8',
      '/console/detail.js': 'text/javascript; charset=utf-8',
      '/console/dom.js': 'text/javascript; charset=utf-8',
      '/console/console.css': 'text/css; charset=utf-8',
    };
    for (const [file, contentType] of Object.entries(expected)) {
      const response = await fetch(`${coordinator.url}${file}`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe(contentType);
      expect(response.headers.get('cache-control')).toBe('no-cache');
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('content-security-policy')).toContain("script-src 'self'");
      const etag = response.headers.get('etag');
      expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
      expect((await response.text()).length).toBeGreaterThan(100);
      const again = await fetch(`${coordinator.url}${file}`, { headers: { 'if-none-match': etag! } });
      expect(again.status).toBe(304);
    }
    for (const file of ['/console/nope.js', '/console/..%2Fpackage.json', '/console/index.html%00']) {
      const response = await fetch(`${coordinator.url}${file}`);
      expect(response.status).toBe(404);
      expect(await response.json()).toMatchObject({ code: expect.any(String) });
    }
  });
});

describe('the console in chromium', () => {
  it('a wrong token shows the API error and keeps the sign-in form', async () => {
    await openConsole();
    await page.locator('#login').waitFor({ state: 'visible' });
    await page.fill('#token', 'not-the-right-token');
    await page.click('#sign-in');
    const error = page.locator('#login-error');
    await error.waitFor({ state: 'visible' });
    expect(await error.textContent()).toContain('UNAUTHENTICATED: a valid admin bearer token is required');
    expect(await page.locator('#app').isHidden()).toBe(true);
    expect(await page.evaluate("sessionStorage.getItem('dtx-admin-token')")).toBeNull();
    await snap('wrong-token');
  });

  it('filters, opens the stuck transaction, shows its branches and last error, retries it and sees it confirmed', async () => {
    const tag = `ui${hex()}`;
    await confirmedTransaction(`${tag}-ok`);
    const gid = await stuckTransaction(`${tag}-stuck`);
    await confirmedTransaction(`${tag}-ok`);

    await openConsole();
    await signIn(OPERATOR.token);
    expect(await page.evaluate("sessionStorage.getItem('dtx-admin-token')")).toBe(OPERATOR.token);
    const stuckRow = page.locator(`#transactions tbody tr[data-gid="${gid}"]`);
    await stuckRow.waitFor();
    expect(await stuckRow.getAttribute('class')).toContain('attention');
    expect(await page.locator('#stats [data-stat="needsAttention"] .stat-value').textContent()).toBe('1');
    await snap('list');

    // Filter: needs attention, confirming, this test's gids.
    await page.selectOption('#f-attention', 'true');
    await page.selectOption('#f-status', 'confirming');
    await page.fill('#f-gid', tag);
    await page.click('#apply-filters');
    const listed = () => page.locator('#transactions tbody tr').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-gid')));
    await expect.poll(listed, { timeout: UI_TIMEOUT }).toEqual([gid]);
    expect(page.url()).toContain('needsAttention=true');
    expect(page.url()).toContain('status=confirming');
    await snap('filtered');

    // Open it: the branch table with attempts and last error, the timeline.
    await page.click(`#transactions a.gid-link:text-is("${gid}")`);
    await page.locator('#branches tbody tr[data-branch="02"]').waitFor();
    expect(await text('#d-gid')).toBe(gid);
    const rows = await page
      .locator('#branches tbody tr')
      .evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].slice(0, 5).map((td) => td.textContent?.trim() ?? '')));
    expect(rows.map((r) => [r[0], r[2], r[3]])).toEqual([
      ['01', 'prepared', '1'],
      ['02', 'prepared', '1'],
    ]);
    for (const row of rows) expect(row[4]).toContain('HTTP 500');
    expect(await text('#timeline')).toContain('confirm branch 01: unknown (attempt 1)');
    expect(await text('#timeline')).toContain('flagged: needs attention');
    expect(await page.locator('#actions button[data-action="force-abort"]').isDisabled()).toBe(true);
    await snap('detail');

    // The participant is repaired; retry now, with a reason.
    bank.behave('confirm', 'ok');
    await page.click('#actions button[data-action="retry"]');
    await page.locator('#action-dialog').waitFor({ state: 'visible' });
    await page.click('#dlg-submit');
    expect(await text('#dlg-error')).toContain('reason');
    await page.fill('#dlg-reason', 'bank repaired, OPS-7');
    await snap('retry-dialog');
    await page.click('#dlg-submit');
    await page.locator('#action-dialog').waitFor({ state: 'hidden' });
    await page.waitForSelector('#detail-view[data-status="confirmed"]');
    await expect.poll(() => page.locator('#branches tbody td:nth-child(3)').allTextContents(), { timeout: UI_TIMEOUT }).toEqual(['confirmed', 'confirmed']);
    expect(await text('#d-badges')).toBe('confirmed');
    expect(await text('#audit tbody')).toContain('bank repaired, OPS-7');
    expect(await text('#timeline')).toContain('operator alice');
    await snap('confirmed');

    const record = await adminCall<AdminTransaction>(coordinator.url, 'GET', `/transactions/${gid}`, { token: VIEWER.token });
    expect(record.body.transaction.status).toBe('confirmed');
    expect(record.body.audit).toMatchObject([{ actor: OPERATOR.name, action: 'retry', reason: 'bank repaired, OPS-7' }]);
    expect(await bank.effects(gid, 'confirm')).toBe(2);
  });

  it('shows an action refused by the API ({code, message}), and closing asks for an explicit confirmation', async () => {
    const gid = await stuckTransaction('ui-close');

    // A viewer sees the transaction, but the API refuses the action.
    await openConsole();
    await signIn(VIEWER.token);
    await page.goto(`${coordinator.url}/console/#/tx/${gid}`);
    await page.locator('#branches tbody tr[data-branch="01"]').waitFor();
    await page.click('#actions button[data-action="pause"]');
    await page.fill('#dlg-reason', 'viewer tries anyway');
    await page.click('#dlg-submit');
    await page.locator('#dlg-error').waitFor({ state: 'visible' });
    expect(await text('#dlg-error')).toBe(`FORBIDDEN: ${VIEWER.name} is a viewer; this action needs the operator role`);
    await snap('forbidden');
    await page.click('#dlg-cancel');

    // An operator closes it: the last-resort warning, the checkbox and the typed gid are required.
    await page.click('#sign-out');
    await signIn(OPERATOR.token);
    await page.locator('#branches tbody tr[data-branch="01"]').waitFor();
    await page.click('#actions button[data-action="close"]');
    await page.locator('#dlg-last-resort').waitFor({ state: 'visible' });
    expect(await text('#dlg-last-resort')).toContain('without calling any participant');
    await page.fill('#dlg-reason', 'bank B fixed by hand, OPS-9');
    await page.click('#dlg-submit');
    expect(await text('#dlg-error')).toContain('Tick the box');
    await page.check('#dlg-understand');
    await page.fill('#dlg-confirm-gid', 'not-the-gid');
    await page.click('#dlg-submit');
    expect(await text('#dlg-error')).toContain('Type the gid');
    await page.fill('#dlg-confirm-gid', gid);
    await snap('close-dialog');
    const calls = { ...bank.received };
    await page.click('#dlg-submit');
    await page.waitForSelector('#detail-view[data-status="confirmed"]');
    expect(await page.locator('#actions button[data-action="close"]').isDisabled()).toBe(true);
    expect(bank.received).toEqual(calls);
    const record = await adminCall<AdminTransaction>(coordinator.url, 'GET', `/transactions/${gid}`, { token: VIEWER.token });
    expect(record.body.audit).toMatchObject([{ actor: OPERATOR.name, action: 'close', reason: 'bank B fixed by hand, OPS-9' }]);
  });

  it('resolves one branch by hand, then retries all matching transactions from the list', async () => {
    const tag = `ui${hex()}`;
    const gid = await stuckTransaction(`${tag}-resolve`);
    await openConsole();
    await signIn(OPERATOR.token);
    await page.goto(`${coordinator.url}/console/#/tx/${gid}`);
    await page.locator('#branches tbody tr[data-branch="01"] button').click();
    await page.fill('#dlg-reason', 'confirmed by hand in bank A');
    await page.click('#dlg-submit');
    await expect.poll(() => page.locator('#branches tbody td:nth-child(3)').allTextContents(), { timeout: UI_TIMEOUT }).toEqual(['confirmed', 'prepared']);
    expect(await page.locator('#branches tbody tr[data-branch="01"] button').count()).toBe(0);
    expect(await text('#detail-view')).toContain('resolved by hand by alice');

    await page.click('#back');
    await page.fill('#f-gid', tag);
    await page.click('#apply-filters');
    await expect.poll(() => page.locator('#transactions tbody tr').count(), { timeout: UI_TIMEOUT }).toBe(1);
    await page.click('#bulk-retry');
    expect(await text('#dlg-text')).toContain(`gidPrefix = ${tag}`);
    await page.fill('#dlg-limit', '10');
    await page.fill('#dlg-reason', 'bank B is back');
    await page.click('#dlg-submit');
    await expect.poll(() => text('#toast'), { timeout: UI_TIMEOUT }).toBe('Retried 1, skipped 0');
    const listedStatus = async () => {
      await page.click('#refresh');
      return page.locator(`#transactions tbody tr[data-gid="${gid}"]`).getAttribute('data-status');
    };
    await expect.poll(listedStatus, { timeout: UI_TIMEOUT, interval: 300 }).toBe('confirmed');
    await snap('bulk-retried');
    const record = await adminCall<AdminTransaction>(coordinator.url, 'GET', `/transactions/${gid}`, { token: VIEWER.token });
    expect(record.body.audit!.map((a) => [a.action, a.branchId, a.reason])).toEqual([
      ['retry', null, 'bank B is back'],
      ['resolve-branch', '01', 'confirmed by hand in bank A'],
    ]);
    expect(await bank.effects(gid, 'confirm')).toBe(1);
  });

  it('shows text from the API as text, never as markup', async () => {
    const gid = `ui-escape-${hex()}`;
    const hostile = '<img src=x onerror="window.__dtxXss=1"><b>bold</b>';
    await dtx.coordinator.begin({ gid, timeoutMs: 600_000, branches: [] });
    await dtx.coordinator.abort(gid, { reason: hostile });

    await openConsole();
    await signIn(OPERATOR.token);
    const row = page.locator(`#transactions tbody tr[data-gid="${gid}"]`);
    await row.waitFor();
    expect(await row.locator('td.why').textContent()).toBe(hostile);
    await page.click(`#transactions a.gid-link:text-is("${gid}")`);
    await page.waitForSelector('#detail-view[data-status="cancelled"]');
    expect(await text('#d-summary')).toContain(hostile);
    expect(await text('#timeline')).toContain(hostile);
    expect(await page.locator('main img, main b').count()).toBe(0);
    expect(await page.evaluate('window.__dtxXss')).toBeUndefined();
  });
});
