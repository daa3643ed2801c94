/** The console's status filter offers every status word of every mode, and nothing else. */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { STATUS_WORDS } from '../../coordinator/modes/registry.ts';

describe('the console status filter', () => {
  it('lists exactly the status words the modes use', async () => {
    const html = await readFile(new URL('../../coordinator/console/index.html', import.meta.url), 'utf8');
    const select = /<select id="f-status"[^>]*>([\s\S]*?)<\/select>/.exec(html)?.[1] ?? '';
    const values = [...select.matchAll(/<option value="([^"]*)"/g)].map((m) => m[1]).filter((v) => v !== '');
    expect(new Set(values).size).toBe(values.length);
    expect([...values].sort()).toEqual([...STATUS_WORDS].sort());
  });
});
