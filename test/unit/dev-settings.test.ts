/**
 * The development coordinator's settings (coordinator/dev/dev-settings.ts):
 * the embedded log, in-process recovery and loopback whatever the
 * environment says, real keys and tokens, and a banner naming each.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../coordinator/config.ts';
import { devBanner, devEnvironment, type DevSecrets } from '../../coordinator/dev/dev-settings.ts';

const secrets: DevSecrets = {
  coordinatorKey: 'coordinator-key-0123456789abcdef',
  apiToken: 'api-token-0123456789abcdef',
  initiatorKey: 'initiator-key-0123456789abcdef',
  adminToken: 'admin-token-0123456789abcdef',
};

describe('devEnvironment', () => {
  it('makes a real, keyed coordinator on the embedded log with in-process recovery, on loopback', () => {
    const config = loadConfig(devEnvironment({ dataDir: '.dtx-dev', port: 0 }, secrets, {}));
    expect(config).toMatchObject({
      log: { kind: 'embedded', url: 'embedded:.dtx-dev' },
      scheduler: 'in-process',
      host: '127.0.0.1',
      port: 0,
      insecure: false,
      secret: secrets.coordinatorKey,
      apiTokens: [{ name: 'dev', token: secrets.apiToken }],
      adminTokens: [{ name: 'dev', role: 'operator', token: secrets.adminToken }],
    });
    expect(loadConfig(devEnvironment({ dataDir: null, port: 1 }, secrets, {})).log).toEqual({ kind: 'embedded', url: 'embedded:memory' });
  });

  it('keeps what a developer sets, but never another log, Redis, a public address or the insecure switch', () => {
    const given = {
      DTX_LOG_LEVEL: 'debug',
      DTX_PARTICIPANTS: 'http://10.0.0.5:4001/dtx/',
      DTX_LOG_URL: 'mysql://u:p@db/x',
      DTX_MYSQL_URL: 'mysql://u:p@db/y',
      DTX_SCHEDULER: 'bullmq',
      DTX_HOST: '0.0.0.0',
      DTX_INSECURE: '1',
    };
    const config = loadConfig(devEnvironment({ dataDir: 'd', port: 5 }, secrets, given));
    expect(config).toMatchObject({ logLevel: 'debug', log: { kind: 'embedded' }, scheduler: 'in-process', host: '127.0.0.1', insecure: false });
    expect(config.participants.map((p) => p.text)).toEqual(['http://10.0.0.5:4001/dtx/']);
  });
});

describe('devBanner', () => {
  it('says what to export and what the mode is not', () => {
    const banner = devBanner('http://127.0.0.1:36789', { dataDir: '.dtx-dev', port: 36789 }, secrets);
    for (const value of Object.values(secrets)) expect(banner).toContain(value);
    expect(banner).toContain('export DTX_COORDINATOR_URL=http://127.0.0.1:36789');
    expect(banner).toMatch(/never for production/);
    expect(banner).toContain('writes not flushed to disk');
  });

  it('says that a log in memory keeps neither its transactions nor its secrets', () => {
    const banner = devBanner('http://127.0.0.1:36789', { dataDir: null, port: 36789 }, secrets);
    expect(banner).toContain('in memory (gone when it stops)');
    expect(banner).toContain('secrets new at each start');
    expect(banner).not.toContain('kept with the data');
  });
});
