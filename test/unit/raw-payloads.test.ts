import { describe, expect, it } from 'vitest';
import { jsonDepth, MAX_JSON_DEPTH } from '../../coordinator/api/http-input.ts';
import { rawBranchPayloads, rawPayloadsOf } from '../../coordinator/api/raw-payloads.ts';

describe('rawBranchPayloads', () => {
  it('gives the exact text of each payload, numbers, spacing and escapes kept', () => {
    const body =
      '{"gid":"x","branches":[{"branchId":"01","payload":{"n":12345678901234567890, "s":"a\\"]}"}},{"branchId":"02"},{"payload" : 1.10 ,"branchId":"03"}],"timeoutMs":5}';
    expect(JSON.parse(body)).toBeTruthy();
    expect(rawBranchPayloads(body)).toEqual(['{"n":12345678901234567890, "s":"a\\"]}"}', undefined, '1.10']);
  });

  it('follows JSON.parse where keys repeat: the last one wins', () => {
    const body = '{"branches":[{"payload":1}],"branches":[{"payload":2,"payload":[3]}]}';
    expect(rawBranchPayloads(body)).toEqual(['[3]']);
  });

  it('finds nothing in bodies without branches', () => {
    expect(rawBranchPayloads('{}')).toEqual([]);
    expect(rawBranchPayloads('{"branches":[]}')).toEqual([]);
    expect(rawBranchPayloads('[1,2]')).toEqual([]);
    expect(rawBranchPayloads(' {"gid":"a","other":{"branches":[{"payload":1}]}} ')).toEqual([]);
  });
});

describe('jsonDepth', () => {
  it('counts nesting, not brackets inside strings', () => {
    expect(jsonDepth('1')).toBe(0);
    expect(jsonDepth('{"a":[1,{"b":[]}]}')).toBe(4);
    expect(jsonDepth('{"a":"[[[[\\"{{{{"}')).toBe(1);
  });

  it('handles any depth without recursion', () => {
    const deep = '['.repeat(1_000_000) + ']'.repeat(1_000_000);
    expect(jsonDepth(deep)).toBe(1_000_000);
    expect(jsonDepth('['.repeat(MAX_JSON_DEPTH) + ']'.repeat(MAX_JSON_DEPTH))).toBe(MAX_JSON_DEPTH);
  });
});

describe('rawPayloadsOf', () => {
  it('finds the payloads one level down in each step, by path', () => {
    const body =
      '{"steps":[{"id":"a","action":{"url":"u","payload":{"n":12345678901234567890}},"compensate":{"payload":1.10,"url":"v"}},{"id":"b","action":{"url":"u"}}]}';
    expect(rawPayloadsOf(body, 'steps').map((found) => Object.fromEntries(found))).toEqual([
      { 'action.payload': '{"n":12345678901234567890}', 'compensate.payload': '1.10' },
      {},
    ]);
  });

  it('does not look deeper than one level, nor inside a payload', () => {
    const body = '{"steps":[{"action":{"deeper":{"payload":1},"payload":{"payload":2}}}]}';
    expect(rawPayloadsOf(body, 'steps').map((found) => Object.fromEntries(found))).toEqual([{ 'action.payload': '{"payload":2}' }]);
  });
});
