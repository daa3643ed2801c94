import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../coordinator/config.ts';
import { DEVELOPMENT_SECRET } from '../../protocol/wire.ts';

/** The least a coordinator starts with outside development mode. */
const BASE = {
  DTX_SECRET: 'unit-test-secret-0123456789',
  DTX_API_TOKENS: 'tests:unit-test-api-token-0123',
  // Outside development mode every token needs a scope.
  DTX_API_SCOPES: 'tests=*@*',
  DTX_PARTICIPANTS: 'http://127.0.0.1:*/',
} as const;

/** Runs loadConfig, expects a ConfigError, returns its problems. */
function problemsOf(env: Record<string, string | undefined>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig defaults', () => {
  it('gives documented defaults for an empty environment', () => {
    const config = loadConfig({ ...BASE });
    expect(config).toMatchObject({
      log: { kind: 'mysql', url: 'mysql://root@127.0.0.1:3306/dtx' },
      logPoolMax: 20,
      logQueryTimeoutMs: 10_000,
      scheduler: 'bullmq',
      redisUrl: 'redis://127.0.0.1:6379',
      redisPrefix: 'dtx',
      host: '127.0.0.1',
      port: 36789,
      leaseMs: 15_000,
      branchTimeoutMs: 5_000,
      retryBaseMs: 1_000,
      retryMaxMs: 60_000,
      attentionAfterRetries: 10,
      attentionAfterMs: 600_000,
      defaultTimeoutMs: 60_000,
      maxTimeoutMs: 24 * 3_600_000,
      submitWaitMs: 10_000,
      reconcileIntervalMs: 1_000,
      reconcileBatch: 500,
      workerConcurrency: 16,
      shutdownGraceMs: 10_000,
      logLevel: 'info',
    });
  });

  it('signs with DTX_SECRET', () => {
    expect(loadConfig({ ...BASE }).secret).toBe(BASE.DTX_SECRET);
    expect(loadConfig({ ...BASE }).insecure).toBe(false);
  });

  it('generates a distinct instance id per load', () => {
    const a = loadConfig({ ...BASE }).instanceId;
    const b = loadConfig({ ...BASE }).instanceId;
    expect(a.length).toBeGreaterThan(0);
    expect(a).not.toBe(b);
  });

  it('treats empty strings as unset (except DTX_SECRET)', () => {
    const config = loadConfig({ ...BASE, DTX_PORT: '', DTX_REDIS_PREFIX: '', DTX_LOG_LEVEL: '', DTX_MYSQL_URL: '' });
    expect(config.port).toBe(36789);
    expect(config.redisPrefix).toBe('dtx');
    expect(config.logLevel).toBe('info');
    expect(config.log).toEqual({ kind: 'mysql', url: 'mysql://root@127.0.0.1:3306/dtx' });
  });
});

describe('DTX_LOG_URL: which log, by its scheme', () => {
  it.each([
    ['mysql://u:p@db:3306/dtx', 'mysql'],
    ['postgres://u:p@db:5432/dtx', 'postgres'],
    ['postgresql://u:p@db/dtx', 'postgres'],
    ['embedded:./dtx-data', 'embedded'],
    ['embedded:memory', 'embedded'],
  ])('%s is a %s log', (url, kind) => {
    expect(loadConfig({ ...BASE, DTX_LOG_URL: url }).log).toEqual({ kind, url });
  });

  it('takes DTX_MYSQL_URL as its older name, and refuses two different logs', () => {
    expect(loadConfig({ ...BASE, DTX_MYSQL_URL: 'mysql://u:p@db/x' }).log).toEqual({ kind: 'mysql', url: 'mysql://u:p@db/x' });
    expect(loadConfig({ ...BASE, DTX_MYSQL_URL: 'mysql://u:p@db/x', DTX_LOG_URL: 'mysql://u:p@db/x' }).log.url).toBe('mysql://u:p@db/x');
    expect(() => loadConfig({ ...BASE, DTX_MYSQL_URL: 'mysql://u:p@db/x', DTX_LOG_URL: 'postgres://u:p@db/x' })).toThrow(/two different logs/);
    expect(loadConfig({ ...BASE, DTX_MYSQL_POOL_MAX: '3' }).logPoolMax).toBe(3);
    expect(loadConfig({ ...BASE, DTX_MYSQL_QUERY_TIMEOUT_MS: '250' }).logQueryTimeoutMs).toBe(250);
  });

  it.each([['redis://u:s3cret@db:6379'], ['u:s3cret@db:3306/dtx'], ['embedded:']])('refuses %s, without echoing it', (url) => {
    let message = '';
    try {
      loadConfig({ ...BASE, DTX_LOG_URL: url });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/DTX_LOG_URL/);
    expect(message).not.toContain('s3cret');
  });
});

