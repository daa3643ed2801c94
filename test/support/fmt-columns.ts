/** A table's column as the FMT session's catalog reads it, for unit tests: every flag off unless `extra` sets it. */
import type { ColumnMeta } from '../../participant-sdk/fmt/table-meta.ts';

export function column(name: string, extra: Partial<ColumnMeta> = {}): ColumnMeta {
  return {
    name,
    dataType: 'text',
    binary: false,
    timestampTz: false,
    generated: false,
    autoUpdated: false,
    autoIncrement: false,
    identityAlways: false,
    ...extra,
  };
}
