/**
 * Coordinator configuration from environment variables, normalised once by
 * a pure function. Every variable, its default and meaning is listed here
 * and in the README's configuration table.
 */
import { cutAt, listEntries } from './setting-lists.ts';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { DEVELOPMENT_SECRET, isValidCallerName } from '@dtx/protocol';
import { parseAllowList, type AllowedPrefix } from './security/participant-policy.ts';
import { parseCallerScopes, type CallerScope } from './security/caller-scopes.ts';
import { parseLogSetting, type LogSetting } from './log-setting.ts';
import type { RecoveryKind } from './recovery/recovery-backend.ts';

/**
 * The coordinator's whole configuration, checked and defaulted: what
 * {@link loadConfig} returns and createCoordinator runs on. Each field comes
 * from one `DTX_*` variable (the README's configuration table).
 */
export interface CoordinatorConfig {
  /** DTX_LOG_URL (or its older name DTX_MYSQL_URL): the transaction log, its store by the URL's scheme (created if missing). */
  log: LogSetting;
  /** DTX_LOG_POOL_MAX (or DTX_MYSQL_POOL_MAX): size of each of the log's connection pools. */
  logPoolMax: number;
  /**
   * DTX_LOG_QUERY_TIMEOUT_MS (or DTX_MYSQL_QUERY_TIMEOUT_MS): bound on each statement to the log
   * database, on connecting to it and on waiting for a pooled connection; past it the connection is
   * closed and the request answers 503 LOG_UNAVAILABLE.
   */
  logQueryTimeoutMs: number;
  /**
   * DTX_SCHEDULER: where recovery looks are scheduled and run — `bullmq` (Redis at DTX_REDIS_URL,
   * shared by every instance: production) or `in-process` (timers in this process, no Redis).
   */
  scheduler: RecoveryKind;
  /** DTX_REDIS_URL: Redis for the recovery queue (DTX_SCHEDULER=bullmq). */
  redisUrl: string;
  /** DTX_REDIS_PREFIX: key prefix of the queue. */
  redisPrefix: string;
  /** DTX_HOST: where the HTTP API listens. */
  host: string;
  /** DTX_PORT: the HTTP API's port (0: any free port). */
  port: number;
  /**
   * Shared key for participant call signatures (and alerts), used for every
   * allowed participant without a key of its own. Null only in insecure
   * development mode with DTX_SECRET='' (calls go unsigned).
   */
  secret: string | null;
  /**
   * DTX_INSECURE: the development switch. Anonymous /v1 calls, any
   * participant URL, and the public development key when DTX_SECRET is unset.
   */
  insecure: boolean;
  /** Callers of /v1, each with a name recorded on its transactions. */
  apiTokens: ApiToken[];
  /**
   * DTX_API_SCOPES: what each caller may reach (modes, participant prefixes), by caller name.
   * Every caller has one outside development mode.
   */
  apiScopes: ReadonlyMap<string, CallerScope>;
  /** Participant URL prefixes the coordinator may call (empty in insecure mode: any). */
  participants: AllowedPrefix[];
  /** Bearer token guarding /metrics and /docs; null leaves them open. */
  opsToken: string | null;
  instanceId: string;
  leaseMs: number;
  branchTimeoutMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  attentionAfterRetries: number;
  /** Age of the decision after which a transaction still in phase two is flagged needs-attention. */
  attentionAfterMs: number;
  defaultTimeoutMs: number;
  maxTimeoutMs: number;
  submitWaitMs: number;
  reconcileIntervalMs: number;
  reconcileBatch: number;
  workerConcurrency: number;
  shutdownGraceMs: number;
  logLevel: string;
  /** Bearer tokens of the admin API, each with a name (for the audit log) and a role. */
  adminTokens: AdminToken[];
  /** Most transactions one bulk "retry all matching" may touch. */
  adminMaxBulk: number;
  /** Where needs-attention alerts are POSTed; null: no alerts. */
  alertUrl: string | null;
  /** Attempts per alert (the first included) before it is dropped with an error log. */
  alertAttempts: number;
}

