/**
 * Generators of field values: valid ones (so that requests get past
 * validation and change state) and ones that break the contract in a known
 * way (so that the answer must be a refusal).
 *
 * Safety: every URL a generator can produce that the coordinator might
 * accept points at 127.0.0.1 (the stub or the participant), so that no
 * phase-two call ever leaves the machine; hosts that do not parse, or are
 * too long for any lookup, are refused before anything is stored.
 */
import fc from 'fast-check';
import { ID_PATTERN } from '../../protocol/wire.ts';
import { RawJson, Repeat } from './fuzz-request.ts';

const ID = new RegExp(ID_PATTERN);

/**
 * encodeURIComponent that never throws (lone surrogates become U+FFFD, as in
 * any UTF-8 encoder) and keeps placeholders.
 */
export function percentEncode(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9_.!~*'()-]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  // Placeholders ({{STUB}}…) stay as they are: render() fills them in with URL-safe text.
  return out.replace(/%7B%7B([A-Z_]+)%7D%7D/g, '{{$1}}');
}

/** Hand-picked trouble: control and format characters, lone surrogates, confusables, injections, prototype keys. */
export const NASTY_STRINGS: readonly string[] = [
  '',
  ' ',
  '\t',
  '\u0000',
  'a\u0000b',
  '\u0001\u0002\u001b[31m',
  '\u007f',
  '\u0085',
  '\u00a0',
  '\u2028\u2029',
  '\ufeff',
  '\ufffe\uffff',
  '\ud800',
  'a\udfffb',
  '😀',
  '\u{10ffff}',
  'Ａ',
  'İı',
  'ß',
  'e\u0301',
  '\u202eabc',
  '\u200b',
  '%00',
  '%2e%2e%2f',
  '../../etc/passwd',
  '<script>alert(1)</script>',
  "' OR 1=1 --",
  '"; DROP TABLE dtx_global; --',
  '${jndi:ldap://127.0.0.1/x}',
  '{{GID}}/x',
  '\\',
  '"',
  'null',
  'NaN',
  '__proto__',
  'constructor',
  'toString',
  'a b',
  'a/b',
  'a?b',
  'a#b',
  'a:b',
  'a*b',
  'a,b',
  'a\r\nb',
  'a\nx-injected: 1',
];

/** Text of every kind: hand-picked, any code point, any byte-sized char, graphemes, long. */
export const oddText: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 5000 }).map((n) => 'x'.repeat(n)) },
);

const isValidId = (text: string, max: number) => text.length >= 1 && text.length <= max && ID.test(text);

/** A gid or branch id that the id rules refuse (charset, length). */
export const invalidId = (max: number): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 4, arbitrary: oddText.filter((s) => !isValidId(s, max)) },
    { weight: 1, arbitrary: fc.constantFrom('a'.repeat(max + 1), `${'b'.repeat(max)}é`, 'Ab'.repeat(max)) },
  );

/** A random id the rules accept, up to the longest allowed. */
export const validId = (max: number): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.stringMatching(/^[A-Za-z0-9_.-]{1,24}$/) },
    { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z0-9]{8}$/).map((s) => s.padEnd(max, '.-_x')) },
  );

/** JSON values of the wrong type for a string field or an integer field. */
export const wrongTypeForString: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double({ noNaN: true }),
  fc.array(fc.string({ maxLength: 3 }), { maxLength: 2 }),
  fc.dictionary(fc.string({ maxLength: 3 }), fc.nat(), { maxKeys: 2 }),
  fc.constant(new RawJson('1e400')),
);

/** Integers out of a range, fractions, strings, booleans, and numbers JSON.stringify cannot write. */
export const badInteger = (min: number, max: number): fc.Arbitrary<unknown> =>
  fc
    .oneof(
      fc.constantFrom(min - 1, max + 1, -1, 1.5, Number.MAX_SAFE_INTEGER + 2, -Number.MAX_SAFE_INTEGER),
      fc.constantFrom('1000', true, null, [], {}, '', '0x10'),
      fc.constantFrom(new RawJson('1e400'), new RawJson('-1e400'), new RawJson('12345678901234567890123'), new RawJson('0.5e1000')),
    )
    .filter((v) => !(typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max));

/**
 * URLs that match the schema's `^https?://[^\s]+$` (or come close) but must
 * be refused: no valid URL (bad IPv6, port out of range, forbidden host code
 * points), a host too long for the participant column, or too long overall.
 * Checked when this module loads.
 */
export const INVALID_URLS: readonly string[] = [
  'http://[',
  'https://[',
  'http://[::1',
  'http://[::1]]/x',
  'http://[fe80::1%eth0]/x',
  'http://[:::]/x',
  'http://127.0.0.1:99999/x',
  'http://127.0.0.1:65536/x',
  'http://127.0.0.1:-1/x',
  'http://127.0.0.1:1x/x',
  'http://127.0.0.1:80:80/x',
  'http://%/x',
  'http://a%zz/x',
  'http://a%00b/x',
  'http://\u0000/x',
  'http://a<b/x',
  'http://a^b/x',
  'http://a|b/x',
  'http://',
  'https://',
  'http://:80/x',
  'http://@/x',
  `http://${'a'.repeat(300)}/x`,
  `http://${'a'.repeat(256)}:8080/x`,
  `https://${'b'.repeat(1000)}/x`,
  'http://exa mple/x',
  'ftp://127.0.0.1/x',
  'file:///etc/passwd',
  'javascript:alert(1)//',
  'data:text/plain,hello',
  'mailto:a@127.0.0.1',
  'http:/127.0.0.1/x',
  '//127.0.0.1/x',
  '127.0.0.1/x',
  '',
  ' http://127.0.0.1/x',
  'http://127.0.0.1/x\n',
  `http://127.0.0.1/${'p'.repeat(2100)}`,
];

