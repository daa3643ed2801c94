/**
 * Calls to the coordinator's admin API (/admin/v1) for tests, and the
 * tokens the admin tests configure (DTX_ADMIN_TOKENS).
 */

export const OPERATOR = { name: 'alice', token: 'alice-operator-token-0001' } as const;
export const VIEWER = { name: 'victor', token: 'victor-viewer-token-0001' } as const;

/** `DTX_ADMIN_TOKENS` with one operator (alice) and one viewer (victor). */
export const ADMIN_TOKENS = `${OPERATOR.name}:operator:${OPERATOR.token},${VIEWER.name}:viewer:${VIEWER.token}`;

export interface AdminReply<T = Record<string, unknown>> {
  status: number;
  body: T;
  headers: Headers;
}

export interface AdminCallOptions {
  /** Bearer token; none sends no Authorization header. */
  token?: string;
  /** Sent as JSON. */
  body?: unknown;
  /** Overrides the Authorization header as a whole. */
  authorization?: string;
}

/** One admin API call; `path` is below /admin/v1 (e.g. `/transactions?limit=5`). */
export async function adminCall<T = Record<string, unknown>>(
  baseUrl: string,
  method: 'GET' | 'POST',
  path: string,
  options: AdminCallOptions = {},
): Promise<AdminReply<T>> {
  const headers: Record<string, string> = {};
  const authorization = options.authorization ?? (options.token ? `Bearer ${options.token}` : undefined);
  if (authorization) headers.authorization = authorization;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${baseUrl}/admin/v1${path}`, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text (an assertion will show it)
  }
  return { status: response.status, body: body as T, headers: response.headers };
}

/** The admin shape of one transaction (GET /admin/v1/transactions/:gid and every action's reply). */
export interface AdminTransaction {
  transaction: {
    gid: string;
    status: string;
    reason: string | null;
    createdAt: string;
    updatedAt: string;
    finishedAt: string | null;
    retryCount: number;
    nextRetryAt: string | null;
    needsAttention: boolean;
    attentionReason: string | null;
    paused: boolean;
    leaseOwner: string | null;
  };
  branches: { branchId: string; participant: string; status: string; attempts: number; lastError: string | null }[];
  events: {
    id: number;
    kind: string;
    branchId: string | null;
    op: string | null;
    fromStatus: string | null;
    toStatus: string | null;
    outcome: string | null;
    message: string | null;
    actor: string | null;
    at: string;
  }[];
  audit?: AuditItem[];
}

export interface AuditItem {
  id: number;
  at: string;
  actor: string;
  role: string;
  action: string;
  gid: string | null;
  branchId: string | null;
  reason: string;
  detail: string | null;
}

export interface ListItem {
  gid: string;
  status: string;
  createdAt: string;
  needsAttention: boolean;
  paused: boolean;
  retryCount: number;
}