describe('loadConfig parses every variable', () => {
  it('reads each env var into its field', () => {
    const config = loadConfig({
      ...BASE,
      DTX_OPS_TOKEN: 'ops-token-0123456789',
      DTX_MYSQL_URL: 'mysql://u:p@db:3307/x',
      DTX_MYSQL_POOL_MAX: '7',
      DTX_MYSQL_QUERY_TIMEOUT_MS: '2500',
      DTX_SCHEDULER: 'in-process',
      DTX_REDIS_URL: 'redis://r:6380',
      DTX_REDIS_PREFIX: 'my_app.dtx:v1-a',
      DTX_HOST: '0.0.0.0',
      DTX_PORT: '8080',
      DTX_SECRET: 's3cret-0123456789ab',
      DTX_INSTANCE_ID: 'node-a',
      DTX_LEASE_MS: '30000',
      DTX_BRANCH_TIMEOUT_MS: '15000',
      DTX_RETRY_BASE_MS: '250',
      DTX_RETRY_MAX_MS: '9000',
      DTX_ATTENTION_AFTER_RETRIES: '3',
      DTX_ATTENTION_AFTER_MS: '120000',
      DTX_DEFAULT_TIMEOUT_MS: '5000',
      DTX_MAX_TIMEOUT_MS: '7000',
      DTX_SUBMIT_WAIT_MS: '0',
      DTX_RECONCILE_INTERVAL_MS: '50',
      DTX_RECONCILE_BATCH: '33',
      DTX_WORKER_CONCURRENCY: '4',
      DTX_SHUTDOWN_GRACE_MS: '0',
      DTX_LOG_LEVEL: 'debug',
      DTX_ADMIN_TOKENS: 'alice:operator:alice-token-0123',
      DTX_ADMIN_MAX_BULK: '50',
      DTX_ALERT_URL: 'https://alerts.example.test/hook',
      DTX_ALERT_ATTEMPTS: '4',
      DTX_API_SCOPES: 'tests=tcc,saga@http://127.0.0.1:*/dtx/',
    });
    expect(config).toEqual({
      log: { kind: 'mysql', url: 'mysql://u:p@db:3307/x' },
      logPoolMax: 7,
      logQueryTimeoutMs: 2_500,
      scheduler: 'in-process',
      redisUrl: 'redis://r:6380',
      redisPrefix: 'my_app.dtx:v1-a',
      host: '0.0.0.0',
      port: 8080,
      secret: 's3cret-0123456789ab',
      opsToken: 'ops-token-0123456789',
      apiTokens: [{ name: 'tests', token: 'unit-test-api-token-0123' }],
      apiScopes: new Map([
        [
          'tests',
          {
            modes: new Set(['tcc', 'saga']),
            prefixes: [{ protocol: 'http:', hostname: '127.0.0.1', port: '*', path: '/dtx/' }],
            text: 'tests=tcc,saga@http://127.0.0.1:*/dtx/',
          },
        ],
      ]),
      insecure: false,
      participants: [{ text: 'http://127.0.0.1:*/', protocol: 'http:', hostname: '127.0.0.1', port: '*', path: '/', key: null }],
      instanceId: 'node-a',
      leaseMs: 30_000,
      branchTimeoutMs: 15_000,
      retryBaseMs: 250,
      retryMaxMs: 9_000,
      attentionAfterRetries: 3,
      attentionAfterMs: 120_000,
      defaultTimeoutMs: 5_000,
      maxTimeoutMs: 7_000,
      submitWaitMs: 0,
      reconcileIntervalMs: 50,
      reconcileBatch: 33,
      workerConcurrency: 4,
      shutdownGraceMs: 0,
      logLevel: 'debug',
      adminTokens: [{ name: 'alice', role: 'operator', token: 'alice-token-0123' }],
      adminMaxBulk: 50,
      alertUrl: 'https://alerts.example.test/hook',
      alertAttempts: 4,
    });
  });

  it('accepts the range bounds', () => {
    expect(loadConfig({ ...BASE, DTX_PORT: '0' }).port).toBe(0);
    expect(loadConfig({ ...BASE, DTX_PORT: '65535' }).port).toBe(65535);
    expect(loadConfig({ ...BASE, DTX_LOG_POOL_MAX: '1' }).logPoolMax).toBe(1);
    expect(loadConfig({ ...BASE, DTX_LOG_POOL_MAX: '1000' }).logPoolMax).toBe(1000);
    expect(loadConfig({ ...BASE, DTX_LOG_QUERY_TIMEOUT_MS: '100' }).logQueryTimeoutMs).toBe(100);
    expect(loadConfig({ ...BASE, DTX_LOG_QUERY_TIMEOUT_MS: '3600000' }).logQueryTimeoutMs).toBe(3_600_000);
    expect(loadConfig({ ...BASE, DTX_RETRY_BASE_MS: '60000' }).retryBaseMs).toBe(60_000);
  });

  it.each(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])('accepts log level %s', (level) => {
    expect(loadConfig({ ...BASE, DTX_LOG_LEVEL: level }).logLevel).toBe(level);
  });

  it('fails closed: no key, no API tokens or no participant list stop the start, each named', () => {
    const problems = problemsOf({});
    expect(problems.some((p) => p.startsWith('DTX_API_TOKENS is empty'))).toBe(true);
    expect(problems.some((p) => p.startsWith('DTX_PARTICIPANTS is empty'))).toBe(true);
    expect(problemsOf({ ...BASE, DTX_SECRET: undefined })).toEqual(['DTX_SECRET is not set, and some DTX_PARTICIPANTS entries have no key of their own']);
    expect(problemsOf({ ...BASE, DTX_SECRET: '' })).toEqual(['DTX_SECRET is not set, and some DTX_PARTICIPANTS entries have no key of their own']);
    expect(problemsOf({ ...BASE, DTX_SECRET: DEVELOPMENT_SECRET })).toEqual([
      'DTX_SECRET is the public development key; set your own (or DTX_INSECURE=1 for development)',
    ]);
    expect(problemsOf({ ...BASE, DTX_SECRET: 'short' })).toEqual(['DTX_SECRET must be 16+ characters']);
  });

  it('needs no shared key when every participant has its own', () => {
    const config = loadConfig({
      ...BASE,
      DTX_SECRET: undefined,
      DTX_PARTICIPANTS: 'http://a.internal:4001/dtx/=key-of-bank-a-0123,https://b.internal/dtx=key-of-bank-b-0123',
    });
    expect(config.secret).toBeNull();
    expect(config.participants.map((p) => [p.protocol, p.hostname, p.port, p.path, p.key])).toEqual([
      ['http:', 'a.internal', '4001', '/dtx/', 'key-of-bank-a-0123'],
      ['https:', 'b.internal', '443', '/dtx/', 'key-of-bank-b-0123'],
    ]);
  });

  it('refuses malformed API tokens and participant entries without echoing them', () => {
    const problems = problemsOf({
      ...BASE,
      DTX_API_TOKENS: 'svc:short-token-x,noname',
      DTX_API_SCOPES: '',
      DTX_PARTICIPANTS: 'ftp://x/,http://h/=tiny-key-value',
    });
    // Four bad entries, and so neither list has a valid entry left.
    expect(problems).toHaveLength(6);
    expect(problems.join(' ')).not.toMatch(/short-token-x|tiny-key-value/);
  });

  it('DTX_INSECURE=1: anonymous, any participant, the development key unless DTX_SECRET is set', () => {
    const config = loadConfig({ DTX_INSECURE: '1' });
    expect(config).toMatchObject({ insecure: true, apiTokens: [], participants: [], secret: DEVELOPMENT_SECRET });
    expect(loadConfig({ DTX_INSECURE: '1', DTX_SECRET: '' }).secret).toBeNull();
    expect(problemsOf({ DTX_INSECURE: 'maybe' })).toContain('DTX_INSECURE must be 1 or 0 (true/false), got "maybe"');
  });

  it('lease exactly twice the branch timeout is accepted', () => {
    const config = loadConfig({ ...BASE, DTX_LEASE_MS: '2000', DTX_BRANCH_TIMEOUT_MS: '1000' });
    expect(config.leaseMs).toBe(2_000);
    expect(config.branchTimeoutMs).toBe(1_000);
  });
});

