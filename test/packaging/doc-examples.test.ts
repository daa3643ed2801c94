/**
 * The `@example` blocks of the packages' doc comments compile against the
 * packages as a user imports them. An example shows one call, so it may use
 * the things around it without building them (a `participant`, a `dtx`
 * client, an `engine`): those are declared here, typed by the real API, and
 * everything else an example uses it must import itself.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { docCommentSnippets, type Snippet } from './code-snippets.ts';
import { typeCheckSnippets } from './type-check-snippets.ts';

const repoRoot = process.cwd();
const scratchDir = join(repoRoot, '.tmp', 'doc-examples');
const PACKAGE_FOLDERS = ['protocol', 'participant-sdk', 'coordinator'];

/** What examples may use without declaring it, by name; appended to an example that uses the name (line numbers stay the file's). */
const CONTEXT: Record<string, string> = {
  dtx: 'declare const dtx: __Sdk.DtxClient;',
  participant: 'declare const participant: __Sdk.Participant;',
  debit: 'declare const debit: __Sdk.TccResource<{ account: string; amount: number }>;',
  db: "declare const db: import('knex').Knex;",
  gid: 'declare const gid: string;',
  branchId: 'declare const branchId: string;',
  work: 'declare const work: (tx: __Sdk.TccTransaction) => Promise<unknown>;',
  engine: 'declare const engine: __Coordinator.Engine;',
  adminStore: 'declare const adminStore: __Coordinator.AdminStore;',
  headers: "declare const headers: import('node:http').IncomingHttpHeaders;",
  rawBody: 'declare const rawBody: string;',
  changed: 'declare const changed: number;',
};
const CONTEXT_IMPORTS = ["import type * as __Sdk from '@dtx/participant-sdk';", "import type * as __Coordinator from '@dtx/coordinator';"];

function withContext(code: string): string {
  const used = Object.entries(CONTEXT).filter(([name]) => {
    const declared = new RegExp(`(const|let|function|class)\\s+${name}\\b|import[^;]*\\b${name}\\b[^;]*from`).test(code);
    return !declared && new RegExp(`\\b${name}\\b`).test(code);
  });
  return [code, ...(used.length > 0 ? CONTEXT_IMPORTS : []), ...used.map(([, declaration]) => declaration)].join('\n');
}

async function typeScriptFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
    .map((e) => join(e.parentPath, e.name))
    .filter((file) => !/\/(dist|node_modules|console)\//.test(file));
}

describe("the packages' doc comment examples", () => {
  it('type-check against the packages', async () => {
    const snippets: Snippet[] = [];
    const origin = new Map<number, { file: string; firstLine: number }>();
    for (const folder of PACKAGE_FOLDERS) {
      for (const file of await typeScriptFiles(join(repoRoot, folder))) {
        for (const example of docCommentSnippets(await readFile(file, 'utf8'))) {
          const number = snippets.length + 1;
          snippets.push({ number, firstLine: example.firstLine, code: withContext(example.code) });
          origin.set(number, { file: relative(repoRoot, file), firstLine: example.firstLine });
        }
      }
    }
    // createParticipant, defineTcc, DtxClient, createEngine... each carries one.
    expect(snippets.length).toBeGreaterThanOrEqual(15);
    const problems = await typeCheckSnippets(repoRoot, scratchDir, snippets);
    const report = problems.map((p) => (p.snippet === 0 ? p.message : `${origin.get(p.snippet)?.file}:${p.documentLine}: ${p.message}`));
    expect(report).toEqual([]);
  }, 120_000);
});

describe('docCommentSnippets', () => {
  it('finds the ts blocks of doc comments, at their file lines', () => {
    const source = [
      '/**',
      ' * Says hi.',
      ' *',
      ' * @example',
      ' * ```ts',
      ' * hi();',
      ' * ```',
      ' */',
      'export function hi() {}',
      '// ```ts',
      '/* ```ts',
      'no */',
    ].join('\n');
    expect(docCommentSnippets(source)).toEqual([{ number: 1, firstLine: 6, code: 'hi();' }]);
  });
});
