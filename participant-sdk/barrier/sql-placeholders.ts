/**
 * `?` placeholders turned into PostgreSQL's numbered ones (`$1`, `$2`…), the
 * way knex.raw turns them on its pg client. So a statement with `?` means the
 * same in `ctx.sql` whether the handler runs on a knex transaction (knex.raw)
 * or on the plain-SQL barrier's connection (this), and the same as on MySQL:
 * - `?` is a value, numbered in order;
 * - `??` is an identifier, quoted into the text (`"name"`, `"schema"."name"`,
 *   a list joined by commas);
 * - `\?` is a literal question mark (for PostgreSQL's jsonb operators `?`, `?|`, `?&`).
 * Like knex, it does not look inside string literals or comments: a `?` there
 * is a placeholder too, unless written `\?`.
 */
import { DtxError } from '../errors.ts';

const PLACEHOLDER = /\\\?|\?\??/g;

/**
 * The statement with numbered placeholders, and the values they take (the
 * identifiers' values left out: they are in the text).
 *
 * @throws DtxError `SQL_VALUES` when placeholders and values differ in number,
 *   or an identifier's value is not a string (nothing is sent)
 */
export function toNumberedPlaceholders(sql: string, values: readonly unknown[]): { text: string; values: unknown[] } {
  const bound: unknown[] = [];
  let used = 0;
  const text = sql.replace(PLACEHOLDER, (match) => {
    if (match === '\\?') return '?';
    if (used >= values.length) {
      used++;
      return match;
    }
    const value = values[used++];
    if (match === '??') return quoteIdentifiers(value);
    bound.push(value);
    return `$${bound.length}`;
  });
  if (used !== values.length) throw new DtxError('SQL_VALUES', `the statement has ${used} placeholders for ${values.length} values`);
  return { text, values: bound };
}

/** A `??` value as knex quotes it on pg: each dot-separated part in double quotes, a list joined by commas. */
function quoteIdentifiers(value: unknown): string {
  if (Array.isArray(value)) return value.map(quoteIdentifiers).join(', ');
  if (typeof value !== 'string') throw new DtxError('SQL_VALUES', `an identifier (??) must be a string, got ${typeof value}`);
  return value
    .split('.')
    .map((part) => (part === '*' ? part : `"${part.replace(/"/g, '""')}"`))
    .join('.');
}