describe('loadConfig refuses invalid values', () => {
  it.each([
    ['DTX_PORT', 'abc'],
    ['DTX_PORT', '80.5'],
    ['DTX_PORT', '1e3x'],
    ['DTX_LEASE_MS', '15s'],
    ['DTX_MYSQL_POOL_MAX', '2.0001'],
    ['DTX_SCHEDULER', 'redis'],
    ['DTX_MYSQL_QUERY_TIMEOUT_MS', '10s'],
    ['DTX_WORKER_CONCURRENCY', 'NaN'],
    ['DTX_SUBMIT_WAIT_MS', 'Infinity'],
  ])('%s=%s (not an integer) is a problem naming the variable', (name, value) => {
    const problems = problemsOf({ ...BASE, [name]: value });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(name);
  });

  it.each([
    ['DTX_PORT', '65536'],
    ['DTX_PORT', '-1'],
    ['DTX_MYSQL_POOL_MAX', '0'],
    ['DTX_MYSQL_POOL_MAX', '1001'],
    ['DTX_MYSQL_QUERY_TIMEOUT_MS', '99'],
    ['DTX_MYSQL_QUERY_TIMEOUT_MS', '3600001'],
    ['DTX_LEASE_MS', '99'],
    ['DTX_BRANCH_TIMEOUT_MS', '9'],
    ['DTX_RETRY_BASE_MS', '0'],
    ['DTX_ATTENTION_AFTER_RETRIES', '0'],
    ['DTX_ATTENTION_AFTER_MS', '0'],
    ['DTX_RECONCILE_INTERVAL_MS', '9'],
    ['DTX_RECONCILE_BATCH', '100001'],
    ['DTX_WORKER_CONCURRENCY', '0'],
    ['DTX_SUBMIT_WAIT_MS', '-1'],
    ['DTX_SHUTDOWN_GRACE_MS', '-1'],
    ['DTX_DEFAULT_TIMEOUT_MS', '0'],
  ])('%s=%s (out of range) is a problem naming the variable', (name, value) => {
    const problems = problemsOf({ ...BASE, [name]: value });
    expect(problems.some((p) => p.includes(name))).toBe(true);
  });

  it('lease below twice the branch timeout is refused', () => {
    const problems = problemsOf({ ...BASE, DTX_LEASE_MS: '1999', DTX_BRANCH_TIMEOUT_MS: '1000' });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('DTX_LEASE_MS');
    // The defaults relate too: a lease shorter than 2 × 5000 ms.
    expect(problemsOf({ ...BASE, DTX_LEASE_MS: '9999' })[0]).toContain('DTX_LEASE_MS');
  });

  it('retry max below retry base is refused', () => {
    const problems = problemsOf({ ...BASE, DTX_RETRY_BASE_MS: '500', DTX_RETRY_MAX_MS: '499' });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('DTX_RETRY_MAX_MS');
  });

  it('max timeout below default timeout is refused', () => {
    const problems = problemsOf({ ...BASE, DTX_DEFAULT_TIMEOUT_MS: '5000', DTX_MAX_TIMEOUT_MS: '4999' });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('DTX_MAX_TIMEOUT_MS');
  });

  it.each(['verbose', 'INFO', 'warning'])('bad log level %s is refused', (level) => {
    const problems = problemsOf({ ...BASE, DTX_LOG_LEVEL: level });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('DTX_LOG_LEVEL');
  });

  it.each(['has space', 'a/b', 'x{y}', 'é', 'a*'])('bad redis prefix %j is refused', (prefix) => {
    const problems = problemsOf({ ...BASE, DTX_REDIS_PREFIX: prefix });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('DTX_REDIS_PREFIX');
  });

  it('collects every problem at once', () => {
    const problems = problemsOf({
      ...BASE,
      DTX_PORT: 'x',
      DTX_MYSQL_POOL_MAX: '0',
      DTX_LOG_LEVEL: 'loud',
      DTX_REDIS_PREFIX: 'a b',
      DTX_RETRY_BASE_MS: '1000',
      DTX_RETRY_MAX_MS: '10',
      DTX_LEASE_MS: '100',
      DTX_BRANCH_TIMEOUT_MS: '100',
    });
    expect(problems).toHaveLength(6);
    for (const name of ['DTX_PORT', 'DTX_MYSQL_POOL_MAX', 'DTX_LOG_LEVEL', 'DTX_REDIS_PREFIX', 'DTX_RETRY_MAX_MS', 'DTX_LEASE_MS']) {
      expect(problems.some((p) => p.includes(name))).toBe(true);
    }
  });

  it('ConfigError carries a name and lists problems in its message', () => {
    try {
      loadConfig({ ...BASE, DTX_PORT: 'x' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).name).toBe('ConfigError');
      expect((error as ConfigError).problems).toHaveLength(1);
    }
  });
});

