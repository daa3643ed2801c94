// The dtx operator console: lists transactions through the admin API, opens
// one with its branches and history, and performs the operator actions.
// Plain browser JavaScript (ES modules), no build step. Text from the API is
// only ever inserted as text nodes (see dom.js).
import { initActions, openAction, openBulkRetry, openResolve } from './actions.js';
import { api, ApiError, describeError, token } from './api.js';
import { renderDetail, resetDetail } from './detail.js';
import { $, absolute, badge, fill, h, relative, show, timeEl } from './dom.js';

/**
 * @typedef {import('./api.js').Transaction} Transaction
 * @typedef {import('./api.js').TransactionView} TransactionView
 * @typedef {import('./api.js').OperatorAction} OperatorAction
 * @typedef {Record<string, string>} Filters the list filters, as in the URL
 */

const FILTER_FIELDS = ['status', 'needsAttention', 'paused', 'gidPrefix', 'participant', 'olderThanMs', 'order'];
const DETAIL_REFRESH_MS = 2_000;

/**
 * @type {{
 *   filters: Filters,
 *   nextCursor: string | null,
 *   loaded: number,
 *   detail: TransactionView | null,
 *   detailTimer: ReturnType<typeof setInterval> | null,
 * }}
 */
const state = {
  /** Filters of the list as shown in the URL (#/?status=...). */
  filters: {},
  nextCursor: null,
  loaded: 0,
  /** The transaction open in the detail view, as the API last returned it. */
  detail: null,
  detailTimer: null,
};

/** @param {string} selector @returns {HTMLInputElement} */
const input = (selector) => $(selector);

// ---------------------------------------------------------------------------
// Session
// ---------------------------------------------------------------------------

/** @param {string} [message] */
function showLogin(message) {
  stopDetailRefresh();
  show($('#app'), false);
  show($('#session'), false);
  show($('#login'));
  const error = $('#login-error');
  fill(error, message ?? '');
  show(error, Boolean(message));
  input('#token').value = '';
  input('#token').focus();
}

/** @param {string} value */
async function signIn(value) {
  token.set(value.trim());
  try {
    await api.stats();
  } catch (error) {
    token.clear();
    showLogin(describeError(error));
    return;
  }
  show($('#login'), false);
  show($('#session'));
  show($('#app'));
  await route();
}

function signOut() {
  token.clear();
  showLogin();
}

/** Errors of background loads: a rejected token sends back to sign-in, anything else goes to the banner. */
/** @param {unknown} error */
function report(error) {
  if (error instanceof ApiError && error.status === 401) {
    token.clear();
    showLogin(describeError(error));
    return;
  }
  const banner = $('#banner');
  fill(banner, describeError(error));
  show(banner);
}

function clearBanner() {
  show($('#banner'), false);
}

/** @type {ReturnType<typeof setTimeout> | undefined} */
let toastTimer;

/** @param {string} message */
function toast(message) {
  const el = $('#toast');
  fill(el, message);
  show(el);
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => show(el, false), 4_000);
}

// ---------------------------------------------------------------------------
// Routing: #/?filters (list) and #/tx/<gid> (one transaction)
// ---------------------------------------------------------------------------