/** One caller of `/v1` (a `DTX_API_TOKENS` entry). */
export interface ApiToken {
  /** The calling service, recorded on its transactions. */
  name: string;
  /** Its bearer token (16+ characters). */
  token: string;
}

/** `DTX_API_TOKENS`: comma-separated `name:token` entries, the name being the caller recorded on its transactions. */
function parseApiTokens(text: string, problems: string[]): ApiToken[] {
  const tokens: ApiToken[] = [];
  for (const [index, entry] of listEntries(text).entries()) {
    const [name, token] = cutAt(entry, ':');
    if (token === null || !isValidCallerName(name) || token.length < 16) {
      // Never echo the entry: it holds a secret.
      problems.push(`DTX_API_TOKENS entry #${index + 1} must be name:token with a name of [A-Za-z0-9_.@-] and a token of 16+ characters`);
      continue;
    }
    if (tokens.some((t) => t.token === token || t.name === name)) {
      problems.push('DTX_API_TOKENS has two entries with the same name or token');
      continue;
    }
    tokens.push({ name, token });
  }
  return tokens;
}

/** One holder of an admin API / console token (a `DTX_ADMIN_TOKENS` entry). */
export interface AdminToken {
  /** Who holds it; written to the audit log. */
  name: string;
  /** `viewer` reads; `operator` reads and acts. */
  role: 'viewer' | 'operator';
  /** The bearer token (12+ characters). */
  token: string;
}

/**
 * `DTX_ADMIN_TOKENS`: comma-separated `name:role:token` entries, role being
 * `viewer` (read) or `operator` (read and act).
 */
function parseAdminTokens(text: string, problems: string[]): AdminToken[] {
  const tokens: AdminToken[] = [];
  for (const [index, entry] of listEntries(text).entries()) {
    const [name, roleAndToken] = cutAt(entry, ':');
    const [role, token] = cutAt(roleAndToken ?? '', ':');
    if (token === null || !/^[A-Za-z0-9_.@-]{1,64}$/.test(name) || (role !== 'viewer' && role !== 'operator') || token.length < 12) {
      // Never echo the entry: it holds a secret.
      problems.push(`DTX_ADMIN_TOKENS entry #${index + 1} must be name:viewer|operator:token with a token of 12+ characters`);
      continue;
    }
    if (tokens.some((t) => t.token === token || t.name === name)) {
      problems.push(`DTX_ADMIN_TOKENS has two entries with the same name or token`);
      continue;
    }
    tokens.push({ name, role, token });
  }
  return tokens;
}

/** `DTX_ALERT_URL`: empty turns alerts off; otherwise an absolute http(s) URL. */
export function parseAlertUrl(text: string, problems: string[]): string | null {
  const raw = text.trim();
  if (raw === '') return null;
  let url: URL | null = null;
  try {
    url = new URL(raw);
  } catch {
    // reported below
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    // Never echo it: a webhook URL often holds a token.
    problems.push('DTX_ALERT_URL must be an absolute http:// or https:// URL (or empty to turn alerts off)');
    return null;
  }
  return raw;
}

/**
 * The configuration was refused: `problems` lists every wrong or missing
 * variable at once (never echoing a secret), so one start shows them all.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`invalid configuration: ${problems.join('; ')}`);
  }
}

type Env = Record<string, string | undefined>;

/** DTX_SCHEDULER: `bullmq` (default) or `in-process`. */
function parseScheduler(raw: string | undefined, problems: string[]): RecoveryKind {
  if (raw === undefined || raw === '' || raw === 'bullmq') return 'bullmq';
  if (raw === 'in-process') return 'in-process';
  problems.push(`DTX_SCHEDULER must be bullmq or in-process, got "${raw.slice(0, 32)}"`);
  return 'bullmq';
}

