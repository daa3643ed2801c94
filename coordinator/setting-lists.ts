/** The shape shared by the list settings (DTX_API_TOKENS, DTX_ADMIN_TOKENS, DTX_PARTICIPANTS): comma-separated entries. */

/** The entries of a comma-separated setting, trimmed, empty ones dropped. */
export function listEntries(text: string): string[] {
  return text
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
}

/** `entry` cut at the first `separator`: what stands before it and after it, or the whole entry and null without one. */
export function cutAt(entry: string, separator: string): [string, string | null] {
  const cut = entry.indexOf(separator);
  return cut < 0 ? [entry, null] : [entry.slice(0, cut), entry.slice(cut + separator.length)];
}