/** @returns {{ view: 'detail', gid: string } | { view: 'list', filters: Filters }} */
function parseHash() {
  const hash = window.location.hash.replace(/^#/, '') || '/';
  const match = /^\/tx\/(.+)$/.exec(hash);
  if (match) {
    try {
      return { view: 'detail', gid: decodeURIComponent(/** @type {string} */ (match[1])) };
    } catch {
      return { view: 'detail', gid: /** @type {string} */ (match[1]) };
    }
  }
  const query = hash.includes('?') ? hash.slice(hash.indexOf('?') + 1) : '';
  const params = new URLSearchParams(query);
  /** @type {Filters} */
  const filters = {};
  for (const field of FILTER_FIELDS) {
    const value = params.get(field);
    if (value) filters[field] = value;
  }
  return { view: 'list', filters };
}

async function route() {
  if (!token.get()) return showLogin();
  clearBanner();
  const where = parseHash();
  void loadStats();
  if (where.view === 'detail') {
    show($('#list-view'), false);
    show($('#detail-view'));
    if (state.detail?.transaction.gid !== where.gid) {
      state.detail = null;
      resetDetail();
      fill($('#d-gid'), where.gid);
      fill($('#d-badges'));
    }
    await loadDetail(where.gid);
    startDetailRefresh(where.gid);
  } else {
    stopDetailRefresh();
    state.detail = null;
    show($('#detail-view'), false);
    show($('#list-view'));
    state.filters = where.filters;
    writeFilterForm(where.filters);
    await loadList(true);
  }
}

// ---------------------------------------------------------------------------
// Stats
// ---------------------------------------------------------------------------

async function loadStats() {
  let stats;
  try {
    stats = await api.stats();
  } catch (error) {
    report(error);
    return;
  }
  /**
   * @param {string} label
   * @param {string | number} value
   * @param {{ href?: string, title?: string, alert?: boolean, key?: string }} [options]
   */
  const card = (label, value, options = {}) =>
    h(
      options.href ? 'a' : 'div',
      { class: `stat ${options.alert ? 'stat-alert' : ''}`, href: options.href, title: options.title, dataset: { stat: options.key ?? label } },
      h('span', { class: 'stat-value' }, value),
      h('span', { class: 'stat-label' }, label),
    );
  const open = stats.open;
  fill(
    $('#stats'),
    card('trying', open.trying, { href: '#/?status=trying', key: 'trying' }),
    card('confirming', open.confirming, { href: '#/?status=confirming', key: 'confirming' }),
    card('cancelling', open.cancelling, { href: '#/?status=cancelling', key: 'cancelling' }),
    card('needs attention', stats.needsAttention, { href: '#/?needsAttention=true', alert: stats.needsAttention > 0, key: 'needsAttention' }),
    card('paused', stats.paused, { href: '#/?paused=true', key: 'paused' }),
    card('retry backlog', stats.retryBacklog, { title: 'open transactions whose retry time has passed', key: 'retryBacklog' }),
    card('flagged last hour', stats.flaggedLastHour, { key: 'flaggedLastHour' }),
    card('oldest open', stats.oldestOpenCreatedAt ? relative(stats.oldestOpenCreatedAt).replace(' ago', '') : '—', {
      title: stats.oldestOpenCreatedAt ? `created ${absolute(stats.oldestOpenCreatedAt)}` : 'no open transaction',
      key: 'oldestOpen',
    }),
    card('finished last hour', `${stats.finishedLastHour.confirmed} ✓ / ${stats.finishedLastHour.cancelled} ✗`, {
      title: 'confirmed / cancelled in the last hour',
      key: 'finishedLastHour',
    }),
  );
}

// ---------------------------------------------------------------------------
// List
// ---------------------------------------------------------------------------

/**
 * A named control of the filter form (inputs and selects alike have a value).
 * @param {string} field
 * @returns {HTMLInputElement | HTMLSelectElement | null}
 */
function filterControl(field) {
  /** @type {HTMLFormElement} */
  const form = $('#filters');
  return /** @type {HTMLInputElement | HTMLSelectElement | null} */ (form.elements.namedItem(field));
}

/** @param {Filters} filters */
function writeFilterForm(filters) {
  for (const field of FILTER_FIELDS) {
    const control = filterControl(field);
    if (control) control.value = filters[field] ?? (field === 'order' ? 'newest' : '');
  }
}

/** @returns {Filters} */
function readFilterForm() {
  /** @type {Filters} */
  const filters = {};
  for (const field of FILTER_FIELDS) {
    let value = String(filterControl(field)?.value ?? '').trim();
    if (field === 'participant' && value) value = originOf(value);
    if (value && !(field === 'order' && value === 'newest')) filters[field] = value;
  }
  return filters;
}

/** `http://host:port/any/path` → `http://host:port`, the form the API filters by. */
/** @param {string} text */
function originOf(text) {
  try {
    const url = new URL(text);
    return url.origin === 'null' ? text : url.origin;
  } catch {
    return text;
  }
}

/** @param {Filters} filters */
function applyFilters(filters) {
  const params = new URLSearchParams(filters).toString();
  const target = `#/${params ? `?${params}` : ''}`;
  if (window.location.hash === target) void route();
  else window.location.hash = target;
}

/** @param {boolean} reset */
async function loadList(reset) {
  /** @type {HTMLButtonElement} */
  const more = $('#more');
  more.disabled = true;
  let page;
  try {
    page = await api.list({ ...state.filters, limit: 50, cursor: reset ? undefined : state.nextCursor });
  } catch (error) {
    more.disabled = false;
    report(error);
    return;
  }
  clearBanner();
  const body = $('#transactions tbody');
  if (reset) {
    body.replaceChildren();
    state.loaded = 0;
  }
  for (const item of page.items) body.appendChild(listRow(item));
  state.loaded += page.items.length;
  state.nextCursor = page.nextCursor;
  show($('#list-empty'), state.loaded === 0);
  show(more, Boolean(page.nextCursor));
  more.disabled = false;
  fill($('#list-count'), state.loaded === 0 ? '' : `${state.loaded} shown${page.nextCursor ? ', more available' : ''}`);
}

/** @param {Transaction} t */
function listRow(t) {
  const classes = [t.needsAttention ? 'attention' : '', t.paused ? 'paused' : ''].filter(Boolean).join(' ');
  const why = t.attentionReason ?? t.reason ?? '';
  return h(
    'tr',
    { class: classes || undefined, dataset: { gid: t.gid, status: t.status } },
    h('td', { class: 'gid-cell' }, h('a', { href: `#/tx/${encodeURIComponent(t.gid)}`, class: 'gid-link' }, t.gid)),
    h('td', {}, badge(t.status)),
    h('td', { class: 'flags' }, t.needsAttention ? badge('needs attention', 'attention') : null, t.paused ? badge('paused', 'paused') : null),
    h('td', {}, timeEl(t.createdAt)),
    h('td', { class: 'num' }, t.retryCount),
    h('td', {}, t.paused ? h('span', { class: 'muted' }, 'paused') : timeEl(t.nextRetryAt)),
    h('td', { class: 'why', title: why || undefined }, why),
  );
}

// ---------------------------------------------------------------------------
// One transaction
// ---------------------------------------------------------------------------

/** @param {string} gid */
function startDetailRefresh(gid) {
  stopDetailRefresh();
  state.detailTimer = setInterval(() => {
    if (document.hidden || !state.detail || state.detail.transaction.finishedAt !== null) return;
    void loadDetail(gid, { quiet: true });
  }, DETAIL_REFRESH_MS);
}

function stopDetailRefresh() {
  if (state.detailTimer) clearInterval(state.detailTimer);
  state.detailTimer = null;
}

/** @param {string} gid @param {{ quiet?: boolean }} [options] */
async function loadDetail(gid, { quiet = false } = {}) {
  let view;
  try {
    view = await api.transaction(gid);
  } catch (error) {
    if (!quiet || (error instanceof ApiError && error.status === 401)) report(error);
    return;
  }
  // The user may have moved on while this was loading.
  const where = parseHash();
  if (where.view !== 'detail' || where.gid !== gid) return;
  if (!quiet) clearBanner();
  state.detail = view;
  renderDetail(view, { onResolve: openResolve });
}

// ---------------------------------------------------------------------------
// Wiring
// ---------------------------------------------------------------------------

function wire() {
  $('#login-form').addEventListener('submit', (event) => {
    event.preventDefault();
    void signIn(input('#token').value);
  });
  $('#sign-out').addEventListener('click', signOut);
  $('#refresh').addEventListener('click', () => void route());
  $('#filters').addEventListener('submit', (event) => {
    event.preventDefault();
    applyFilters(readFilterForm());
  });
  $('#reset-filters').addEventListener('click', () => applyFilters({}));
  $('#bulk-retry').addEventListener('click', openBulkRetry);
  $('#more').addEventListener('click', () => void loadList(false));
  for (const button of /** @type {NodeListOf<HTMLButtonElement>} */ ($('#actions').querySelectorAll('button[data-action]'))) {
    button.addEventListener('click', () => openAction(/** @type {OperatorAction} */ (button.dataset.action)));
  }
  window.addEventListener('hashchange', () => void route());
  initActions({
    detail: () => state.detail,
    filters: readFilterForm,
    toast,
    report,
    changed: async (gid) => {
      void loadStats();
      // Phase two runs in the background: look again shortly.
      if (gid === null) {
        await loadList(true);
        setTimeout(() => parseHash().view === 'list' && void loadList(true), 1_000);
        return;
      }
      await loadDetail(gid);
      setTimeout(() => void loadDetail(gid, { quiet: true }), 600);
    },
  });
}

wire();
if (token.get()) {
  show($('#session'));
  show($('#app'));
  void route();
} else {
  showLogin();
}
