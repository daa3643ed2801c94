// The detail view of one transaction: summary, actions allowed in its
// state, branch table, row locks (a mode whose branches hold them: FMT),
// timeline of its events and its audit entries. What a mode means comes
// from the coordinator's mode catalog (GET /admin/v1/modes), never from a
// list here. Everything from the API is inserted as text (see dom.js).
import { branchStatusNamed, deadlineStatus, statusNamed } from './api.js';
import { $, absolute, badge, fill, h, relative, show, timeEl } from './dom.js';

/**
 * @typedef {import('./api.js').Transaction} Transaction
 * @typedef {import('./api.js').TransactionView} TransactionView
 * @typedef {import('./api.js').Branch} Branch
 * @typedef {import('./api.js').TransactionEvent} TransactionEvent
 * @typedef {import('./api.js').AuditEntry} AuditEntry
 * @typedef {import('./api.js').OperatorAvailability} OperatorAvailability
 * @typedef {import('./api.js').ModeCatalog} ModeCatalog
 * @typedef {import('./api.js').ModeInfo} ModeInfo
 * @typedef {import('./api.js').RowLock} RowLock
 * @typedef {(gid: string, branchId: string, done: string) => void} OnResolve
 */

/** Events shown before "Show all" (a transaction stuck for days has thousands). */
const TIMELINE_PAGE = 200;

let showAllEvents = false;

/** A different transaction is opened: start with the short timeline again. */
export function resetDetail() {
  showAllEvents = false;
}

/**
 * A status word as a badge, coloured by what it is in its mode (`trying` of
 * TCC and `executing` of FMT are both open): `badge-status-open`, …; a word
 * the catalog does not know keeps its own class.
 * @param {ModeCatalog | null} catalog @param {string} mode @param {string} word
 */
export function statusBadge(catalog, mode, word) {
  const status = statusNamed(catalog, mode, word);
  return badge(word, status ? `status-${status}` : word);
}

/** A branch status word as a badge, coloured by what it is in its mode (`badge-branch-pending`, …). @param {ModeInfo | undefined} info @param {string} word */
function branchBadge(info, word) {
  const status = info ? branchStatusNamed({ modes: [info] }, info.mode, word) : null;
  return badge(word, status ? `branch-${status}` : word);
}

/**
 * Renders one transaction (GET /admin/v1/transactions/:gid) into the detail view.
 * @param {TransactionView} view
 * @param {{ onResolve: OnResolve, mode: ModeInfo | undefined }} context `mode`: the catalog's entry for the transaction's mode (undefined while the catalog is not loaded)
 */
export function renderDetail(view, { onResolve, mode }) {
  const t = view.transaction;
  const catalog = mode ? { modes: [mode] } : null;
  fill($('#d-gid'), t.gid);
  fill(
    $('#d-badges'),
    statusBadge(catalog, t.mode, t.status),
    t.needsAttention ? badge('needs attention', 'attention') : null,
    t.paused ? badge('paused', 'paused') : null,
  );
  $('#detail-view').dataset.status = t.status;

  const row = (/** @type {string} */ label, /** @type {import('./dom.js').Child} */ value) => [h('dt', {}, label), h('dd', {}, value ?? '—')];
  const at = (/** @type {string | null} */ iso) => (iso ? h('span', {}, timeEl(iso), h('span', { class: 'muted' }, ` · ${absolute(iso)}`)) : '—');
  fill(
    $('#d-summary'),
    row('mode', t.mode),
    row('status', t.status),
    row('reason', t.reason),
    row('needs attention', t.needsAttention ? h('span', { class: 'error-text' }, t.attentionReason ?? 'yes') : 'no'),
    row('paused', t.paused ? 'yes — recovery leaves it alone until resumed' : 'no'),
    row('retries', String(t.retryCount)),
    row('next retry', t.paused ? 'paused' : at(t.nextRetryAt)),
    row('created', at(t.createdAt)),
    row('deadline', deadlineRow(t, mode, at)),
    row('updated', at(t.updatedAt)),
    row('finished', at(t.finishedAt)),
    row('lease', t.leaseOwner ? h('span', {}, t.leaseOwner, h('span', { class: 'muted' }, ' until '), timeEl(t.leaseUntil)) : 'none'),
  );

  renderActions(view.operator);
  renderBranches(t, mode, view.branches, view.operator.resolve, onResolve);
  renderRowLocks(mode, view.rowLocks);
  renderTimeline(view.events);
  renderAudit(view.audit ?? []);
}

