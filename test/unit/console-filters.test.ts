/**
 * The console names no mode and no status word of its own: its filters, its
 * list's status badges and its stats cards are built at start-up from the
 * coordinator's mode catalog (GET /admin/v1/modes). The pure functions that
 * turn a catalog into those (coordinator/console/api.js) are checked here
 * against the coordinator's real catalog and stats.
 */
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { modeCatalog } from '../../coordinator/api/mode-catalog.ts';
import { presentStats } from '../../coordinator/api/presentation.ts';
import { ALL_RULES, STATUS_WORDS } from '../../coordinator/modes/registry.ts';

const CONSOLE_DIR = new URL('../../coordinator/console/', import.meta.url);

type Catalog = ReturnType<typeof modeCatalog>;
type ModeInfo = Catalog['modes'][number];
type ModelStatus = 'open' | 'committing' | 'rolling-back' | 'committed' | 'rolled-back';
/**
 * The part of the console's api.js checked here, as its JSDoc declares it
 * (the console is plain JavaScript, type-checked by its own tsconfig; this
 * program does not read JavaScript, so the module is loaded by its path).
 */
interface ConsoleCatalogFunctions {
  MODEL_STATUSES: readonly ModelStatus[];
  UNFINISHED_STATUSES: readonly ModelStatus[];
  FINISHED_STATUSES: readonly ModelStatus[];
  statusChoices(catalog: Catalog, mode?: string): { value: string; label: string; modes: string[] }[];
  modeInfo(catalog: Catalog | null, mode: string): ModeInfo | undefined;
  statusNamed(catalog: Catalog | null, mode: string, word: string): ModelStatus | null;
  branchStatusNamed(catalog: Catalog | null, mode: string, word: string): string | null;
  wordCounts(catalog: Catalog, counts: Record<string, number>, statuses: readonly ModelStatus[]): { word: string; modes: string[]; count: number }[];
  deadlineStatus(info: ModeInfo): string;
}
const consoleApi: string = fileURLToPath(new URL('api.js', CONSOLE_DIR));
const { FINISHED_STATUSES, MODEL_STATUSES, UNFINISHED_STATUSES, branchStatusNamed, deadlineStatus, modeInfo, statusChoices, statusNamed, wordCounts } =
  (await import(consoleApi)) as ConsoleCatalogFunctions;

const catalog = modeCatalog();
const MODES = ALL_RULES.map((rules) => rules.mode);

