/**
 * Reading SQL text without a parser: where the `?` placeholders are, and
 * the words outside strings, comments and quoted identifiers with their
 * parenthesis depth. statement.ts slices a statement's WHERE clause out of
 * the text with it (the parser's tree holds no reliable positions), finds
 * the statement's first keyword, its trailing `;`, a locking clause.
 *
 * Placeholders follow knex.raw, since the text is run by knex.raw: `?` is a
 * value, `??` an identifier, `\?` a literal question mark, wherever they
 * are, string literals included (knex does not look inside them either).
 *
 * Pure: no I/O.
 */
import { DtxError } from '../errors.ts';
import type { FmtDialect } from './dialect.ts';

const PLACEHOLDER = /\\\?|\?\??/g;

/** A `?` value placeholder: its offset in the text and its value's index. */
export interface Placeholder {
  offset: number;
  index: number;
}

/** A word (keyword or bare identifier) outside strings, comments and quotes. */
export interface Word {
  /** Upper-cased. */
  upper: string;
  start: number;
  end: number;
  /** Parentheses open around it: 0 at the statement's top level. */
  depth: number;
}

/** What {@link scanSql} finds. */
export interface SqlScan {
  words: Word[];
  /** Offsets of top-level `;`. */
  semicolons: number[];
  /** Offset after the last character that is not blank nor in a comment. */
  contentEnd: number;
}

/**
 * `??` identifiers written into the text (quoted for `dialect`) and their
 * values taken out, so that only `?` values (and `\?`) remain, as knex.raw
 * would do it.
 *
 * @throws DtxError `SQL_VALUES` when placeholders and values differ in number,
 *   or an identifier is not a string or holds a `?` (it would be read again as a placeholder)
 */
export function expandIdentifiers(text: string, values: readonly unknown[], dialect: FmtDialect): { text: string; values: unknown[] } {
  const kept: unknown[] = [];
  let used = 0;
  const expanded = text.replace(PLACEHOLDER, (match) => {
    if (match === '\\?') return match;
    const value = values[used++];
    if (used > values.length) return match;
    if (match === '?') {
      kept.push(value);
      return match;
    }
    return quoteIdentifiers(value, dialect);
  });
  if (used !== values.length) throw new DtxError('SQL_VALUES', `the statement has ${used} placeholders for ${values.length} values`);
  return { text: expanded, values: kept };
}

/** A `??` value as knex quotes it: each dot-separated part quoted, a list joined by commas. */
function quoteIdentifiers(value: unknown, dialect: FmtDialect): string {
  if (Array.isArray(value)) return value.map((part) => quoteIdentifiers(part, dialect)).join(', ');
  if (typeof value !== 'string' || value.includes('?')) {
    throw new DtxError(
      'SQL_VALUES',
      `an identifier (??) must be a string without '?', got ${typeof value === 'string' ? JSON.stringify(value) : typeof value}`,
    );
  }
  return value
    .split('.')
    .map((part) => (part === '*' ? part : quoteIdentifier(part, dialect)))
    .join('.');
}

/** One identifier quoted for `dialect`. */
export function quoteIdentifier(name: string, dialect: FmtDialect): string {
  return dialect === 'mysql' ? `\`${name.replace(/`/g, '``')}\`` : `"${name.replace(/"/g, '""')}"`;
}

/** The `?` value placeholders of a text whose `??` are expanded (`\?` is not one). */
export function placeholders(text: string): Placeholder[] {
  const found: Placeholder[] = [];
  for (const match of text.matchAll(PLACEHOLDER)) {
    if (match[0] === '\\?') continue;
    if (match[0] === '??') throw new DtxError('SQL_VALUES', 'identifier placeholders (??) must be expanded first');
    found.push({ offset: match.index, index: found.length });
  }
  return found;
}

