/**
 * Type-checks code snippets as modules of the repository, with the root
 * tsconfig's options: each is written to its own file in a git-ignored
 * scratch folder inside the repository, so that `@dtx/*` package names
 * resolve to the workspace packages as they would in a user's project.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import ts from 'typescript';
import type { Snippet } from './code-snippets.ts';

export interface SnippetProblem {
  snippet: number;
  /** Line in the document the snippet came from (1-based). */
  documentLine: number;
  message: string;
}

/**
 * Every compiler diagnostic of the snippets, mapped back to the document's
 * lines; program-wide ones (options, globals) under snippet 0. The packages'
 * own sources are not reported here: `tsc --noEmit` checks them.
 */
export async function typeCheckSnippets(repoRoot: string, scratchDir: string, snippets: readonly Snippet[]): Promise<SnippetProblem[]> {
  await rm(scratchDir, { recursive: true, force: true });
  await mkdir(scratchDir, { recursive: true });
  const files = new Map<string, Snippet>();
  for (const snippet of snippets) {
    const file = resolve(scratchDir, `snippet-${snippet.number}.ts`);
    // `export {}` keeps a snippet without imports a module, so snippets never share top-level names.
    await writeFile(file, `${snippet.code}\nexport {};\n`);
    files.set(file, snippet);
  }

  const configPath = join(repoRoot, 'tsconfig.json');
  const parsed = ts.getParsedCommandLineOfConfigFile(
    configPath,
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
        throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
      },
    },
  );
  if (!parsed) throw new Error(`cannot read ${configPath}`);
  const program = ts.createProgram({ rootNames: [...files.keys()], options: { ...parsed.options, noEmit: true } });

  // The snippets' own diagnostics, and the program-wide ones; the packages' sources are tsc's to check.
  const snippetFiles = program.getSourceFiles().filter((file) => files.has(resolve(file.fileName)));
  const diagnostics = [
    ...program.getOptionsDiagnostics(),
    ...program.getGlobalDiagnostics(),
    ...snippetFiles.flatMap((file) => [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)]),
  ];
  const problems: SnippetProblem[] = [];
  for (const diagnostic of diagnostics) {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
    const snippet = diagnostic.file ? files.get(resolve(diagnostic.file.fileName)) : undefined;
    if (diagnostic.file && snippet && diagnostic.start !== undefined) {
      const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
      problems.push({ snippet: snippet.number, documentLine: snippet.firstLine + line, message });
    } else {
      const where = diagnostic.file ? `${diagnostic.file.fileName}: ` : '';
      problems.push({ snippet: 0, documentLine: 0, message: `${where}${message}` });
    }
  }
  return problems;
}
