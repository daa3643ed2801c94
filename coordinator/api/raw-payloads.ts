/**
 * The exact text of each payload in a request body: `branches[i].payload`,
 * a saga's `steps[i].action.payload` and `steps[i].compensate.payload`.
 *
 * A payload is "any JSON" and reaches the participant as the bytes the
 * caller registered: parsing it into JavaScript values and printing it again
 * would change it (numbers beyond 2^53 lose digits, `1.0` becomes `1`,
 * escapes and spacing change), and the signature is over those bytes.
 *
 * Precondition: `text` is valid JSON (the body parser has parsed it already).
 * A small scanner, not a parser: it only finds where values start and end.
 */

/** The raw payload text of each element of the top-level `branches` array (undefined where absent). */
export function rawBranchPayloads(text: string): (string | undefined)[] {
  return rawPayloadsOf(text, 'branches').map((payloads) => payloads.get('payload'));
}

/**
 * The raw payload texts of each element of the top-level array `arrayKey`:
 * an element's own `payload`, and the `payload` of each object member one
 * level down (a saga step's `action.payload`), keyed by their path.
 */
export function rawPayloadsOf(text: string, arrayKey: string): Map<string, string>[] {
  const scanner = new Scanner(text);
  const found: Map<string, string>[] = [];
  scanner.space();
  if (text[scanner.at] !== '{') return found;
  /** At an object: records the `payload` members at `prefix`, and one level below when `depth` allows. */
  const collect = (into: Map<string, string>, prefix: string, depth: number) =>
    scanner.members((member) => {
      const start = scanner.at;
      if (member !== 'payload' && depth > 0 && text[scanner.at] === '{') collect(into, `${prefix}${member}.`, depth - 1);
      else scanner.skipValue();
      if (member === 'payload') into.set(`${prefix}payload`, text.slice(start, scanner.at));
    });
  scanner.members((key) => {
    if (key !== arrayKey || text[scanner.at] !== '[') return scanner.skipValue();
    // A later duplicate key wins, as in JSON.parse.
    found.length = 0;
    scanner.elements(() => {
      const payloads = new Map<string, string>();
      if (text[scanner.at] !== '{') scanner.skipValue();
      else collect(payloads, '', 1);
      found.push(payloads);
    });
  });
  return found;
}

class Scanner {
  at = 0;
  constructor(private readonly text: string) {}

  space(): void {
    while (this.at < this.text.length && ' \t\n\r'.includes(this.text[this.at]!)) this.at++;
  }

  /** At `{`: calls `onMember(key)` with the position at the member's value, which it must consume. */
  members(onMember: (key: string) => void): void {
    this.at++; // {
    this.space();
    if (this.text[this.at] === '}') {
      this.at++;
      return;
    }
    for (;;) {
      this.space();
      const keyStart = this.at;
      this.skipString();
      const key = JSON.parse(this.text.slice(keyStart, this.at)) as string;
      this.space();
      this.at++; // :
      this.space();
      onMember(key);
      this.space();
      if (this.text[this.at++] === '}') return; // else ','
    }
  }

  /** At `[`: calls `onElement()` at each element, which it must consume. */
  elements(onElement: () => void): void {
    this.at++; // [
    this.space();
    if (this.text[this.at] === ']') {
      this.at++;
      return;
    }
    for (;;) {
      this.space();
      onElement();
      this.space();
      if (this.text[this.at++] === ']') return; // else ','
    }
  }

  skipValue(): void {
    const c = this.text[this.at];
    if (c === '{') this.members(() => this.skipValue());
    else if (c === '[') this.elements(() => this.skipValue());
    else if (c === '"') this.skipString();
    // A number, true, false or null: up to the next delimiter.
    else while (this.at < this.text.length && !',]} \t\n\r'.includes(this.text[this.at]!)) this.at++;
  }

  skipString(): void {
    this.at++; // opening quote
    while (this.text[this.at] !== '"') this.at += this.text[this.at] === '\\' ? 2 : 1;
    this.at++; // closing quote
  }
}
