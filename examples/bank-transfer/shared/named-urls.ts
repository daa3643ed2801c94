/** Parses the example services' `name=url` lists ("a=http://127.0.0.1:4001,b=http://127.0.0.1:4002"); trailing slashes are dropped. */
export function parseNamedUrls(text: string | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(parseNamed(text, 'url')).map(([name, url]) => [name, url.replace(/\/+$/, '')]));
}

/** Parses the example services' `name=key` lists ("transfer-0=…,tools=…"), keys as given. */
export function parseNamedKeys(text: string | undefined): Record<string, string> {
  return parseNamed(text, 'key');
}

function parseNamed(text: string | undefined, what: 'url' | 'key'): Record<string, string> {
  const named: Record<string, string> = {};
  const pairs = (text ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  for (const [index, pair] of pairs.entries()) {
    const at = pair.indexOf('=');
    // A key is never echoed: its entry is named by its place.
    if (at <= 0) throw new Error(`bad entry ${what === 'url' ? `"${pair}"` : `#${index + 1}`}: expected name=${what}`);
    named[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return named;
}