/** An on/off variable: 1/true/yes or 0/false/no (or unset). */
function parseSwitch(raw: string | undefined, name: string, problems: string[]): boolean {
  if (raw === undefined || raw === '') return false;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  problems.push(`${name} must be 1 or 0 (true/false), got "${raw}"`);
  return false;
}

/**
 * DTX_SECRET. Outside development mode it must be a real key: the public
 * development key and short keys are refused. In development mode an unset
 * secret is the development key, and '' sends calls unsigned.
 */
function parseSecret(raw: string | undefined, insecure: boolean, problems: string[]): string | null {
  if (insecure) return raw === undefined ? DEVELOPMENT_SECRET : raw === '' ? null : raw;
  if (raw === undefined || raw === '') return null;
  if (raw === DEVELOPMENT_SECRET) problems.push('DTX_SECRET is the public development key; set your own (or DTX_INSECURE=1 for development)');
  else if (raw.length < 16) problems.push('DTX_SECRET must be 16+ characters');
  return raw;
}

/**
 * Read the coordinator's configuration from environment variables, check
 * every value and apply the defaults: pure (no I/O), so that a bad
 * configuration stops the coordinator before it opens any connection.
 * It fails closed: without DTX_INSECURE, callers' tokens, the participants'
 * allow-list and their keys are required.
 *
 * @param env - the variables, usually `process.env`
 * @returns the normalised configuration
 * @throws ConfigError listing every problem found
 *
 * @example
 * ```ts
 * import { ConfigError, createCoordinator, createLogger, loadConfig } from '@dtx/coordinator';
 *
 * try {
 *   const config = loadConfig(process.env);
 *   const coordinator = createCoordinator(config, { logger: createLogger(config.logLevel) });
 *   console.log('listening on', await coordinator.start());
 * } catch (error) {
 *   if (error instanceof ConfigError) console.error(error.problems.join('\n'));
 *   throw error;
 * }
 * ```
 */
