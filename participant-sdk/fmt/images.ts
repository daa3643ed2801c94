/**
 * Row images: a row's values in a lossless, JSON-safe normal form, compared
 * and written back as they are.
 *
 * The normal form is the database's own text for each value, read with the
 * drivers' conversions turned off for the image reads only (knex
 * `.options()`: mysql2 `typeCast`, pg `types`): BIGINT and DECIMAL beyond
 * 2^53, DATETIME(6) / timestamp with microseconds, JSON, booleans, arrays
 * all come back exactly as the server prints them, and go back as strings
 * the server parses to the same value. Converting in SQL (CAST) would be
 * column-type by column-type; converting the drivers' JS values would have
 * lost precision already (a BIGINT as a number, a timestamp as a Date in ms).
 *
 * - NULL: null.
 * - Bytes (BLOB, BINARY, BIT… and bytea): {"$b64": "<base64>"}.
 * - PostgreSQL timestamp with time zone: its instant in UTC
 *   (`2024-05-01 10:00:00.123456+00`), so that images read by sessions with
 *   different TimeZone settings compare equal. MySQL TIMESTAMP is read in the
 *   session's time_zone: phase one and rollback must use the same one (a
 *   pool's connections normally do).
 * - Anything else: the server's text.
 *
 * Pure: no I/O.
 */
import type { DriverOptions, FmtDialect } from './dialect.ts';
import type { ColumnMeta, TableMeta } from './table-meta.ts';

/** One value of an image. */
export type ImageValue = string | null | { $b64: string };

/** One row: column name → value, every column of the table. */
export type RowImage = Record<string, ImageValue>;

/** The subset of mysql2's typeCast field used here. */
interface MysqlField {
  name: string;
  string(): string | null;
  buffer(): Buffer | null;
}

/**
 * Driver options that read every column of `meta` as the server's text (bytes as a Buffer).
 * For the image reads only: the business statements keep the driver's usual values.
 */
export function imageReadOptions(dialect: FmtDialect, meta: TableMeta): DriverOptions {
  if (dialect === 'mysql') {
    const binary = new Set(meta.columns.filter((column) => column.binary).map((column) => column.name));
    return { typeCast: (field: MysqlField) => (binary.has(field.name) ? field.buffer() : field.string()) };
  }
  return { types: { getTypeParser: () => (text: string) => text } };
}

/** The normal form of a row the image read returned (see the module comment). */
export function imageOf(raw: Readonly<Record<string, unknown>>, meta: TableMeta): RowImage {
  const image: RowImage = {};
  for (const column of meta.columns) image[column.name] = normalValue(raw[column.name], column);
  return image;
}

function normalValue(value: unknown, column: ColumnMeta): ImageValue {
  if (value === null || value === undefined) return null;
  if (Buffer.isBuffer(value)) return { $b64: value.toString('base64') };
  if (typeof value === 'string') {
    if (column.binary) return { $b64: byteaText(value).toString('base64') };
    return column.timestampTz ? utcTimestamp(value) : value;
  }
  // Not reached with imageReadOptions; kept exact for what could be (a bigint stays whole).
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/** PostgreSQL's bytea text: hex (`\x00ff`, the default output) or the older escape format. */
function byteaText(text: string): Buffer {
  if (text.startsWith('\\x')) return Buffer.from(text.slice(2), 'hex');
  const bytes: number[] = [];
  for (let i = 0; i < text.length;) {
    if (text[i] === '\\' && text[i + 1] === '\\') {
      bytes.push(0x5c);
      i += 2;
    } else if (text[i] === '\\') {
      bytes.push(parseInt(text.slice(i + 1, i + 4), 8));
      i += 4;
    } else {
      bytes.push(...Buffer.from(text[i]!, 'latin1'));
      i++;
    }
  }
  return Buffer.from(bytes);
}

const TIMESTAMPTZ = /^(\d{4,})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(\.\d+)?([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?$/;

/**
 * A timestamptz in ISO output (any session TimeZone) as the same instant in
 * UTC, its fraction kept digit for digit. Anything else (BC, infinity, a
 * non-ISO DateStyle) is kept as it is.
 */
export function utcTimestamp(text: string): string {
  const match = TIMESTAMPTZ.exec(text);
  if (!match) return text;
  const [, year, month, day, hour, minute, second, fraction = '', sign, offsetHours, offsetMinutes = '0', offsetSeconds = '0'] = match;
  const offset = (sign === '-' ? -1 : 1) * (Number(offsetHours) * 3600 + Number(offsetMinutes) * 60 + Number(offsetSeconds));
  const date = new Date(0);
  // setUTCFullYear, not Date.UTC: Date.UTC reads years 0-99 as 1900-1999.
  date.setUTCFullYear(Number(year), Number(month) - 1, Number(day));
  date.setUTCHours(Number(hour), Number(minute), Number(second) - offset, 0);
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return (
    `${pad(date.getUTCFullYear(), 4)}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())} ` +
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}${fraction}+00`
  );
}

/** An image value as a statement binds it: the text, null, or the bytes. */
export function toBinding(value: ImageValue): string | null | Buffer {
  if (value === null || typeof value === 'string') return value;
  return Buffer.from(value.$b64, 'base64');
}

/** Whether two values are the same in normal form. */
export function sameValue(a: ImageValue | undefined, b: ImageValue | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a === null || b === null || typeof a === 'string' || typeof b === 'string') return a === b;
  return a.$b64 === b.$b64;
}

/** Whether two images of a row are equal on `columns` (comparedColumns: not the ones the database writes by itself). */
export function sameImage(a: RowImage, b: RowImage, columns: readonly ColumnMeta[]): boolean {
  return columns.every((column) => sameValue(a[column.name], b[column.name]));
}

/**
 * A row's primary key in row-key form (global-locks.ts): each value's text,
 * a binary one as `b64:<base64>`.
 */
export function keyOfImage(image: RowImage, primaryKey: readonly string[]): Array<string | null> {
  return primaryKey.map((column) => {
    const value = image[column];
    if (value === undefined || value === null) return null;
    return typeof value === 'string' ? value : `b64:${value.$b64}`;
  });
}

/** Images as stored in an undo record. */
export function encodeImages(rows: readonly RowImage[]): string {
  return JSON.stringify(rows);
}

/**
 * Images read back from an undo record.
 * @throws Error when the text is not a list of images (the caller names the record)
 */
export function decodeImages(text: string): RowImage[] {
  const rows: unknown = JSON.parse(text);
  if (!Array.isArray(rows)) throw new Error('images are not a list');
  for (const row of rows) {
    if (typeof row !== 'object' || row === null || Array.isArray(row)) throw new Error('an image is not an object');
    for (const value of Object.values(row as Record<string, unknown>)) {
      const ok =
        value === null ||
        typeof value === 'string' ||
        (typeof value === 'object' && !Array.isArray(value) && typeof (value as { $b64?: unknown }).$b64 === 'string' && Object.keys(value).length === 1);
      if (!ok) throw new Error(`an image value is neither text, null nor {"$b64": …}: ${JSON.stringify(value).slice(0, 80)}`);
    }
  }
  return rows as RowImage[];
}
