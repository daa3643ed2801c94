// The dtx operator console: lists transactions through the admin API, opens
// one with its branches and history, and performs the operator actions.
// Plain browser JavaScript (ES modules), no build step. Text from the API is
// only ever inserted as text nodes (see dom.js).
import { initActions, openAction, openBulkRetry, openResolve } from './actions.js';
import { api, ApiError, describeError, FINISHED_STATUSES, modeInfo, statusChoices, token, UNFINISHED_STATUSES, wordCounts } from './api.js';
import { renderDetail, resetDetail, statusBadge } from './detail.js';
import { $, absolute, badge, fill, h, relative, show, timeEl } from './dom.js';

/**
 * @typedef {import('./api.js').Transaction} Transaction
 * @typedef {import('./api.js').TransactionView} TransactionView
 * @typedef {import('./api.js').OperatorAction} OperatorAction
 * @typedef {import('./api.js').ModeCatalog} ModeCatalog
 * @typedef {Record<string, string>} Filters the list filters, as in the URL
 */

const FILTER_FIELDS = ['mode', 'status', 'needsAttention', 'paused', 'gidPrefix', 'participant', 'olderThanMs', 'order'];
const DETAIL_REFRESH_MS = 2_000;

/**
 * @type {{
 *   catalog: ModeCatalog | null,
 *   filters: Filters,
 *   nextCursor: string | null,
 *   loaded: number,
 *   detail: TransactionView | null,
 *   detailTimer: ReturnType<typeof setInterval> | null,
 * }}
 */