export function loadConfig(env: Env): CoordinatorConfig {
  const problems: string[] = [];
  const int = (name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      problems.push(`${name} must be an integer between ${min} and ${max}, got "${raw}"`);
      return fallback;
    }
    return value;
  };
  /** The variable's name, or its older name when only that one is set. */
  const either = (name: string, olderName: string): string => (env[name] === undefined || env[name] === '' ? olderName : name);
  const str = (name: string, fallback: string): string => {
    const raw = env[name];
    return raw === undefined || raw === '' ? fallback : raw;
  };

  const insecure = parseSwitch(env.DTX_INSECURE, 'DTX_INSECURE', problems);
  const secret = parseSecret(env.DTX_SECRET, insecure, problems);
  const participants = parseAllowList(env.DTX_PARTICIPANTS ?? '', problems);
  const apiTokens = parseApiTokens(env.DTX_API_TOKENS ?? '', problems);
  const apiScopes = parseCallerScopes(
    env.DTX_API_SCOPES ?? '',
    apiTokens.map((t) => t.name),
    !insecure,
    problems,
  );
  const opsToken = env.DTX_OPS_TOKEN ? env.DTX_OPS_TOKEN : null;
  if (opsToken !== null && opsToken.length < 16) problems.push('DTX_OPS_TOKEN must be 16+ characters (or empty to leave /metrics and /docs open)');
  if (!insecure) {
    // Fail closed: every way in and out needs its credentials, or the coordinator does not start.
    if (apiTokens.length === 0) problems.push('DTX_API_TOKENS is empty: every /v1 caller needs a token (or set DTX_INSECURE=1 for development)');
    if (participants.length === 0)
      problems.push('DTX_PARTICIPANTS is empty: list the participant URL prefixes the coordinator may call (or set DTX_INSECURE=1 for development)');
    if (secret === null && participants.some((p) => p.key === null)) {
      problems.push('DTX_SECRET is not set, and some DTX_PARTICIPANTS entries have no key of their own');
    }
    if (secret === null && (env.DTX_ALERT_URL ?? '') !== '') problems.push('DTX_ALERT_URL needs DTX_SECRET to sign alerts');
  }

  const config: CoordinatorConfig = {
    log: parseLogSetting(env, problems),
    logPoolMax: int(either('DTX_LOG_POOL_MAX', 'DTX_MYSQL_POOL_MAX'), 20, 1, 1000),
    logQueryTimeoutMs: int(either('DTX_LOG_QUERY_TIMEOUT_MS', 'DTX_MYSQL_QUERY_TIMEOUT_MS'), 10_000, 100, 3_600_000),
    scheduler: parseScheduler(env.DTX_SCHEDULER, problems),
    redisUrl: str('DTX_REDIS_URL', 'redis://127.0.0.1:6379'),
    redisPrefix: str('DTX_REDIS_PREFIX', 'dtx'),
    host: str('DTX_HOST', '127.0.0.1'),
    port: int('DTX_PORT', 36789, 0, 65535),
    secret,
    insecure,
    apiTokens,
    apiScopes,
    participants,
    opsToken,
    instanceId: str('DTX_INSTANCE_ID', `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`),
    leaseMs: int('DTX_LEASE_MS', 15_000, 100),
    branchTimeoutMs: int('DTX_BRANCH_TIMEOUT_MS', 5_000, 10),
    retryBaseMs: int('DTX_RETRY_BASE_MS', 1_000, 1),
    retryMaxMs: int('DTX_RETRY_MAX_MS', 60_000, 1),
    attentionAfterRetries: int('DTX_ATTENTION_AFTER_RETRIES', 10, 1),
    attentionAfterMs: int('DTX_ATTENTION_AFTER_MS', 600_000, 1),
    defaultTimeoutMs: int('DTX_DEFAULT_TIMEOUT_MS', 60_000, 1),
    maxTimeoutMs: int('DTX_MAX_TIMEOUT_MS', 24 * 3_600_000, 1),
    submitWaitMs: int('DTX_SUBMIT_WAIT_MS', 10_000, 0),
    reconcileIntervalMs: int('DTX_RECONCILE_INTERVAL_MS', 1_000, 10),
    reconcileBatch: int('DTX_RECONCILE_BATCH', 500, 1, 100_000),
    workerConcurrency: int('DTX_WORKER_CONCURRENCY', 16, 1, 1000),
    shutdownGraceMs: int('DTX_SHUTDOWN_GRACE_MS', 10_000, 0),
    logLevel: str('DTX_LOG_LEVEL', 'info'),
    adminTokens: parseAdminTokens(env.DTX_ADMIN_TOKENS ?? '', problems),
    adminMaxBulk: int('DTX_ADMIN_MAX_BULK', 1_000, 1, 100_000),
    alertUrl: parseAlertUrl(env.DTX_ALERT_URL ?? '', problems),
    alertAttempts: int('DTX_ALERT_ATTEMPTS', 6, 1, 100),
  };

  if (!/^[A-Za-z0-9_.:-]+$/.test(config.redisPrefix)) problems.push('DTX_REDIS_PREFIX may only hold letters, digits, "_", ".", ":" and "-"');
  if (config.retryMaxMs < config.retryBaseMs) problems.push('DTX_RETRY_MAX_MS must not be below DTX_RETRY_BASE_MS');
  if (config.maxTimeoutMs < config.defaultTimeoutMs) problems.push('DTX_MAX_TIMEOUT_MS must not be below DTX_DEFAULT_TIMEOUT_MS');
  // A round must end well inside the lease, or a second instance could start
  // the same round while the first is still calling participants.
  if (config.branchTimeoutMs * 2 > config.leaseMs) problems.push('DTX_LEASE_MS must be at least twice DTX_BRANCH_TIMEOUT_MS');
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(config.logLevel)) {
    problems.push(`DTX_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
