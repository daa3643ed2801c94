// The admin API (/admin/v1) as the console uses it. Every error becomes an
// ApiError carrying the API's {code, message}.
// Type-checked from its JSDoc (coordinator/console/tsconfig.json); the
// typedefs below are the parts of the admin API's replies the console reads.

/**
 * @typedef {string} TransactionStatus In the words of the transaction's mode (TCC: trying, confirming, …; saga: running, compensating, …).
 *
 * @typedef {object} Transaction A transaction as the admin API lists and shows it.
 * @property {string} gid
 * @property {string} mode
 * @property {TransactionStatus} status
 * @property {string | null} reason
 * @property {boolean} needsAttention
 * @property {string | null} attentionReason
 * @property {boolean} paused
 * @property {number} retryCount
 * @property {string | null} nextRetryAt
 * @property {string} createdAt
 * @property {string} deadlineAt
 * @property {string} updatedAt
 * @property {string | null} finishedAt
 * @property {string | null} leaseOwner
 * @property {string | null} leaseUntil
 *
 * @typedef {object} Branch
 * @property {string} branchId
 * @property {string} participant
 * @property {string} [confirmUrl]
 * @property {string} [cancelUrl]
 * @property {string} [actionUrl]
 * @property {string} [compensateUrl]
 * @property {string[] | null} [dependsOn] A saga step's prerequisites.
 * @property {string} status
 * @property {number} attempts
 * @property {string | null} lastError
 *
 * @typedef {object} TransactionEvent One entry of a transaction's history.
 * @property {string} kind
 * @property {string} at
 * @property {string | null} [message]
 * @property {string | null} [branchId]
 * @property {string | null} [fromStatus]
 * @property {string | null} [toStatus]
 * @property {string | null} [actor]
 * @property {string | null} [op]
 * @property {string | null} [outcome]
 * @property {number | null} [attempt]
 *
 * @typedef {object} AuditEntry
 * @property {string} at
 * @property {string} actor
 * @property {string} role
 * @property {string} action
 * @property {string | null} branchId
 * @property {string} reason
 *
 * @typedef {object} RowLock A global row lock an FMT branch holds (until its rows are final).
 * @property {string} resource the participant's name for the database
 * @property {string} table
 * @property {(string | number | null)[]} pk the primary key's values, in column order
 * @property {string} gid
 * @property {string} branchId
 * @property {string} lockedAt
 *
 * @typedef {object} TransactionView GET /admin/v1/transactions/:gid
 * @property {Transaction} transaction
 * @property {Branch[]} branches
 * @property {TransactionEvent[]} events
 * @property {AuditEntry[]} [audit]
 * @property {OperatorAvailability} operator
 * @property {RowLock[]} [rowLocks] Only for a mode whose branches hold row locks (FMT): the locks held now.
 *
 * @typedef {object} OperatorAvailability Which operator actions apply (null) or why not (the server's refusal).
 * @property {{ retry: string | null, pause: string | null, resume: string | null, 'force-abort': string | null, close: string | null }} actions
 * @property {{ as: string, branches: string[] } | null} resolve Branches that may be marked done by hand, and as what.
 *
 * @typedef {object} TransactionPage GET /admin/v1/transactions
 * @property {Transaction[]} items
 * @property {string | null} nextCursor
 *
 * @typedef {object} Stats GET /admin/v1/stats
 * @property {Record<string, number>} open Open transactions by status word (every open, committing and rolling-back word of every mode; a word two modes share counts both).
 * @property {number} needsAttention
 * @property {number} paused
 * @property {number} retryBacklog
 * @property {number} flaggedLastHour
 * @property {string | null} oldestOpenCreatedAt
 * @property {Record<string, number>} finishedLastHour Transactions finished in the last hour, by status word (every committed and rolled-back word).
 *
 * @typedef {'open' | 'committing' | 'rolling-back' | 'committed' | 'rolled-back'} ModelStatus The coordinator's mode-neutral statuses, the keys of a mode's `statuses`.
 *
 * @typedef {object} ModeInfo One mode as GET /admin/v1/modes describes it.
 * @property {string} mode
 * @property {Record<ModelStatus, string>} statuses Its word for each status (TCC: open = trying).
 * @property {Record<string, string>} branchStatuses Its word for each branch status (pending, committed, rolled-back).
 * @property {string | null} firstOp The op its initiator calls first (TCC: try), null when none.
 * @property {string[]} registeredOps
 * @property {string} commitOp
 * @property {string} rollbackOp
 * @property {boolean} submittedAtBegin Begun and submitted in one call (a saga): its deadline applies while committing, not while open.
 * @property {boolean} rowLocks Whether its branches hold global row locks (FMT).
 *
 * @typedef {object} ModeCatalog GET /admin/v1/modes
 * @property {ModeInfo[]} modes
 *
 * @typedef {object} StatusChoice One option of the status filter.
 * @property {string} value the status word, as the API filters by it
 * @property {string} label
 * @property {string[]} modes the modes that use the word
 *
 * @typedef {object} WordCount One status word of a stats count, with the modes that use it.
 * @property {string} word
 * @property {string[]} modes
 * @property {number} count
 *
 * @typedef {object} BulkRetryFilter The filter of POST /admin/v1/transactions/retry.
 * @property {string} [status]
 * @property {string} [mode]
 * @property {string} [gidPrefix]
 * @property {string} [participant]
 * @property {boolean} [needsAttention]
 * @property {number} [olderThanMs]
 *
 * @typedef {'retry' | 'pause' | 'resume' | 'force-abort' | 'close'} OperatorAction
 */

