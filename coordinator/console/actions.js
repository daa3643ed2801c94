// Operator actions from the console: one dialog with a required reason
// (and, for close, an explicit last-resort confirmation), then the admin
// API call; a refusal shows the API's {code, message} in the dialog.
import { api, ApiError, describeError } from './api.js';
import { $, fill, show } from './dom.js';

/**
 * @typedef {import('./api.js').TransactionView} TransactionView
 * @typedef {import('./api.js').BulkRetryFilter} BulkRetryFilter
 * @typedef {import('./api.js').OperatorAction} OperatorAction
 * @typedef {import('./api.js').ModeInfo} ModeInfo
 *
 * @typedef {object} ActionDeps
 * @property {() => TransactionView | null} detail the transaction open in the detail view
 * @property {(mode: string) => ModeInfo | undefined} mode what the coordinator's mode catalog says of a mode
 * @property {() => Record<string, string>} filters the list filters, as in the URL
 * @property {(gid: string | null) => Promise<void>} changed after a change: null for a bulk retry
 * @property {(message: string) => void} toast
 * @property {(error: unknown) => void} report
 *
 * @typedef {{ kind: 'action', action: OperatorAction, gid: string }
 *   | { kind: 'resolve', gid: string, branchId: string }
 *   | { kind: 'bulk', filter: BulkRetryFilter }} Pending
 */

/** What the console provides: the open transaction, the list filters, and what to do after a change. @type {ActionDeps} */
let deps = {
  detail: () => null,
  mode: (/** @type {string} */ _mode) => undefined,
  filters: () => ({}),
  changed: async (/** @type {string | null} */ _gid) => {},
  toast: (/** @type {string} */ _message) => {},
  report: (/** @type {unknown} */ _error) => {},
};

/** What the dialog will do on submit. @type {Pending | null} */
let current = null;

/** @param {ActionDeps} provided */
export function initActions(provided) {
  deps = provided;
  $('#action-form').addEventListener('submit', (event) => {
    event.preventDefault();
    void submitDialog();
  });
  $('#dlg-cancel').addEventListener('click', () => {
    current = null;
    dialog().close();
  });
}

/** @returns {HTMLDialogElement} */
const dialog = () => $('#action-dialog');
/** @param {string} selector @returns {HTMLInputElement} */
const input = (selector) => $(selector);

/** @type {Record<OperatorAction, { title: string, text: string, button: string, done: string }>} */
const ACTIONS = {
  retry: { title: 'Retry now', text: 'The next phase-two round runs at once instead of at its scheduled time.', button: 'Retry now', done: 'Retry scheduled' },
  pause: {
    title: 'Pause retries',
    text: 'Recovery leaves this transaction alone until it is resumed. Nothing is undone.',
    button: 'Pause',
    done: 'Retries paused',
  },
  resume: { title: 'Resume retries', text: 'Recovery takes this transaction up again, starting now.', button: 'Resume', done: 'Retries resumed' },
  'force-abort': {
    title: 'Force-abort',
    text: 'Logs the decision to roll back and calls each registered branch to undo its work.',
    button: 'Force-abort',
    done: 'Abort logged',
  },
  close: {
    title: 'Close without calling participants',
    text: 'Ends the transaction as it stands. Use it only when every participant has been repaired by hand.',
    button: 'Close transaction',
    done: 'Transaction closed',
  },
};

/**
 * @param {Pending} pending
 * @param {{ title: string, text: string, button: string, lastResort?: boolean, bulk?: boolean }} options
 */
function openDialog(pending, { title, text, button, lastResort = false, bulk = false }) {
  current = pending;
  fill($('#dlg-title'), title);
  fill($('#dlg-text'), text);
  fill($('#dlg-submit'), button);
  $('#dlg-submit').className = lastResort ? 'danger' : 'primary';
  show($('#dlg-last-resort'), lastResort);
  show($('#dlg-bulk'), bulk);
  input('#dlg-understand').checked = false;
  input('#dlg-confirm-gid').value = '';
  input('#dlg-reason').value = '';
  show($('#dlg-error'), false);
  /** @type {HTMLButtonElement} */ ($('#dlg-submit')).disabled = false;
  dialog().showModal();
  $('#dlg-reason').focus();
}

