/**
 * What each caller of /v1 may reach (coordinator/security/caller-scopes.ts):
 * DTX_API_SCOPES parsed, and registrations checked against a caller's modes
 * and participant prefixes.
 */
import { describe, expect, it } from 'vitest';
import { parseCallerScopes, scopeRefusal } from '../../coordinator/security/caller-scopes.ts';

const TOKENS = ['orders', 'billing', 'reports'];

function parse(text: string, requireAll = true) {
  const problems: string[] = [];
  const scopes = parseCallerScopes(text, TOKENS, requireAll, problems);
  return { scopes, problems };
}

describe('parseCallerScopes', () => {
  it('reads modes and prefixes per caller, * for all', () => {
    const { scopes, problems } = parse(
      'orders=tcc,xa@https://bank-a.internal/dtx/,http://bank-b:*/dtx/; billing=msg@https://ledger.internal/dtx/ ;reports=*@*',
    );
    expect(problems).toEqual([]);
    expect([...scopes.get('orders')!.modes]).toEqual(['tcc', 'xa']);
    expect(scopes.get('orders')!.prefixes).toHaveLength(2);
    expect([...scopes.get('reports')!.modes].sort()).toEqual(['fmt', 'msg', 'saga', 'tcc', 'xa']);
    expect(scopes.get('reports')!.prefixes).toBeNull();
  });

  it('names every token without a scope, outside development mode only', () => {
    expect(parse('orders=*@*').problems).toEqual([expect.stringContaining('no entry for billing, reports')]);
    expect(parse('orders=*@*', false).problems).toEqual([]);
  });

  it.each([
    ['orders=tcc', 'name=modes@prefixes'],
    ['nobody=*@*', 'no DTX_API_TOKENS name'],
    ['orders=tcc,batch@*', 'modes must be'],
    ['orders=@*', 'modes must be'],
    ['orders=tcc@ftp://bank/', 'not an http(s) URL prefix'],
    ['orders=tcc@', 'at least one participant prefix'],
    ['orders=*@*;orders=tcc@*', 'two entries for orders'],
  ])('refuses %s', (entry, problem) => {
    expect(parse(entry, false).problems).toEqual([expect.stringContaining(problem)]);
  });
});

describe('scopeRefusal', () => {
  const { scopes } = parse('orders=tcc,saga@https://bank-a.internal/dtx/,http://bank-b:*/dtx/;billing=msg@*;reports=*@*');
  const urls = (...list: string[]) => list.map((url, index) => ({ field: `branches[${index}].confirmUrl`, url }));

  it('lets a caller reach its own modes and prefixes', () => {
    expect(scopeRefusal(scopes.get('orders'), 'orders', 'tcc', urls('https://bank-a.internal/dtx/debit/confirm', 'http://bank-b:4002/dtx/x'))).toBeNull();
    expect(scopeRefusal(scopes.get('billing'), 'billing', 'msg', urls('http://anywhere.internal/dtx/deliver'))).toBeNull();
  });

  it('refuses another mode, naming what the caller may use', () => {
    expect(scopeRefusal(scopes.get('orders'), 'orders', 'msg', [])).toEqual({
      code: 'OUT_OF_SCOPE',
      message: expect.stringContaining('may not use the msg mode'),
    });
  });

  it('refuses a URL outside its prefixes, naming the field', () => {
    const refusal = scopeRefusal(scopes.get('orders'), 'orders', 'tcc', urls('https://bank-a.internal/dtx/debit/confirm', 'https://bank-c.internal/dtx/x'));
    expect(refusal).toEqual({ code: 'OUT_OF_SCOPE', message: expect.stringContaining('branches[1].confirmUrl') });
    // Another scheme, port or path is another participant.
    expect(scopeRefusal(scopes.get('orders'), 'orders', 'tcc', urls('http://bank-a.internal/dtx/debit/confirm'))).not.toBeNull();
    expect(scopeRefusal(scopes.get('orders'), 'orders', 'tcc', urls('https://bank-a.internal:8443/dtx/debit/confirm'))).not.toBeNull();
    expect(scopeRefusal(scopes.get('orders'), 'orders', 'tcc', urls('https://bank-a.internal/admin/confirm'))).not.toBeNull();
  });

  it('does not limit a caller with no scope (development mode)', () => {
    expect(scopeRefusal(undefined, null, 'saga', urls('http://x/'))).toBeNull();
  });
});