describe('list settings', () => {
  it('names a bad entry by its place in the list, and never echoes a token', () => {
    const problems = problemsOf({
      ...BASE,
      DTX_ADMIN_TOKENS: 'no-role-token-0123456789,bob:operator:bob-token-0123456,carol:admin:carol-token-0123456',
      DTX_API_TOKENS: 'tests:unit-test-api-token-0123,just-a-token-0123456789',
    });
    expect(problems.filter((p) => p.startsWith('DTX_ADMIN_TOKENS'))).toEqual([
      'DTX_ADMIN_TOKENS entry #1 must be name:viewer|operator:token with a token of 12+ characters',
      'DTX_ADMIN_TOKENS entry #3 must be name:viewer|operator:token with a token of 12+ characters',
    ]);
    expect(problems.filter((p) => p.startsWith('DTX_API_TOKENS'))).toEqual([
      'DTX_API_TOKENS entry #2 must be name:token with a name of [A-Za-z0-9_.@-] and a token of 16+ characters',
    ]);
    expect(problems.join('\n')).not.toMatch(/token-0123/);
  });

  it('takes tokens holding the separator whole', () => {
    const config = loadConfig({
      ...BASE,
      DTX_API_TOKENS: 'svc:a:b:c-0123456789abcdef',
      DTX_API_SCOPES: 'svc=*@*',
      DTX_ADMIN_TOKENS: 'ops:viewer:x:y-0123456789',
    });
    expect(config.apiTokens).toEqual([{ name: 'svc', token: 'a:b:c-0123456789abcdef' }]);
    expect(config.adminTokens).toEqual([{ name: 'ops', role: 'viewer', token: 'x:y-0123456789' }]);
  });
});