/** @param {OperatorAction} action */
export function openAction(action) {
  const t = deps.detail()?.transaction;
  if (!t) return;
  const spec = ACTIONS[action];
  openDialog(
    { kind: 'action', action, gid: t.gid },
    { title: `${spec.title}: ${t.gid}`, text: actionText(action, deps.mode(t.mode)) ?? spec.text, button: spec.button, lastResort: action === 'close' },
  );
}

/**
 * A force-abort in the words of the transaction's mode (TCC: it becomes cancelling, then cancelled), from the mode catalog.
 * @param {OperatorAction} action @param {ModeInfo | undefined} info
 * @returns {string | undefined}
 */
function actionText(action, info) {
  if (action !== 'force-abort' || !info) return undefined;
  return `Logs the decision to roll back: the ${info.mode} transaction becomes ${info.statuses['rolling-back']}, then ${info.statuses['rolled-back']} once phase two has undone its branches as its mode does.`;
}

/** @param {string} gid @param {string} branchId @param {string} done the status it gets, in its mode's words */
export function openResolve(gid, branchId, done) {
  openDialog(
    { kind: 'resolve', gid, branchId },
    {
      title: `Resolve branch ${branchId}`,
      text: `Marks branch ${branchId} ${done} by hand, without calling its participant — for when you made it take effect some other way. If it was the last branch left, the transaction finishes.`,
      button: `Mark ${done}`,
    },
  );
}

export function openBulkRetry() {
  const filters = deps.filters();
  /** @type {BulkRetryFilter} */
  const filter = {};
  if (filters.mode) filter.mode = filters.mode;
  if (filters.status) filter.status = filters.status;
  if (filters.gidPrefix) filter.gidPrefix = filters.gidPrefix;
  if (filters.participant) filter.participant = filters.participant;
  if (filters.needsAttention) filter.needsAttention = filters.needsAttention === 'true';
  if (filters.olderThanMs) filter.olderThanMs = Number(filters.olderThanMs);
  const described =
    Object.entries(filter)
      .map(([k, v]) => `${k} = ${v}`)
      .join(', ') || 'no filter';
  openDialog(
    { kind: 'bulk', filter },
    {
      title: 'Retry all matching',
      text: `Retries now every open, unpaused transaction in phase two (committing or rolling back, in its mode's words) matching: ${described}. Oldest first, bounded by the limit below (and by the server's maximum).`,
      button: 'Retry matching',
      bulk: true,
    },
  );
}

async function submitDialog() {
  const pending = current;
  if (!pending) return;
  const error = $('#dlg-error');
  const fail = (/** @type {string} */ message) => {
    fill(error, message);
    show(error);
  };
  const reason = input('#dlg-reason').value.trim();
  if (reason.length < 3) return fail('A reason of at least 3 characters is required.');
  if (pending.kind === 'action' && pending.action === 'close') {
    if (!input('#dlg-understand').checked) return fail('Tick the box to confirm that no participant will be called.');
    if (input('#dlg-confirm-gid').value.trim() !== pending.gid) return fail('Type the gid exactly to confirm closing it.');
  }
  /** @type {HTMLButtonElement} */
  const submit = $('#dlg-submit');
  submit.disabled = true;
  show(error, false);
  try {
    if (pending.kind === 'action') {
      const body = pending.action === 'close' ? { reason, lastResort: true } : { reason };
      await api.act(pending.gid, pending.action, body);
      deps.toast(`${ACTIONS[pending.action].done}: ${pending.gid}`);
    } else if (pending.kind === 'resolve') {
      await api.resolve(pending.gid, pending.branchId, { reason });
      deps.toast(`Branch ${pending.branchId} resolved`);
    } else {
      const limit = Number(input('#dlg-limit').value);
      const result = await api.retryMatching({ filter: pending.filter, limit, reason });
      deps.toast(`Retried ${result.retried}, skipped ${result.skipped}`);
    }
  } catch (caught) {
    submit.disabled = false;
    if (caught instanceof ApiError && caught.status === 401) {
      dialog().close();
      deps.report(caught);
      return;
    }
    fail(describeError(caught));
    return;
  }
  current = null;
  dialog().close();
  await deps.changed(pending.kind === 'bulk' ? null : pending.gid);
}
