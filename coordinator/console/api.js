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
 * @typedef {object} TransactionView GET /admin/v1/transactions/:gid
 * @property {Transaction} transaction
 * @property {Branch[]} branches
 * @property {TransactionEvent[]} events
 * @property {AuditEntry[]} [audit]
 * @property {OperatorAvailability} operator
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
 * @property {{ trying: number, confirming: number, cancelling: number }} open
 * @property {number} needsAttention
 * @property {number} paused
 * @property {number} retryBacklog
 * @property {number} flaggedLastHour
 * @property {string | null} oldestOpenCreatedAt
 * @property {{ confirmed: number, cancelled: number }} finishedLastHour
 *
 * @typedef {object} BulkRetryFilter The filter of POST /admin/v1/transactions/retry.
 * @property {string} [status]
 * @property {string} [gidPrefix]
 * @property {string} [participant]
 * @property {boolean} [needsAttention]
 * @property {number} [olderThanMs]
 *
 * @typedef {'retry' | 'pause' | 'resume' | 'force-abort' | 'close'} OperatorAction
 */

const TOKEN_KEY = 'dtx-admin-token';

/** Resolved against the page, so the console also works behind a path prefix. */
const BASE = new URL('../admin/v1/', window.location.href);

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
  const url = new URL(path.replace(/^\//, ''), BASE);
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
