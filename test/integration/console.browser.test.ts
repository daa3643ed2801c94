/**
 * The operator console (/console) in a real headless browser: Debian's
 * chromium driven by playwright-core (installed with apt-get when missing,
 * never downloaded by playwright), against a coordinator on real MariaDB and
 * Redis and a participant whose confirm fails.
 *
 * The coordinator retries phase two only after 5-10 minutes, so a stuck
 * transaction becomes confirmed in this test only because "Retry now" was
 * clicked. The console's modes and status words come from the coordinator
 * (GET /admin/v1/modes), FMT's among them. Set DTX_CONSOLE_SCREENSHOTS=<dir>
 * to keep screenshots of each step.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { HEADERS, signRowLockRequest } from '@dtx/protocol';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import type { DtxClient } from '../../participant-sdk/index.ts';
import { ADMIN_TOKENS, adminCall, OPERATOR, VIEWER, type AdminTransaction } from '../support/admin-api.ts';
import { ensureChromium, launchChromium, type HeadlessBrowser } from '../support/chromium.ts';
import { TEST_SECRET, type InProcessCoordinator } from '../support/coordinator-harness.ts';
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

/** An FMT transaction left executing (nothing is submitted; its deadline is 10 minutes away) whose branch 01 holds `rows` of bank-a's accounts (none: no lock taken). */
async function executingFmtTransaction(label: string, rows: string[]): Promise<string> {
  const gid = `${label}-${hex()}`;
  const begun = await dtx.coordinator.begin({
    gid,
    mode: 'fmt',
    timeoutMs: 600_000,
    branches: [{ branchId: '01', commitUrl: `${bank.url}/fmt/commit`, rollbackUrl: `${bank.url}/fmt/rollback`, payload: {} }],
  });
  expect(begun.status).toBe('executing');
  if (rows.length === 0) return gid;
  // As the branch's participant does before its local commit: a lock request signed with the key the coordinator signs its calls to it with.
  const body = JSON.stringify({ keys: rows.map((id) => ({ resource: 'bank-a', table: 'accounts', pk: [id] })) });
  const timestamp = Date.now();
  const response = await fetch(`${coordinator.url}/v1/transactions/${gid}/branches/01/locks`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      [HEADERS.timestamp]: String(timestamp),
      [HEADERS.signature]: signRowLockRequest(TEST_SECRET, { gid, branchId: '01', timestamp, body }),
    },
    body,
  });
  expect(await response.json()).toEqual({ gid, branchId: '01', locked: rows.length });
  return gid;
}

