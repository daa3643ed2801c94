/**
 * The code snippets of a document — the fenced blocks of Markdown, the
 * examples of doc comments — with where each starts, so that a failure in a
 * snippet is reported at its line in the document. Pure: text in, snippets out.
 */

export interface Snippet {
  /** 1-based position among the document's blocks of the language asked for. */
  number: number;
  /** The document line (1-based) of the block's first code line, just below its opening fence. */
  firstLine: number;
  code: string;
}

/**
 * Every block fenced with ``` (or longer) whose info string's first word is
 * one of `languages`, in document order. An unclosed block runs to the end.
 */
export function fencedSnippets(markdown: string, languages: readonly string[]): Snippet[] {
  const lines = markdown.split(/\r?\n/);
  const snippets: Snippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^ {0,3}(`{3,})\s*([^\s`]*)/.exec(lines[i] ?? '');
    if (!open) continue;
    const fence = open[1]!;
    const language = open[2]!.toLowerCase();
    const body: string[] = [];
    let j = i + 1;
    // A closing fence is at least as long as the opening one, with nothing after it.
    while (j < lines.length && !new RegExp(`^ {0,3}${fence}\`*\\s*$`).test(lines[j] ?? '')) body.push(lines[j++] ?? '');
    if (languages.includes(language)) snippets.push({ number: snippets.length + 1, firstLine: i + 2, code: body.join('\n') });
    i = j;
  }
  return snippets;
}

/**
 * The ```ts blocks of a TypeScript file's doc comments (`@example` sections),
 * with the file line of each block's first code line. The comments' leading
 * `*` is removed; everything outside `/** ... *\/` comments is ignored.
 */
export function docCommentSnippets(source: string): Snippet[] {
  let inDoc = false;
  const commentText = source.split(/\r?\n/).map((line) => {
    if (!inDoc && /^\s*\/\*\*/.test(line)) inDoc = !line.includes('*/');
    else if (inDoc) {
      if (line.includes('*/')) inDoc = false;
      // Same line count as the file, so a block's line is the file's line.
      else return line.replace(/^\s*\* ?/, '');
    }
    return '';
  });
  return fencedSnippets(commentText.join('\n'), ['ts', 'typescript']);
}