const SCHEMA_URL = /^https?:\/\/[^\s]+$/u;

/** Every INVALID_URLS entry fails the schema, fails to parse, or names a host no column and no resolver takes. */
function checkInvalidUrls(): void {
  for (const text of INVALID_URLS) {
    if (!SCHEMA_URL.test(text) || text.length > 2048) continue;
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      continue;
    }
    if (url.host.length > 255) continue;
    throw new Error(`fuzz generator bug: ${JSON.stringify(text)} is a valid URL`);
  }
}
checkInvalidUrls();

/** A path under the stub: percent-encoded odd text, so the URL stays ASCII and valid. */
const stubPath: fc.Arbitrary<string> = fc
  .array(
    fc.oneof(
      fc.stringMatching(/^[A-Za-z0-9._~-]{0,12}$/),
      oddText.map((s) => percentEncode(s.slice(0, 40))),
    ),
    { minLength: 1, maxLength: 4 },
  )
  .map((segments) => segments.join('/'));

/**
 * URLs the coordinator accepts and whose calls succeed at once: the stub
 * (any path, query) — phase two then finishes without the participant.
 */
export const okUrl: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: stubPath.map((p) => `{{STUB}}/ok/${p}`) },
  { weight: 1, arbitrary: fc.tuple(stubPath, oddText).map(([p, q]) => `{{STUB}}/ok/${p}?q=${percentEncode(q.slice(0, 40))}`) },
  { weight: 1, arbitrary: fc.constantFrom(`{{STUB}}/ok/${'l'.repeat(1900)}`, '{{STUB}}/ok/%F0%9F%98%80', '{{STUB}}/ok/a;b=c', '{{STUB}}/ok/~user') },
);

/**
 * URLs that are valid but odd for a participant: unusual spellings of the
 * loopback address, raw non-ASCII paths, https to a plain port, another
 * loopback address. The coordinator may accept or refuse them (the
 * allow-list decides); calls to them fail, so the fuzz pauses what stays
 * stuck. None leaves the machine.
 */
export const oddLoopbackUrl: fc.Arbitrary<string> = fc.constantFrom(
  'http://localhost:1/x',
  'http://127.1:1/x',
  'http://0x7f.0.0.1:1/x',
  'http://2130706433:1/x',
  'http://[::1]:1/x',
  'https://127.0.0.1:1/x',
  'http://127.0.0.2:1/x',
  'http://user:pass@127.0.0.1:1/x',
  'HTTP://127.0.0.1:1/X',
  'http://127.0.0.1:1/é ü'.replace(' ', '%20'),
  'http://127.0.0.1:1/😀',
  'http://127.0.0.1:0/x',
  'http://127.0.0.1.:1/x',
);

/** Payloads: any JSON (also odd unicode), numbers beyond 2^53, deep nesting, large strings. */
export const payload: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      new RawJson('12345678901234567890'),
      new RawJson('{"amount":12345678901234567890.5}'),
      new RawJson('1e400'),
      new RawJson('-0'),
      new RawJson('{"a":1,"a":2}'),
      new RawJson('"\\ud800"'),
      new RawJson('"\\u0000"'),
      new RawJson('{"__proto__":{"polluted":true},"constructor":{"prototype":{"x":1}}}'),
      new RawJson('[1e-400, -1e-400]'),
      new RawJson('{"":""}'),
    ),
  },
  { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 400_000 }).map((depth) => new RawJson(new Repeat('[', depth), new Repeat(']', depth))) },
  { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 400_000 }).map((depth) => new RawJson(new Repeat('{"a":', depth), '1', new Repeat('}', depth))) },
  { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 900_000 }).map((n) => new RawJson('"', new Repeat('x', n), '"')) },
  { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 60_000 }).map((n) => new RawJson('[', new Repeat('0,', n), '0]')) },
);

/**
 * Text that is not JSON, or not the JSON it seems (written before
 * placeholders are filled). Never blank: a blank JSON body counts as none.
 */
export const malformedJsonText = (valid: string): fc.Arbitrary<string> =>
  fc
    .oneof(
      fc.nat({ max: Math.max(0, valid.length - 1) }).map((cut) => valid.slice(0, cut)),
      fc.constantFrom('}', ',', 'x', ']', '\u0000', ' garbage', '{}').map((tail) => `${valid}${tail}`),
      fc.constant(`\ufeff${valid}`),
      fc.constant(valid.replaceAll('"', "'")),
      fc.constant(`/* comment */${valid}`),
      fc.constantFrom(
        '{',
        '[',
        '"',
        '{"gid":}',
        '{,}',
        'NaN',
        'undefined',
        '{"gid": undefined}',
        '{"a":1}{"b":2}',
        '{"a":"\\x41"}',
        '{"a":"\\u12"}',
        "{'gid':'x'}",
        '{"a" 1}',
        '\t\n{',
        'true false',
      ),
    )
    .filter((text) => text.trim() !== '');
