/**
 * The participant allow-list (coordinator/security/participant-policy.ts):
 * encoded separators in a registered URL's path are refused before any
 * prefix is matched, since normalisation leaves them encoded.
 */
import { describe, expect, it } from 'vitest';
import { parseAllowList, ParticipantPolicy } from '../../coordinator/security/participant-policy.ts';

function policy(list: string, allowAny = false): ParticipantPolicy {
  const problems: string[] = [];
  const entries = parseAllowList(list, problems);
  expect(problems).toEqual([]);
  return new ParticipantPolicy(entries, 'shared-secret-0123456789', allowAny);
}

describe('ParticipantPolicy.check: encoded separators', () => {
  const bank = policy('http://bank.test:8080/dtx/');

  it.each([
    ['an encoded slash climbing out of the prefix', 'http://bank.test:8080/dtx/..%2fadmin'],
    ['an encoded slash in upper case', 'http://bank.test:8080/dtx/..%2Fadmin'],
    ['an encoded backslash', 'http://bank.test:8080/dtx/..%5cadmin'],
    ['an encoded backslash in upper case', 'http://bank.test:8080/dtx/..%5Cadmin'],
    ['an encoded dot', 'http://bank.test:8080/dtx/%2e%2e%2fadmin'],
    ['an encoded dot in upper case, inside a segment', 'http://bank.test:8080/dtx/account/confirm%2E'],
    ['an encoded slash that stays under the prefix', 'http://bank.test:8080/dtx/account%2fconfirm'],
  ])('%s → 400 INVALID_URL naming the field', (_case, url) => {
    expect(bank.check('branches[0].confirmUrl', url)).toEqual({
      code: 'INVALID_URL',
      message: 'branches[0].confirmUrl must not hold an encoded "/", "\\" or "." (%2F, %5C, %2E) in its path',
    });
  });

  it('refuses them before the prefix match, so also where the list allows every path, and in development mode', () => {
    for (const anywhere of [policy('http://bank.test:*/'), policy('', true)]) {
      expect(anywhere.check('checkUrl', 'http://bank.test:8080/dtx/..%2fadmin')).toMatchObject({
        code: 'INVALID_URL',
        message: expect.stringContaining('checkUrl'),
      });
    }
  });

  it('tells encoded separators from other escapes, and looks at the path only', () => {
    expect(bank.check('f', 'http://bank.test:8080/dtx/acc%2fount/confirm')).toMatchObject({ code: 'INVALID_URL' });
    expect(bank.check('f', 'http://bank.test:8080/dtx/acc%20ount/confirm')).toBeNull();
    expect(bank.check('f', 'http://bank.test:8080/dtx/account/confirm?next=%2fadmin%2e%5c')).toBeNull();
    // Dot segments, plain or fully encoded, are resolved by normalisation and then matched against the prefix.
    expect(bank.check('f', 'http://bank.test:8080/dtx/%2e%2e/admin')).toMatchObject({ code: 'PARTICIPANT_NOT_ALLOWED' });
    expect(bank.check('f', 'http://bank.test:8080/dtx/../admin')).toMatchObject({ code: 'PARTICIPANT_NOT_ALLOWED' });
  });
});
