/**
 * The bearer-token parser read before any authentication: which headers
 * name a token, and that its cost stays linear in the header's length.
 */
import { describe, expect, it } from 'vitest';
import { BearerTokens, bearerToken } from '../../coordinator/security/bearer-tokens.ts';

const spaces = (n: number) => ' '.repeat(n);

describe('bearerToken', () => {
  it.each<[string, string | undefined, string | null]>([
    ['a valid header', 'Bearer abc123', 'abc123'],
    ['the scheme in lower case', 'bearer abc123', 'abc123'],
    ['the scheme in upper case', 'BEARER abc123', 'abc123'],
    ['the scheme in mixed case', 'bEaReR abc123', 'abc123'],
    ['several spaces after the scheme', 'Bearer     abc123', 'abc123'],
    ['trailing spaces', 'Bearer abc123   ', 'abc123'],
    ['spaces inside the token (kept: they are the token’s)', 'Bearer abc 123', 'abc 123'],
    ['a tab instead of the space', 'Bearer\tabc123', null],
    ['a tab after the space (part of the token)', 'Bearer \tabc123', '\tabc123'],
    ['a trailing tab (only spaces are trimmed)', 'Bearer abc123\t', 'abc123\t'],
    ['an empty token', 'Bearer ', null],
    ['only spaces after the scheme', `Bearer${spaces(5)}`, null],
    ['the scheme alone', 'Bearer', null],
    ['the scheme glued to the token', 'Bearerabc123', null],
    ['a space before the scheme', ' Bearer abc123', null],
    ['another scheme', 'Basic x', null],
    ['a token alone', 'abc123', null],
    ['a line break in the token', 'Bearer abc\n123', null],
    ['an empty header', '', null],
    ['no header', undefined, null],
    ['16k spaces', spaces(16_384), null],
    ['the scheme then 16k spaces', `Bearer${spaces(16_384)}`, null],
    ['16k spaces then a token', `Bearer ${spaces(16_384)}abc123`, 'abc123'],
    ['a token then 16k spaces', `Bearer abc123${spaces(16_384)}`, 'abc123'],
    ['16k spaces between two characters', `Bearer x${spaces(16_384)}y`, `x${spaces(16_384)}y`],
    ['16k tabs between two characters', `Bearer x${'\t'.repeat(16_384)}y`, `x${'\t'.repeat(16_384)}y`],
  ])('%s', (_case, header, token) => {
    expect(bearerToken(header)).toBe(token);
  });
});

describe('BearerTokens.identify', () => {
  const tokens = new BearerTokens([
    { token: 'token-of-alice-0123456789', holder: 'alice' },
    { token: 'token-of-bob-0123456789', holder: 'bob' },
  ]);

  it('reads a long run of spaces in linear time', () => {
    // A backtracking parser spends seconds here (its cost grows with the square of the run);
    // a linear one well under a millisecond. The bound leaves room for a loaded machine.
    const header = `Bearer x${spaces(32_768)}y`;
    let fastest = Number.POSITIVE_INFINITY;
    for (let attempt = 0; attempt < 3; attempt++) {
      const started = performance.now();
      expect(tokens.identify(header)).toBeNull();
      fastest = Math.min(fastest, performance.now() - started);
    }
    expect(fastest).toBeLessThan(100);
  });
});