/**
 * The text the parser reads: the k-th `?` as `:dtx_pk` (a named parameter
 * both grammars take, also before a `::type` cast where PostgreSQL's `$n`
 * fails), `\?` as `?` (PostgreSQL's jsonb operator).
 */
export function parserText(text: string): string {
  let index = 0;
  return text.replace(PLACEHOLDER, (match) => (match === '\\?' ? '?' : `:dtx_p${index++}`));
}

/** The value index of a parser-text parameter name (`dtx_p3` → 3), or null. */
export function parameterIndex(name: unknown): number | null {
  if (typeof name !== 'string') return null;
  const match = /^dtx_p(\d+)$/.exec(name);
  return match ? Number(match[1]) : null;
}

/**
 * The words, top-level semicolons and end of content of a statement.
 * Skips `'…'` strings (and PostgreSQL's E'…' and $tag$…$tag$), `"…"` (an
 * identifier on PostgreSQL, a string on MySQL), MySQL's backquotes,
 * `-- ` and `#` (MySQL) line comments and block comments (nested on PostgreSQL).
 */
export function scanSql(text: string, dialect: FmtDialect): SqlScan {
  const words: Word[] = [];
  const semicolons: number[] = [];
  let depth = 0;
  let contentEnd = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i]!;
    const next = text[i + 1];
    if (c === '-' && next === '-' && (dialect === 'postgres' || /[\s]/.test(text[i + 2] ?? ' '))) {
      i = lineEnd(text, i);
      continue;
    }
    if (c === '#' && dialect === 'mysql') {
      i = lineEnd(text, i);
      continue;
    }
    if (c === '/' && next === '*') {
      i = blockCommentEnd(text, i, dialect === 'postgres');
      continue;
    }
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    contentEnd = i + 1;
    if (c === "'" || c === '"' || c === '`') {
      const backslashes = dialect === 'mysql' && c !== '`';
      i = quotedEnd(text, i, c, backslashes);
      contentEnd = i;
      continue;
    }
    if (dialect === 'postgres' && c === '$') {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(text.slice(i));
      if (tag) {
        const close = text.indexOf(tag[0], i + tag[0].length);
        i = close < 0 ? n : close + tag[0].length;
        contentEnd = i;
        continue;
      }
    }
    if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_$]/.test(text[j]!)) j++;
      const word = text.slice(i, j);
      // PostgreSQL's E'…' string takes backslash escapes.
      if (dialect === 'postgres' && (word === 'E' || word === 'e') && text[j] === "'") {
        i = quotedEnd(text, j, "'", true);
        contentEnd = i;
        continue;
      }
      words.push({ upper: word.toUpperCase(), start: i, end: j, depth });
      i = j;
      contentEnd = j;
      continue;
    }
    if (c === '(') depth++;
    else if (c === ')') depth = Math.max(0, depth - 1);
    else if (c === ';' && depth === 0) semicolons.push(i);
    i++;
  }
  return { words, semicolons, contentEnd };
}

function lineEnd(text: string, from: number): number {
  const end = text.indexOf('\n', from);
  return end < 0 ? text.length : end + 1;
}

function blockCommentEnd(text: string, from: number, nested: boolean): number {
  let level = 0;
  let i = from;
  while (i < text.length) {
    if (text[i] === '/' && text[i + 1] === '*' && (nested || level === 0)) {
      level++;
      i += 2;
    } else if (text[i] === '*' && text[i + 1] === '/') {
      level--;
      i += 2;
      if (level === 0) return i;
    } else i++;
  }
  return text.length;
}

/** The offset after the closing quote of the quoted run opening at `from` (a doubled quote is one quote). */
function quotedEnd(text: string, from: number, quote: string, backslashes: boolean): number {
  let i = from + 1;
  while (i < text.length) {
    const c = text[i];
    if (backslashes && c === '\\') {
      i += 2;
      continue;
    }
    if (c === quote) {
      if (text[i + 1] === quote) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i++;
  }
  return text.length;
}
