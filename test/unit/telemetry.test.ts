import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { fanOutTelemetry, type AttentionEvent } from '../../coordinator/engine/telemetry.ts';
import { parseAlertUrl, loadConfig, ConfigError } from '../../coordinator/config.ts';

const attention: AttentionEvent = { gid: 'g1', mode: 'tcc', status: 'committing', reason: 'r', retryCount: 1, at: 0 };

describe('fanOutTelemetry', () => {
  it('reports to every observer that implements the event, in order', () => {
    const seen: string[] = [];
    const telemetry = fanOutTelemetry(
      pino({ level: 'silent' }),
      { onAttention: (e) => seen.push(`a:${e.gid}`) },
      { onBegin: () => seen.push('b'), onAttention: () => seen.push('a2'), onBranchCall: (e) => seen.push(`c:${e.mode}:${e.op}:${e.outcome}`) },
    );
    telemetry.onBegin({ mode: 'tcc' });
    telemetry.onAttention(attention);
    // No observer implements onRetry or onFinish: nothing is reported, nothing fails.
    telemetry.onRetry({ gid: 'g1', mode: 'tcc', status: 'committing', retryCount: 1, nextRetryAt: 0 });
    telemetry.onFinish({ gid: 'g1', mode: 'tcc', status: 'committed', decidedAt: null, at: 0, by: 'phase-two' });
    telemetry.onBranchCall({ mode: 'tcc', op: 'cancel', outcome: 'unknown', durationMs: 3 });
    expect(seen).toEqual(['b', 'a:g1', 'a2', 'c:tcc:cancel:unknown']);
  });

  it('passes each event unchanged: a retry and an attention carry the mode and the phase two, as the model names it', () => {
    const retries: unknown[] = [];
    const attentions: unknown[] = [];
    const telemetry = fanOutTelemetry(pino({ level: 'silent' }), { onRetry: (e) => retries.push(e), onAttention: (e) => attentions.push(e) });
    const retry = { gid: 'g2', mode: 'tcc', status: 'rolling-back', retryCount: 4, nextRetryAt: 9 } as const;
    telemetry.onRetry(retry);
    telemetry.onAttention(attention);
    expect(retries).toEqual([retry]);
    expect(attentions).toEqual([attention]);
  });

  it('isolates an observer that throws: the others still run and the caller sees nothing', () => {
    const seen: string[] = [];
    const telemetry = fanOutTelemetry(
      pino({ level: 'silent' }),
      {
        onAttention: () => {
          throw new Error('metrics bug');
        },
      },
      { onAttention: () => seen.push('alert') },
    );
    expect(() => telemetry.onAttention(attention)).not.toThrow();
    expect(seen).toEqual(['alert']);
  });
});

describe('alert configuration', () => {
  it('is off when DTX_ALERT_URL is unset or empty, with 6 attempts by default', () => {
    expect(loadConfig({ DTX_INSECURE: '1' })).toMatchObject({ alertUrl: null, alertAttempts: 6 });
    expect(loadConfig({ DTX_INSECURE: '1', DTX_ALERT_URL: '  ' }).alertUrl).toBeNull();
  });

  it('accepts http(s) URLs, with paths and tokens', () => {
    expect(loadConfig({ DTX_INSECURE: '1', DTX_ALERT_URL: 'https://hooks.example.test/T0/B1/xyz?k=v', DTX_ALERT_ATTEMPTS: '3' })).toMatchObject({
      alertUrl: 'https://hooks.example.test/T0/B1/xyz?k=v',
      alertAttempts: 3,
    });
  });

  it('refuses other URLs without echoing them (they often hold a token)', () => {
    for (const bad of ['not a url', 'ftp://host/x', 'mailto:ops@example.test', '/relative/path']) {
      const problems: string[] = [];
      expect(parseAlertUrl(bad, problems)).toBeNull();
      expect(problems).toHaveLength(1);
      expect(problems[0]).not.toContain(bad);
    }
    expect(() => loadConfig({ DTX_INSECURE: '1', DTX_ALERT_URL: 'ftp://secret-token@host' })).toThrow(ConfigError);
    expect(() => loadConfig({ DTX_INSECURE: '1', DTX_ALERT_ATTEMPTS: '0' })).toThrow(/DTX_ALERT_ATTEMPTS/);
  });
});