/**
 * The deadline, muted once it no longer decides anything: it applies while
 * the transaction is in its mode's open status (TCC: trying, a message:
 * prepared, when its sender is asked), or committing for a mode begun and
 * submitted at once (a saga: running).
 * @param {Transaction} t @param {ModeInfo | undefined} mode @param {(iso: string | null) => import('./dom.js').Child} at
 */
function deadlineRow(t, mode, at) {
  if (!mode) return at(t.deadlineAt);
  const stage = deadlineStatus(mode);
  return stage === t.status ? at(t.deadlineAt) : h('span', { class: 'muted' }, `${absolute(t.deadlineAt)} (applies only while ${stage})`);
}

/**
 * Enables the actions the server says apply (the same decisions it runs);
 * a disabled button says why not.
 * @param {OperatorAvailability} operator
 */
function renderActions(operator) {
  for (const button of /** @type {NodeListOf<HTMLButtonElement>} */ ($('#actions').querySelectorAll('button[data-action]'))) {
    const why = operator.actions[/** @type {keyof OperatorAvailability['actions']} */ (button.dataset.action)];
    button.disabled = why !== null;
    button.title = why ?? '';
  }
}

/** Each operation's URL, one per line: `confirm http://…` (TCC), `action http://…` (saga). */
function operationUrls(/** @type {Branch} */ b) {
  return Object.entries(b)
    .filter(([key, value]) => key.endsWith('Url') && typeof value === 'string')
    .map(([key, value]) => `${key.slice(0, -3)} ${value}`)
    .join('\n');
}

/**
 * @param {Transaction} t @param {ModeInfo | undefined} mode @param {Branch[]} branches
 * @param {OperatorAvailability['resolve']} resolve
 * @param {OnResolve} onResolve
 */
function renderBranches(t, mode, branches, resolve, onResolve) {
  const resolvable = new Set(resolve?.branches ?? []);
  const graph = branches.some((b) => b.dependsOn);
  $('#branches').classList.toggle('with-graph', graph);
  const body = $('#branches tbody');
  body.replaceChildren(
    ...branches.map((b) => {
      return h(
        'tr',
        { dataset: { branch: b.branchId }, class: b.lastError ? 'failing' : undefined },
        h('td', { class: 'mono' }, b.branchId),
        h('td', { class: 'mono small', title: operationUrls(b) }, b.participant),
        h('td', {}, branchBadge(mode, b.status)),
        h('td', { class: 'num' }, b.attempts),
        h('td', { class: 'last-error' }, b.lastError ?? h('span', { class: 'muted' }, '—')),
        h('td', { class: 'mono small depends-on' }, b.dependsOn?.length ? b.dependsOn.join(', ') : h('span', { class: 'muted' }, graph ? 'none' : '')),
        h(
          'td',
          { class: 'row-action' },
          resolve && resolvable.has(b.branchId)
            ? h(
                'button',
                {
                  type: 'button',
                  class: 'small-button',
                  title: `Mark branch ${b.branchId} ${resolve.as} by hand (after you made it take effect some other way)`,
                  onclick: () => onResolve(t.gid, b.branchId, resolve.as),
                },
                'Resolve…',
              )
            : null,
        ),
      );
    }),
  );
  if (branches.length === 0) body.appendChild(h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'No branch registered.')));
}