describe('DTX_API_SCOPES', () => {
  const TOKENS = 'orders:orders-api-token-0123,billing:billing-api-token-0123';

  it('gives each caller its modes and participant prefixes, * for all', () => {
    const config = loadConfig({
      ...BASE,
      DTX_API_TOKENS: TOKENS,
      DTX_API_SCOPES: 'orders=tcc,xa@http://bank-a.internal:4001/dtx/,https://bank-b.internal/dtx; billing=*@*',
    });
    const orders = config.apiScopes.get('orders')!;
    expect([...orders.modes]).toEqual(['tcc', 'xa']);
    expect(orders.prefixes).toEqual([
      { protocol: 'http:', hostname: 'bank-a.internal', port: '4001', path: '/dtx/' },
      { protocol: 'https:', hostname: 'bank-b.internal', port: '443', path: '/dtx/' },
    ]);
    const billing = config.apiScopes.get('billing')!;
    expect([...billing.modes].sort()).toEqual(['fmt', 'msg', 'saga', 'tcc', 'xa']);
    expect(billing.prefixes).toBeNull();
  });

  it('fails closed: a token without an entry is a problem naming it (and only its name, never the token)', () => {
    const problems = problemsOf({ ...BASE, DTX_API_TOKENS: TOKENS, DTX_API_SCOPES: 'orders=tcc@*' });
    expect(problems).toEqual([expect.stringContaining('DTX_API_SCOPES has no entry for billing')]);
    expect(problems.join('\n')).not.toContain('billing-api-token');
    expect(problemsOf({ ...BASE, DTX_API_TOKENS: TOKENS, DTX_API_SCOPES: undefined })).toEqual([
      expect.stringContaining('DTX_API_SCOPES has no entry for orders, billing'),
    ]);
  });

  // A refused entry gives its caller no scope: outside development mode that is a second problem, naming it.
  it.each([
    ['an unknown caller', 'tests=*@*;nobody=*@*', 'names "nobody", which is no DTX_API_TOKENS name', false],
    ['a bad mode', 'tests=tcc,batch@*', 'modes must be * or a comma-separated list of', true],
    ['no mode', 'tests=@*', 'modes must be * or a comma-separated list of', true],
    ['a bad prefix', 'tests=tcc@ftp://bank-a.internal/dtx/', 'is not an http(s) URL prefix', true],
    ['no prefix', 'tests=tcc@', 'name at least one participant prefix, or *', true],
    ['no @', 'tests=tcc', 'must be name=modes@prefixes', true],
    ['two entries for one caller', 'tests=*@*;tests=tcc@*', 'two entries for tests', false],
  ])('refuses %s, naming the entry', (_what, scopes, problem, leavesTestsUnscoped) => {
    const problems = problemsOf({ ...BASE, DTX_API_SCOPES: scopes });
    expect(problems).toEqual([
      expect.stringContaining(problem),
      ...(leavesTestsUnscoped ? [expect.stringContaining('DTX_API_SCOPES has no entry for tests')] : []),
    ]);
    expect(problems[0]).toMatch(/^DTX_API_SCOPES/);
  });

  it('DTX_INSECURE=1 needs no scopes, even with tokens: a caller without an entry is not limited', () => {
    expect(loadConfig({ DTX_INSECURE: '1' }).apiScopes.size).toBe(0);
    const config = loadConfig({ DTX_INSECURE: '1', DTX_API_TOKENS: TOKENS, DTX_API_SCOPES: 'orders=msg@*' });
    expect([...config.apiScopes.keys()]).toEqual(['orders']);
    // A scope given is still checked.
    expect(problemsOf({ DTX_INSECURE: '1', DTX_API_TOKENS: TOKENS, DTX_API_SCOPES: 'orders=batch@*' })).toEqual([expect.stringContaining('modes must be')]);
  });
});
