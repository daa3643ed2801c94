/**
 * FMT's row images, without a database: the normal form of driver values,
 * its JSON round trip (what an undo record stores), comparisons, keys, and
 * PostgreSQL timestamptz in UTC.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeImages,
  encodeImages,
  imageOf,
  keyOfImage,
  sameImage,
  toBinding,
  utcTimestamp,
  type ImageValue,
  type RowImage,
} from '../../participant-sdk/fmt/images.ts';
import { pkBindings } from '../../participant-sdk/fmt/row-reads.ts';
import { comparedColumns, type TableMeta } from '../../participant-sdk/fmt/table-meta.ts';
import { column } from '../support/fmt-columns.ts';

const META: TableMeta = {
  schema: 'app',
  name: 'things',
  qualifiedName: 'app.things',
  primaryKey: ['id', 'code'],
  columns: [
    column('id'),
    column('code', { binary: true }),
    column('amount'),
    column('at', { timestampTz: true }),
    column('blob', { binary: true }),
    column('total', { generated: true }),
    column('touched', { autoUpdated: true }),
  ],
};

const imageValue: fc.Arbitrary<ImageValue> = fc.oneof(
  fc.constant(null),
  fc.string({ unit: 'grapheme' }),
  fc.uint8Array({ maxLength: 40 }).map((bytes) => ({ $b64: Buffer.from(bytes).toString('base64') })),
);

describe('row images', () => {
  it('puts driver values in normal form: text as it is, bytes as base64 (a Buffer or PostgreSQL hex or escape text), NULL as null', () => {
    const image = imageOf(
      {
        id: '9007199254740993',
        code: '\\x00ff10',
        amount: '12345678901234567890.0123456789',
        at: null,
        blob: Buffer.from([1, 2, 255]),
        total: '3',
        touched: '2024-01-01 00:00:00',
      },
      META,
    );
    expect(image).toEqual({
      id: '9007199254740993',
      code: { $b64: Buffer.from([0x00, 0xff, 0x10]).toString('base64') },
      amount: '12345678901234567890.0123456789',
      at: null,
      blob: { $b64: Buffer.from([1, 2, 255]).toString('base64') },
      total: '3',
      touched: '2024-01-01 00:00:00',
    });
    // bytea's older escape output: \\ is a backslash, \ooo an octal byte.
    expect(imageOf({ code: 'a\\\\\\000\\377' }, META)['code']).toEqual({ $b64: Buffer.from([0x61, 0x5c, 0x00, 0xff]).toString('base64') });
  });

  it('stores images as JSON and reads them back equal, whatever the values (unicode, bytes, NULL)', () => {
    fc.assert(
      fc.property(fc.array(fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), imageValue, { maxKeys: 6 }), { maxLength: 5 }), (rows) => {
        const back = decodeImages(encodeImages(rows as RowImage[]));
        expect(back).toEqual(rows);
      }),
      { numRuns: 200 },
    );
  });

  it('refuses to read back what is not a list of images', () => {
    for (const text of ['{}', '[1]', '[{"a": 1}]', '[{"a": {"$b64": 1}}]', '[{"a": {"$b64": "", "x": 1}}]', '[{"a": [1]}]']) {
      expect(() => decodeImages(text), text).toThrow();
    }
  });

  it('binds values back as the database reads them: text, null, bytes', () => {
    expect(toBinding('1.50')).toBe('1.50');
    expect(toBinding(null)).toBeNull();
    expect(toBinding({ $b64: 'AP8=' })).toEqual(Buffer.from([0, 255]));
  });

  it('compares images on every column but the ones the database writes by itself', () => {
    const a: RowImage = { id: '1', code: { $b64: 'AA==' }, amount: '1', at: null, blob: null, total: '1', touched: 't1' };
    const columns = comparedColumns(META);
    expect(columns.map((c) => c.name)).toEqual(['id', 'code', 'amount', 'at', 'blob']);
    expect(sameImage(a, { ...a, total: '2', touched: 't2' }, columns)).toBe(true);
    expect(sameImage(a, { ...a, amount: '1.0' }, columns)).toBe(false);
    expect(sameImage(a, { ...a, blob: { $b64: 'AA==' } }, columns)).toBe(false);
    expect(sameImage(a, { ...a, code: { $b64: 'AQ==' } }, columns)).toBe(false);
    expect(sameImage(a, { ...a, at: '' }, columns)).toBe(false);
  });

  it('gives a row key in key order, bytes as b64:…, and binds it back', () => {
    const row: RowImage = { id: '42', code: { $b64: 'AP8=' }, amount: '1' };
    expect(keyOfImage(row, META.primaryKey)).toEqual(['42', 'b64:AP8=']);
    expect(pkBindings(META, ['42', 'b64:AP8='])).toEqual(['42', Buffer.from([0, 255])]);
  });
});

describe('timestamptz in UTC', () => {
  it('moves an offset timestamp to the same instant in UTC, keeping its fraction digit for digit', () => {
    expect(utcTimestamp('2024-05-01 12:30:00.123456+02')).toBe('2024-05-01 10:30:00.123456+00');
    expect(utcTimestamp('2024-01-01 01:00:00-03:30')).toBe('2024-01-01 04:30:00+00');
    expect(utcTimestamp('2024-03-01 00:10:00.5+05:30:15')).toBe('2024-02-29 18:39:45.5+00');
    expect(utcTimestamp('0099-12-31 23:00:00-02')).toBe('0100-01-01 01:00:00+00');
    expect(utcTimestamp('2024-05-01 10:30:00+00')).toBe('2024-05-01 10:30:00+00');
  });

  it('leaves what it cannot read as it is (BC, infinity)', () => {
    for (const text of ['infinity', '-infinity', '2024-05-01 10:30:00+02 BC']) expect(utcTimestamp(text)).toBe(text);
  });

  it('gives the same text for the same instant whatever the offset', () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date('1900-01-01T00:00:00Z'), max: new Date('2200-01-01T00:00:00Z'), noInvalidDate: true }),
        fc.integer({ min: -12 * 60, max: 14 * 60 }),
        fc.integer({ min: 0, max: 999_999 }),
        (date, offsetMinutes, micros) => {
          const shifted = new Date(date.getTime() + offsetMinutes * 60_000);
          const pad = (n: number, w = 2) => String(Math.abs(n)).padStart(w, '0');
          const sign = offsetMinutes < 0 ? '-' : '+';
          const fraction = `.${String(micros).padStart(6, '0')}`;
          const local =
            `${pad(shifted.getUTCFullYear(), 4)}-${pad(shifted.getUTCMonth() + 1)}-${pad(shifted.getUTCDate())} ` +
            `${pad(shifted.getUTCHours())}:${pad(shifted.getUTCMinutes())}:${pad(shifted.getUTCSeconds())}${fraction}` +
            `${sign}${pad(Math.trunc(Math.abs(offsetMinutes) / 60))}:${pad(Math.abs(offsetMinutes) % 60)}`;
          const utc = `${date.toISOString().slice(0, 19).replace('T', ' ')}${fraction}+00`;
          expect(utcTimestamp(local)).toBe(utc);
        },
      ),
      { numRuns: 300 },
    );
  });
});