const state = {
  /** The coordinator's modes (GET /admin/v1/modes), once loaded: every mode and status word the console shows comes from it. */
  catalog: null,
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
  await loadCatalog();
  // A rejected token sent the user back to sign-in.
  if (!token.get()) return;
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
// Modes: what the coordinator says they are (GET /admin/v1/modes)
// ---------------------------------------------------------------------------

/** Loads the mode catalog once (again after a failure) and builds the mode filter from it. */
async function loadCatalog() {
  if (state.catalog) return;
  try {
    state.catalog = await api.modes();
  } catch (error) {
    // The list and the detail still work; the filters offer "any" until a later load succeeds.
    report(error);
    return;
  }
  fillOptions(
    filterControl('mode'),
    state.catalog.modes.map((info) => ({ value: info.mode, label: info.mode })),
  );
}

/**
 * Replaces the options of a filter's select after its "any": keeps the selected value when it is still offered.
 * @param {HTMLInputElement | HTMLSelectElement | null} select
 * @param {{ value: string, label: string }[]} options
 */
function fillOptions(select, options) {
  if (!(select instanceof HTMLSelectElement)) return;
  const selected = select.value;
  fill(select, h('option', { value: '' }, 'any'), ...options.map((o) => h('option', { value: o.value }, o.label)));
  select.value = options.some((o) => o.value === selected) ? selected : '';
}

/** The status filter offers the words of the chosen mode, or every mode's words (each once) when none is chosen. */
function fillStatusOptions() {
  if (!state.catalog) return;
  fillOptions(filterControl('status'), statusChoices(state.catalog, filterControl('mode')?.value || undefined));
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
   * @param {{ href?: string, title?: string, alert?: boolean, key?: string, note?: string, zero?: boolean }} [options]
   */
  const card = (label, value, options = {}) =>
    h(
      options.href ? 'a' : 'div',
      {
        class: ['stat', options.alert ? 'stat-alert' : '', options.zero ? 'stat-zero' : ''].filter(Boolean).join(' '),
        href: options.href,
        title: options.title,
        dataset: { stat: options.key ?? label },
      },
      h('span', { class: 'stat-value' }, value),
      h('span', { class: 'stat-label' }, label, options.note ? h('span', { class: 'stat-note' }, ` ${options.note}`) : null),
    );
  const catalog = state.catalog;
  // Open transactions by status word, every word of every mode the coordinator names (the stats count by word: a word
  // two modes share, such as XA's and FMT's committing, is one count of both).
  const open = catalog
    ? wordCounts(catalog, stats.open, UNFINISHED_STATUSES)
    : Object.entries(stats.open).map(([word, count]) => ({ word, count, modes: /** @type {string[]} */ ([]) }));
  const finished = catalog ? wordCounts(catalog, stats.finishedLastHour, FINISHED_STATUSES) : [];
  /** Transactions finished in the last hour as `status` (committed, rolled-back), over every mode's word for it. */
  const finishedAs = (/** @type {import('./api.js').ModelStatus} */ status) =>
    catalog ? wordCounts(catalog, stats.finishedLastHour, [status]).reduce((n, c) => n + c.count, 0) : '?';
  fill(
    $('#stats'),
    h(
      'div',
      { class: 'stat-grid' },
      card('needs attention', stats.needsAttention, { href: '#/?needsAttention=true', alert: stats.needsAttention > 0, key: 'needsAttention' }),
      card('paused', stats.paused, { href: '#/?paused=true', key: 'paused' }),
      card('retry backlog', stats.retryBacklog, { title: 'open transactions whose retry time has passed', key: 'retryBacklog' }),
      card('flagged last hour', stats.flaggedLastHour, { key: 'flaggedLastHour' }),
      card('oldest open', stats.oldestOpenCreatedAt ? relative(stats.oldestOpenCreatedAt).replace(' ago', '') : '—', {
        title: stats.oldestOpenCreatedAt ? `created ${absolute(stats.oldestOpenCreatedAt)}` : 'no open transaction',
        key: 'oldestOpen',
      }),
      card('finished last hour', `${finishedAs('committed')} ✓ / ${finishedAs('rolled-back')} ✗`, {
        title: `committed / rolled back in the last hour, in each mode's words: ${finished.map((c) => `${c.word} ${c.count}`).join(', ') || 'modes not loaded'}`,
        key: 'finishedLastHour',
      }),
    ),
    open.length
      ? h(
          'div',
          { class: 'stat-grid by-status', 'aria-label': 'Open transactions by status' },
          open.map((c) =>
            card(c.word, c.count, {
              href: `#/?${new URLSearchParams(c.modes.length === 1 ? { mode: String(c.modes[0]), status: c.word } : { status: c.word })}`,
              title: `open ${c.modes.length ? `${c.modes.join(' and ')} ` : ''}transactions that are ${c.word}`,
              key: `status-${c.word}`,
              note: c.modes.join(' · '),
              zero: c.count === 0,
            }),
          ),
        )
      : null,
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
  const mode = filterControl('mode');
  if (mode) mode.value = filters['mode'] ?? '';
  fillStatusOptions();
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
    { class: classes || undefined, dataset: { gid: t.gid, mode: t.mode, status: t.status } },
    h('td', { class: 'gid-cell' }, h('a', { href: `#/tx/${encodeURIComponent(t.gid)}`, class: 'gid-link' }, t.gid)),
    h('td', { class: 'mode' }, badge(t.mode, 'mode')),
    h('td', {}, statusBadge(state.catalog, t.mode, t.status)),
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
  renderDetail(view, { onResolve: openResolve, mode: modeInfo(state.catalog, view.transaction.mode) });
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
  filterControl('mode')?.addEventListener('change', fillStatusOptions);
  $('#reset-filters').addEventListener('click', () => applyFilters({}));
  $('#bulk-retry').addEventListener('click', openBulkRetry);
  $('#more').addEventListener('click', () => void loadList(false));
  for (const button of /** @type {NodeListOf<HTMLButtonElement>} */ ($('#actions').querySelectorAll('button[data-action]'))) {
    button.addEventListener('click', () => openAction(/** @type {OperatorAction} */ (button.dataset.action)));
  }
  window.addEventListener('hashchange', () => void route());
  initActions({
    detail: () => state.detail,
    mode: (mode) => modeInfo(state.catalog, mode),
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