describe('the console page', () => {
  it('holds no option of a mode or a status word: the status and mode filters start with "any" only', async () => {
    const html = await readFile(new URL('index.html', CONSOLE_DIR), 'utf8');
    for (const id of ['f-status', 'f-mode']) {
      const select = new RegExp(`<select id="${id}"[^>]*>([\\s\\S]*?)</select>`).exec(html)?.[1];
      expect(select, id).toBeDefined();
      expect([...select!.matchAll(/<option value="([^"]*)"/g)].map((m) => m[1])).toEqual(['']);
    }
    for (const word of [...STATUS_WORDS, ...MODES]) expect(html).not.toContain(`<option value="${word}"`);
  });

  it('names no mode in its scripts: no list of modes of its own', async () => {
    const scripts = (await readdir(CONSOLE_DIR)).filter((name) => name.endsWith('.js'));
    expect(scripts).toContain('console.js');
    for (const name of scripts) {
      const code = (await readFile(new URL(name, CONSOLE_DIR), 'utf8')).replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
      // As a string ('tcc') or as an object's key ({ tcc: … }).
      for (const mode of MODES) expect(code, `${name} names ${mode}`).not.toMatch(new RegExp(`['"\`]${mode}['"\`]|\\b${mode}\\s*:`));
    }
  });
});

describe('the status filter, from the catalog', () => {
  it('offers every status word of every mode once, in catalog order, labelled with the modes that use it', () => {
    const choices = statusChoices(catalog);
    const values = choices.map((c) => c.value);
    expect(new Set(values).size).toBe(values.length);
    expect([...values].sort()).toEqual([...STATUS_WORDS].sort());
    expect(values).toContain('executing');
    expect(choices.find((c) => c.value === 'executing')).toEqual({ value: 'executing', label: 'executing (fmt)', modes: ['fmt'] });
    expect(choices.find((c) => c.value === 'committing')).toEqual({ value: 'committing', label: 'committing (xa, fmt)', modes: ['xa', 'fmt'] });
    // Each mode's words in the order of its life: TCC first, as the registry lists it.
    expect(values.slice(0, 5)).toEqual(MODEL_STATUSES.map((status) => catalog.modes[0]!.statuses[status]));
  });

  it("with a mode chosen, offers only that mode's words", () => {
    expect(statusChoices(catalog, 'fmt').map((c) => c.value)).toEqual(['executing', 'committing', 'rolling-back', 'committed', 'rolled-back']);
    expect(statusChoices(catalog, 'tcc').map((c) => c.label)).toEqual(['trying', 'confirming', 'cancelling', 'confirmed', 'cancelled']);
    expect(statusChoices(catalog, 'no-such-mode')).toEqual([]);
  });

  it('knows a word only from the catalog it is given', () => {
    const onlyTcc = { modes: [modeInfo(catalog, 'tcc')!] };
    expect(statusChoices(onlyTcc).map((c) => c.value)).toEqual(['trying', 'confirming', 'cancelling', 'confirmed', 'cancelled']);
    expect(statusChoices({ modes: [] })).toEqual([]);
  });
});

describe('what a status word is, from the catalog', () => {
  it("names each mode's word by the model's status, for badges", () => {
    expect(statusNamed(catalog, 'fmt', 'executing')).toBe('open');
    expect(statusNamed(catalog, 'tcc', 'trying')).toBe('open');
    expect(statusNamed(catalog, 'saga', 'compensated')).toBe('rolled-back');
    expect(statusNamed(catalog, 'tcc', 'executing')).toBeNull();
    expect(statusNamed(null, 'tcc', 'trying')).toBeNull();
    expect(branchStatusNamed(catalog, 'fmt', 'executed')).toBe('pending');
    expect(branchStatusNamed(catalog, 'tcc', 'confirmed')).toBe('committed');
  });

  it('says while when the deadline applies: the open status, or committing for a mode submitted at begin', () => {
    expect(deadlineStatus(modeInfo(catalog, 'tcc')!)).toBe('trying');
    expect(deadlineStatus(modeInfo(catalog, 'fmt')!)).toBe('executing');
    expect(deadlineStatus(modeInfo(catalog, 'saga')!)).toBe('running');
  });

  it('shows row locks only for a mode whose branches hold them', () => {
    expect(catalog.modes.filter((info) => info.rowLocks).map((info) => info.mode)).toEqual(['fmt']);
  });
});

describe('the stats cards, from the catalog', () => {
  const stats = presentStats({
    open: [
      { mode: 'fmt', status: 'open', count: 2 },
      { mode: 'xa', status: 'committing', count: 1 },
      { mode: 'fmt', status: 'committing', count: 3 },
      { mode: 'tcc', status: 'rolling-back', count: 4 },
    ],
    finishedLastHour: [
      { mode: 'tcc', status: 'committed', count: 5 },
      { mode: 'fmt', status: 'rolled-back', count: 6 },
    ],
    needsAttention: 0,
    paused: 0,
    oldestOpenCreatedAt: null,
    retryBacklog: 0,
    flaggedLastHour: 0,
  });

  it("count open transactions by every mode's words (a word two modes share is one count of both)", () => {
    const open = wordCounts(catalog, stats.open, UNFINISHED_STATUSES);
    const words = catalog.modes.flatMap((info) => UNFINISHED_STATUSES.map((status) => info.statuses[status]));
    expect(open.map((c) => c.word)).toEqual([...new Set(words)]);
    expect(open.find((c) => c.word === 'executing')).toEqual({ word: 'executing', modes: ['fmt'], count: 2 });
    expect(open.find((c) => c.word === 'committing')).toEqual({ word: 'committing', modes: ['xa', 'fmt'], count: 4 });
    expect(open.find((c) => c.word === 'cancelling')).toEqual({ word: 'cancelling', modes: ['tcc'], count: 4 });
    expect(open.find((c) => c.word === 'trying')).toEqual({ word: 'trying', modes: ['tcc'], count: 0 });
    expect(open.reduce((n, c) => n + c.count, 0)).toBe(10);
  });

  it('count finished transactions by each mode’s committed and rolled-back words', () => {
    const sum = (statuses: readonly ModelStatus[]) => wordCounts(catalog, stats.finishedLastHour, statuses).reduce((n, c) => n + c.count, 0);
    expect(sum(['committed'])).toBe(5);
    expect(sum(['rolled-back'])).toBe(6);
    expect(wordCounts(catalog, stats.finishedLastHour, FINISHED_STATUSES).find((c) => c.word === 'confirmed')?.count).toBe(5);
  });
});