const TOKEN_KEY = 'dtx-admin-token';

/** Resolved against the page, so the console also works behind a path prefix (and read when called: this module also loads without a page, in unit tests). */
const base = () => new URL('../admin/v1/', window.location.href);

export class ApiError extends Error {
  /**
   * @param {number} status HTTP status, 0 when the coordinator was not reached
   * @param {string} code
   * @param {string} message
   */
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/** `CODE: message` of an API error (or the message of any error), for showing to the user. */
/** @param {unknown} error */
export function describeError(error) {
  if (error instanceof ApiError) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (/** @type {string} */ value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

/**
 * @param {'GET' | 'POST'} method
 * @param {string} path relative to /admin/v1/
 * @param {{ query?: Record<string, unknown>, body?: unknown }} [options]
 * @returns {Promise<any>} the parsed JSON reply (typed by the callers in `api`)
 */
async function request(method, path, { query, body } = {}) {
  const url = new URL(path.replace(/^\//, ''), base());
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== '') url.searchParams.set(name, String(value));
  }
  /** @type {Record<string, string>} */
  const headers = { accept: 'application/json' };
  const current = token.get();
  if (current) headers.authorization = `Bearer ${current}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response;
  try {
    response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store', credentials: 'omit' });
  } catch (error) {
    throw new ApiError(0, 'NETWORK', `the coordinator could not be reached (${error instanceof Error ? error.message : String(error)})`);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const code = data && typeof data.code === 'string' ? data.code : `HTTP_${response.status}`;
    const message = data && typeof data.message === 'string' ? data.message : text.slice(0, 300) || response.statusText;
    throw new ApiError(response.status, code, message);
  }
  return data;
}

const enc = encodeURIComponent;

export const api = {
  /** @returns {Promise<Stats>} */
  stats: () => request('GET', 'stats'),
  /** @returns {Promise<ModeCatalog>} */
  modes: () => request('GET', 'modes'),
  /** @param {Record<string, unknown>} query @returns {Promise<TransactionPage>} */
  list: (query) => request('GET', 'transactions', { query }),
  /** @param {string} gid @returns {Promise<TransactionView>} */
  transaction: (gid) => request('GET', `transactions/${enc(gid)}`),
  /** @param {string} gid @param {OperatorAction} action @param {{ reason: string, lastResort?: boolean }} body @returns {Promise<unknown>} */
  act: (gid, action, body) => request('POST', `transactions/${enc(gid)}/${action}`, { body }),
  /** @param {string} gid @param {string} branchId @param {{ reason: string }} body @returns {Promise<unknown>} */
  resolve: (gid, branchId, body) => request('POST', `transactions/${enc(gid)}/branches/${enc(branchId)}/resolve`, { body }),
  /** @param {{ filter: BulkRetryFilter, limit: number, reason: string }} body @returns {Promise<{ retried: number, skipped: number }>} */
  retryMatching: (body) => request('POST', 'transactions/retry', { body }),
};

// ---------------------------------------------------------------------------
// The mode catalog (GET /admin/v1/modes): the console names no mode and no
// status word of its own; everything below derives them from what the
// coordinator says. Pure functions (no page needed), unit-tested.
// ---------------------------------------------------------------------------

/** The statuses in the order of a transaction's life. @type {readonly ModelStatus[]} */
export const MODEL_STATUSES = ['open', 'committing', 'rolling-back', 'committed', 'rolled-back'];
/** The statuses of a transaction not finished yet. @type {readonly ModelStatus[]} */
export const UNFINISHED_STATUSES = ['open', 'committing', 'rolling-back'];
/** The statuses of a finished transaction. @type {readonly ModelStatus[]} */
export const FINISHED_STATUSES = ['committed', 'rolled-back'];

/**
 * The words of `statuses` across the catalog's modes, each once (in the
 * catalog's order, each mode's in the order of its life), with the modes
 * that use it: XA and FMT share `committing`, `committed`, ….
 * @param {ModeCatalog} catalog
 * @param {readonly ModelStatus[]} [statuses]
 * @returns {{ word: string, modes: string[] }[]}
 */
export function statusWords(catalog, statuses = MODEL_STATUSES) {
  /** @type {Map<string, string[]>} */
  const words = new Map();
  for (const info of catalog.modes) {
    for (const status of statuses) {
      const word = info.statuses[status];
      if (word === undefined) continue;
      const modes = words.get(word) ?? [];
      if (!modes.includes(info.mode)) modes.push(info.mode);
      words.set(word, modes);
    }
  }
  return [...words].map(([word, modes]) => ({ word, modes }));
}

/**
 * The options of the status filter: every status word of every mode, once
 * (a flat list: the API filters by the word, so a word two modes share is one
 * choice, and the mode filter narrows it), labelled with the modes that use
 * it; with `mode`, only that mode's words.
 * @param {ModeCatalog} catalog
 * @param {string} [mode]
 * @returns {StatusChoice[]}
 */
export function statusChoices(catalog, mode) {
  if (mode) {
    const info = modeInfo(catalog, mode);
    return info ? MODEL_STATUSES.map((status) => ({ value: info.statuses[status], label: info.statuses[status], modes: [info.mode] })) : [];
  }
  return statusWords(catalog).map(({ word, modes }) => ({ value: word, label: `${word} (${modes.join(', ')})`, modes }));
}

/** The catalog's entry for `mode`, if it names it. @param {ModeCatalog | null} catalog @param {string} mode @returns {ModeInfo | undefined} */
export function modeInfo(catalog, mode) {
  return catalog?.modes.find((info) => info.mode === mode);
}

/**
 * Which of its mode's statuses a word is (`trying` of a TCC transaction → open), or null when the catalog does not say.
 * @param {ModeCatalog | null} catalog @param {string} mode @param {string} word
 * @returns {ModelStatus | null}
 */
export function statusNamed(catalog, mode, word) {
  const info = modeInfo(catalog, mode);
  return MODEL_STATUSES.find((status) => info?.statuses[status] === word) ?? null;
}

/**
 * Which of its mode's branch statuses a word is (`prepared` of a TCC branch → pending), or null.
 * @param {ModeCatalog | null} catalog @param {string} mode @param {string} word
 * @returns {string | null}
 */
export function branchStatusNamed(catalog, mode, word) {
  const info = modeInfo(catalog, mode);
  return Object.entries(info?.branchStatuses ?? {}).find(([, w]) => w === word)?.[0] ?? null;
}

/**
 * A stats count (`open` or `finishedLastHour`: counts by word) as one entry
 * per word of `statuses` in the catalog, 0 when the stats do not name it.
 * The stats count by word: a word two modes share is one count of both.
 * @param {ModeCatalog} catalog
 * @param {Record<string, number>} counts
 * @param {readonly ModelStatus[]} statuses
 * @returns {WordCount[]}
 */
export function wordCounts(catalog, counts, statuses) {
  return statusWords(catalog, statuses).map(({ word, modes }) => ({ word, modes, count: counts[word] ?? 0 }));
}

/**
 * While the deadline of a transaction of this mode still decides anything:
 * its open status, or, for a mode begun and submitted at once (a saga), its
 * committing status.
 * @param {ModeInfo} info
 * @returns {string}
 */
export function deadlineStatus(info) {
  return info.submittedAtBegin ? info.statuses.committing : info.statuses.open;
}
