/** Parses the example services' `name=url` lists ("a=http://127.0.0.1:4001,b=http://127.0.0.1:4002"); trailing slashes are dropped. */
export function parseNamedUrls(text: string | undefined): Record<string, string> {
  const named: Record<string, string> = {};
  for (const pair of (text ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new Error(`bad entry "${pair}": expected name=url`);
    named[pair.slice(0, at)] = pair.slice(at + 1).replace(/\/+$/, '');
  }
  return named;
}
