/**
 * What each caller of `/v1` may reach: the modes it may begin and the
 * participant URL prefixes it may register branches (and a message's
 * check-back) under. Pure: parsing and matching only; the transaction
 * service checks every registration against its caller's scope before
 * anything is written.
 *
 * Why: for a saga or a message the registration is the effect — the
 * coordinator itself calls the action or the delivery, signed with the
 * participant's key. Without a scope, any token would be a licence to move
 * money at every allowed participant. The allow-list (DTX_PARTICIPANTS) says
 * where the coordinator may call at all; a scope says where each caller may
 * make it call. Both must pass.
 *
 * DTX_API_SCOPES holds one entry per DTX_API_TOKENS name, separated by `;`:
 *
 *   orders=tcc,xa@https://bank-a.internal/dtx/,https://bank-b.internal/dtx/
 *   billing=msg@https://ledger.internal/dtx/,https://billing.internal/dtx/
 *   reports=*@*
 *
 * `*` before the `@` is every mode; `*` after it is every allowed participant.
 */
import type { Mode } from '../domain/transaction.ts';
import { MODES } from '../domain/transaction.ts';
import { cutAt, listEntries } from '../setting-lists.ts';
import { matchesPrefix, parsePrefix, type UrlPrefix } from './participant-policy.ts';

/** One caller's scope: the modes it may use, and where it may register; `null` prefixes: anywhere allowed. */
export interface CallerScope {
  modes: ReadonlySet<Mode>;
  /** Null: every URL the allow-list lets through. */
  prefixes: readonly UrlPrefix[] | null;
  /** The entry as configured (no secret in it), for logs and refusals. */
  text: string;
}

/** Why a registration is outside its caller's scope (403 OUT_OF_SCOPE). */
export type ScopeRefusal = { code: 'OUT_OF_SCOPE'; message: string };

/**
 * DTX_API_SCOPES: `name=modes@prefixes` entries separated by `;`, modes and
 * prefixes comma-separated, `*` for all. Every name must be a DTX_API_TOKENS
 * name, and (outside development mode) every token name needs an entry: a
 * caller's reach is never implicit.
 *
 * @param text - the variable's value
 * @param tokenNames - the callers of DTX_API_TOKENS
 * @param requireAll - whether a token without an entry is a problem (outside development mode)
 * @param problems - where problems are reported
 */
export function parseCallerScopes(text: string, tokenNames: readonly string[], requireAll: boolean, problems: string[]): Map<string, CallerScope> {
  const scopes = new Map<string, CallerScope>();
  const entries = text
    .split(';')
    .map((entry) => entry.trim())
    .filter(Boolean);
  for (const [index, entry] of entries.entries()) {
    const [name, rest] = cutAt(entry, '=');
    const [modesText, prefixesText] = cutAt(rest ?? '', '@');
    const where = `DTX_API_SCOPES entry #${index + 1}`;
    if (rest === null || prefixesText === null) {
      problems.push(`${where} must be name=modes@prefixes (e.g. orders=tcc,saga@https://bank-a.internal/dtx/), with * for all modes or all participants`);
      continue;
    }
    if (!tokenNames.includes(name.trim())) {
      problems.push(`${where} names ${JSON.stringify(name.trim().slice(0, 64))}, which is no DTX_API_TOKENS name`);
      continue;
    }
    if (scopes.has(name.trim())) {
      problems.push(`DTX_API_SCOPES has two entries for ${name.trim()}`);
      continue;
    }
    const modes = parseModes(modesText, where, problems);
    const prefixes = parsePrefixes(prefixesText, where, problems);
    if (modes && prefixes !== undefined) scopes.set(name.trim(), { modes, prefixes, text: entry });
  }
  if (requireAll) {
    const unscoped = tokenNames.filter((name) => !scopes.has(name));
    if (unscoped.length > 0) {
      problems.push(`DTX_API_SCOPES has no entry for ${unscoped.join(', ')}: give every caller its modes and participant prefixes (name=*@* for everything)`);
    }
  }
  return scopes;
}

function parseModes(text: string, where: string, problems: string[]): ReadonlySet<Mode> | null {
  if (text.trim() === '*') return new Set(MODES);
  const modes = listEntries(text);
  const unknown = modes.filter((mode) => !(MODES as readonly string[]).includes(mode));
  if (modes.length === 0 || unknown.length > 0) {
    problems.push(`${where}: modes must be * or a comma-separated list of ${MODES.join(', ')}`);
    return null;
  }
  return new Set(modes as Mode[]);
}

/** The prefixes, null for `*`, undefined when one is wrong (reported). */
function parsePrefixes(text: string, where: string, problems: string[]): readonly UrlPrefix[] | null | undefined {
  if (text.trim() === '*') return null;
  const prefixes: UrlPrefix[] = [];
  for (const raw of listEntries(text)) {
    const prefix = parsePrefix(raw);
    if (!prefix) {
      problems.push(`${where}: ${JSON.stringify(raw.slice(0, 200))} is not an http(s) URL prefix such as https://host:port/path/ (port may be *)`);
      return undefined;
    }
    prefixes.push(prefix);
  }
  if (prefixes.length === 0) {
    problems.push(`${where}: name at least one participant prefix, or *`);
    return undefined;
  }
  return prefixes;
}

/**
 * Whether `caller` may use `mode` and make the coordinator call every one
 * of `urls` (fields named for the refusal). A caller without a scope (only
 * in development mode, or anonymous) is not limited.
 *
 * @returns null when allowed, else why not
 */
export function scopeRefusal(
  scope: CallerScope | undefined,
  caller: string | null,
  mode: Mode,
  urls: readonly { field: string; url: string }[],
): ScopeRefusal | null {
  return modeScopeRefusal(scope, caller, mode) ?? prefixScopeRefusal(scope, caller, urls);
}

/** Why `caller` may not use `mode`, or null when it may. */
export function modeScopeRefusal(scope: CallerScope | undefined, caller: string | null, mode: Mode): ScopeRefusal | null {
  if (!scope || scope.modes.has(mode)) return null;
  return { code: 'OUT_OF_SCOPE', message: `caller ${caller} may not use the ${mode} mode (its DTX_API_SCOPES entry allows ${[...scope.modes].join(', ')})` };
}

/** Why `caller` may not register one of `urls` (outside its participant prefixes), or null when it may register them all. */
export function prefixScopeRefusal(
  scope: CallerScope | undefined,
  caller: string | null,
  urls: readonly { field: string; url: string }[],
): ScopeRefusal | null {
  if (!scope || scope.prefixes === null) return null;
  for (const { field, url } of urls) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      // The allow-list refuses it with INVALID_URL first; never let it through here.
      return { code: 'OUT_OF_SCOPE', message: `${field} is not a URL caller ${caller} may register` };
    }
    if (!scope.prefixes.some((prefix) => matchesPrefix(prefix, parsed))) {
      return { code: 'OUT_OF_SCOPE', message: `${field} is not under any participant prefix caller ${caller} may reach (its DTX_API_SCOPES entry)` };
    }
  }
  return null;
}
