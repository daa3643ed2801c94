// The admin API (/admin/v1) as the console uses it. Every error becomes an
// ApiError carrying the API's {code, message}.

const TOKEN_KEY = 'dtx-admin-token';

/** Resolved against the page, so the console also works behind a path prefix. */
const BASE = new URL('../admin/v1/', window.location.href);

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/** `CODE: message` of an API error (or the message of any error), for showing to the user. */
export function describeError(error) {
  if (error instanceof ApiError) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

async function request(method, path, { query, body } = {}) {
  const url = new URL(path.replace(/^\//, ''), BASE);
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== '') url.searchParams.set(name, String(value));
  }
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
  stats: () => request('GET', 'stats'),
  list: (query) => request('GET', 'transactions', { query }),
  transaction: (gid) => request('GET', `transactions/${enc(gid)}`),
  act: (gid, action, body) => request('POST', `transactions/${enc(gid)}/${action}`, { body }),
  resolve: (gid, branchId, body) => request('POST', `transactions/${enc(gid)}/branches/${enc(branchId)}/resolve`, { body }),
  retryMatching: (body) => request('POST', 'transactions/retry', { body }),
};
