/**
 * The README's TypeScript snippets compile against the packages as a user
 * imports them (`@dtx/participant-sdk`, `@dtx/coordinator`): each ```ts block
 * is type-checked as a module of its own with the project's compiler options.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fencedSnippets } from './code-snippets.ts';
import { typeCheckSnippets } from './type-check-snippets.ts';

const repoRoot = process.cwd();
/** Git- and lint-ignored (.gitignore, eslint.config.js), and inside the repository so that @dtx/* resolve to the workspace. */
const scratchDir = join(repoRoot, '.tmp', 'readme-snippets');

describe('README.md', () => {
  it('has TypeScript snippets that import the packages by name and type-check', async () => {
    const snippets = fencedSnippets(await readFile(join(repoRoot, 'README.md'), 'utf8'), ['ts', 'typescript']);
    expect(snippets.length).toBeGreaterThan(0);
    const relativeImports = snippets.filter((s) => /from\s+['"]\.{1,2}\//.test(s.code)).map((s) => `snippet ${s.number} (README.md:${s.firstLine})`);
    expect(relativeImports, 'snippets import the packages by name, as a user does').toEqual([]);

    const problems = await typeCheckSnippets(repoRoot, scratchDir, snippets);
    const report = problems.map((p) => (p.snippet === 0 ? p.message : `snippet ${p.snippet}, README.md:${p.documentLine}: ${p.message}`));
    expect(report).toEqual([]);
  }, 120_000);
});

describe('typeCheckSnippets', () => {
  it('reports a wrong snippet at its line in the document', async () => {
    const snippets = [
      { number: 1, firstLine: 10, code: "import { defineTcc } from '@dtx/participant-sdk';\nconst ok: typeof defineTcc = defineTcc;\nconsole.log(ok);" },
      { number: 2, firstLine: 20, code: 'const n: number = 1;\nconst s: string = n;\nconsole.log(s);' },
    ];
    const problems = await typeCheckSnippets(repoRoot, join(repoRoot, '.tmp', 'readme-snippets-self-test'), snippets);
    expect(problems).toEqual([{ snippet: 2, documentLine: 21, message: "Type 'number' is not assignable to type 'string'." }]);
  }, 120_000);
});

describe('fencedSnippets', () => {
  it('finds the blocks of the languages asked for, with the line of their first code line', () => {
    const markdown = ['# t', '```sh', 'npm ci', '```', '', '```ts', 'const a = 1;', '', 'const b = 2;', '```', '````typescript title', '```', '````'].join(
      '\n',
    );
    expect(fencedSnippets(markdown, ['ts', 'typescript'])).toEqual([
      { number: 1, firstLine: 7, code: 'const a = 1;\n\nconst b = 2;' },
      { number: 2, firstLine: 12, code: '```' },
    ]);
  });
});