/**
 * The row locks its branches hold now, for a mode whose branches take them
 * (the catalog's `rowLocks`: FMT); hidden for every other mode.
 * @param {ModeInfo | undefined} mode
 * @param {RowLock[] | undefined} locks
 */
function renderRowLocks(mode, locks) {
  const applies = Boolean(mode?.rowLocks || locks);
  show($('#d-row-locks'), applies);
  const held = applies ? (locks ?? []) : [];
  fill(
    $('#row-locks tbody'),
    ...held.map((lock) =>
      h(
        'tr',
        { dataset: { branch: lock.branchId, table: lock.table } },
        h('td', { class: 'mono' }, lock.table),
        h('td', { class: 'mono' }, JSON.stringify(lock.pk)),
        h('td', { class: 'mono small' }, lock.resource),
        h('td', { class: 'mono' }, lock.branchId),
        h('td', {}, timeEl(lock.lockedAt), h('span', { class: 'muted' }, ` · ${absolute(lock.lockedAt)}`)),
      ),
    ),
  );
  show($('#row-locks-empty'), applies && held.length === 0);
}

/** @param {TransactionEvent} e @returns {[title: string, detail: string | null | undefined]} */
function describeEvent(e) {
  switch (e.kind) {
    case 'begin':
      return ['begun', e.message];
    case 'register':
      return [`branch ${e.branchId} registered`, e.message];
    case 'status':
      return [`${e.fromStatus ?? '∅'} → ${e.toStatus}`, [e.message, e.actor ? `by ${e.actor}` : null].filter(Boolean).join(' · ')];
    case 'branch-call':
      return [`${e.op} branch ${e.branchId}: ${e.outcome}${e.attempt ? ` (attempt ${e.attempt})` : ''}`, e.message];
    case 'attention':
      return ['flagged: needs attention', e.message];
    case 'operator':
      return [`operator ${e.actor ?? ''}`.trim(), e.message];
    default:
      return [e.kind, e.message];
  }
}

/** @param {TransactionEvent[]} events */
function renderTimeline(events) {
  const newestFirst = [...events].reverse();
  const visible = showAllEvents ? newestFirst : newestFirst.slice(0, TIMELINE_PAGE);
  const items = visible.map((e) => {
    const [title, detail] = describeEvent(e);
    const tone = e.kind === 'branch-call' ? e.outcome : e.kind;
    return h(
      'li',
      { class: `event event-${tone}`, dataset: { kind: e.kind } },
      h('span', { class: 'event-time', title: absolute(e.at) }, absolute(e.at).slice(11, 23), h('br'), h('span', { class: 'muted' }, relative(e.at))),
      h('span', { class: 'event-dot', 'aria-hidden': 'true' }),
      h(
        'div',
        { class: 'event-body' },
        h('span', { class: 'event-title' }, badge(e.kind, `kind-${e.kind}`), ' ', title),
        detail ? h('div', { class: 'event-detail' }, detail) : null,
      ),
    );
  });
  const list = $('#timeline');
  fill(list, ...items);
  if (newestFirst.length > visible.length) {
    list.appendChild(
      h(
        'li',
        { class: 'event more-events' },
        h(
          'button',
          { type: 'button', class: 'ghost', onclick: () => ((showAllEvents = true), renderTimeline(events)) },
          `Show all ${newestFirst.length} events`,
        ),
      ),
    );
  }
}

/** @param {AuditEntry[]} entries */
function renderAudit(entries) {
  fill(
    $('#audit tbody'),
    ...entries.map((a) =>
      h(
        'tr',
        { dataset: { action: a.action } },
        h('td', {}, timeEl(a.at)),
        h('td', {}, a.actor, h('span', { class: 'muted' }, ` (${a.role})`)),
        h('td', {}, a.action, a.branchId ? h('span', { class: 'muted' }, ` ${a.branchId}`) : null),
        h('td', { class: 'why' }, a.reason),
      ),
    ),
  );
  show($('#audit-empty'), entries.length === 0);
}