/** The options of a select: [value, label] each. */
const options = (selector: string) =>
  page.locator(`${selector} option`).evaluateAll((list) => list.map((o) => [o.getAttribute('value') ?? '', (o.textContent ?? '').trim()]));

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

  it('builds the mode and status filters from the coordinator, and lists and filters by mode, FMT among them', async () => {
    const tag = `ui${hex()}`;
    const tccGid = await confirmedTransaction(`${tag}-tcc`);
    const fmtGid = await executingFmtTransaction(`${tag}-fmt`, []);
    const catalog = await adminCall<{ modes: { mode: string; statuses: Record<string, string> }[] }>(coordinator.url, 'GET', '/modes', { token: VIEWER.token });
    expect(catalog.status).toBe(200);
    const modes = catalog.body.modes.map((m) => m.mode);
    expect(modes).toContain('fmt');
    const fmtWords = Object.values(catalog.body.modes.find((m) => m.mode === 'fmt')!.statuses);

    await openConsole();
    await signIn(VIEWER.token);
    const fmtRow = page.locator(`#transactions tbody tr[data-gid="${fmtGid}"]`);
    await fmtRow.waitFor();

    // Every mode the coordinator names, and every status word of every mode once: FMT's executing among them.
    expect(await options('#f-mode')).toEqual([['', 'any'], ...modes.map((m) => [m, m])]);
    const statuses = await options('#f-status');
    expect(statuses).toContainEqual(['executing', 'executing (fmt)']);
    expect(statuses).toContainEqual(['committing', 'committing (xa, fmt)']);
    expect(new Set(statuses.map(([value]) => value)).size).toBe(statuses.length);
    // The mode column, and the stats' card for FMT's open word.
    expect(await fmtRow.locator('td.mode').textContent()).toBe('fmt');
    expect(await fmtRow.getAttribute('data-status')).toBe('executing');
    expect(await page.locator(`#transactions tbody tr[data-gid="${tccGid}"] td.mode`).textContent()).toBe('tcc');
    expect(await page.locator('#stats [data-stat="status-executing"] .stat-value').textContent()).toBe('1');
    expect(await text('#stats [data-stat="status-executing"] .stat-label')).toBe('executing fmt');
    await snap('modes');

    // Choosing a mode narrows the statuses to its words; the filters go into the URL and the list.
    await page.selectOption('#f-mode', 'fmt');
    expect((await options('#f-status')).map(([value]) => value)).toEqual(['', ...fmtWords]);
    await page.selectOption('#f-status', 'executing');
    await page.fill('#f-gid', tag);
    await page.click('#apply-filters');
    const listed = () => page.locator('#transactions tbody tr').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-gid')));
    await expect.poll(listed, { timeout: UI_TIMEOUT }).toEqual([fmtGid]);
    expect(page.url()).toContain('mode=fmt');
    expect(page.url()).toContain('status=executing');
    await snap('filtered-by-mode');

    // Reloaded from the URL, the form shows the same filters.
    await page.reload();
    await expect.poll(listed, { timeout: UI_TIMEOUT }).toEqual([fmtGid]);
    expect(await page.locator('#f-mode').inputValue()).toBe('fmt');
    expect(await page.locator('#f-status').inputValue()).toBe('executing');

    await page.selectOption('#f-mode', 'tcc');
    expect(await page.locator('#f-status').inputValue()).toBe('');
    await page.click('#apply-filters');
    await expect.poll(listed, { timeout: UI_TIMEOUT }).toEqual([tccGid]);

    // The FMT transaction: its deadline still applies while executing; its branch holds no row lock yet.
    await page.goto(`${coordinator.url}/console/#/tx/${fmtGid}`);
    await page.waitForSelector('#detail-view[data-status="executing"]');
    await page.locator('#d-row-locks').waitFor({ state: 'visible' });
    expect(await page.locator('#row-locks tbody tr').count()).toBe(0);
    expect(await page.locator('#row-locks-empty').isVisible()).toBe(true);
    expect(await text('#d-summary')).not.toContain('applies only while');

    // A mode whose branches hold no row locks shows no such table.
    await page.goto(`${coordinator.url}/console/#/tx/${tccGid}`);
    await page.waitForSelector('#detail-view[data-status="confirmed"]');
    expect(await page.locator('#d-row-locks').isHidden()).toBe(true);
    expect(await text('#d-summary')).toContain('applies only while trying');
  });

  it("shows the row locks an FMT transaction's branches hold", async () => {
    const gid = await executingFmtTransaction('ui-locks', ['alice', 'bob']);
    await openConsole();
    await signIn(VIEWER.token);
    await page.goto(`${coordinator.url}/console/#/tx/${gid}`);
    await page.waitForSelector('#detail-view[data-status="executing"]');
    await page.locator('#row-locks tbody tr').first().waitFor();
    const locks = await page
      .locator('#row-locks tbody tr')
      .evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent?.trim() ?? '')));
    expect(locks.map((row) => row.slice(0, 4))).toEqual([
      ['accounts', '["alice"]', 'bank-a', '01'],
      ['accounts', '["bob"]', 'bank-a', '01'],
    ]);
    for (const row of locks) expect(row[4]).toMatch(/(now|ago) · \d{4}-\d{2}-\d{2} /);
    expect(await page.locator('#row-locks-empty').isHidden()).toBe(true);
    await snap('fmt-row-locks');
  });
});
