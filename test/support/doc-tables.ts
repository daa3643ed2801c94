/**
 * The field names a document's markdown tables list, for tests that keep
 * those tables in step with what the code accepts or returns. A table is
 * found by its section's heading and by the line that introduces it (a
 * caption such as "`branches` (in registration order…)" or "A **Step** is");
 * its names are every `backticked` word of each row's first cell, so a row
 * "`createdAt`, `updatedAt`" lists two fields.
 */
import { readFileSync } from 'node:fs';

export class DocTableNotFoundError extends Error {
  constructor(
    readonly file: string,
    readonly part: string,
  ) {
    super(`${file}: no ${part}`);
  }
}

/**
 * The lines of `file` under the heading whose text is `heading`, up to the
 * next heading of the same or a higher level. A `#` line inside a fenced
 * code block (a shell comment) is no heading.
 */
export function sectionOf(file: string, heading: string): string[] {
  const lines = readFileSync(file, 'utf8').split('\n');
  let fenced = false;
  const levels = lines.map((line) => {
    if (line.trimStart().startsWith('```')) fenced = !fenced;
    const marks = /^(#+) /.exec(line);
    return !fenced && marks ? marks[1]!.length : 0;
  });
  const start = lines.findIndex((line, index) => levels[index]! > 0 && line.replace(/^#+ /, '') === heading);
  if (start < 0) throw new DocTableNotFoundError(file, `heading "${heading}"`);
  const end = levels.findIndex((level, index) => index > start && level > 0 && level <= levels[start]!);
  return lines.slice(start + 1, end < 0 ? lines.length : end);
}

/**
 * The names in the first column of the first table after the line starting
 * with `caption`, within `section` (lines from {@link sectionOf}).
 */
export function tableFields(section: readonly string[], caption: string, file: string): string[] {
  const at = section.findIndex((line) => line.startsWith(caption));
  if (at < 0) throw new DocTableNotFoundError(file, `line starting with "${caption}"`);
  const first = section.findIndex((line, index) => index > at && line.startsWith('|'));
  if (first < 0) throw new DocTableNotFoundError(file, `table after "${caption}"`);
  const rows: string[] = [];
  for (let index = first; index < section.length && section[index]!.startsWith('|'); index++) rows.push(section[index]!);
  // The header row and the |---| row name no field.
  return rows.slice(2).flatMap((row) => [...firstCell(row).matchAll(/`([^`]+)`/g)].map((match) => match[1]!));
}

/** A row's first cell: up to the first `|` not escaped as `\|`. */
function firstCell(row: string): string {
  const rest = row.slice(1);
  const end = rest.search(/(?<!\\)\|/);
  return end < 0 ? rest : rest.slice(0, end);
}
