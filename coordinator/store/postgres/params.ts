/**
 * Builds a statement's positional parameters while its SQL is written: each
 * value gets the next `$n`, always with an explicit type, so that a
 * parameter in a CASE or beside NULL is never left for the server to guess.
 */
export class Params {
  readonly values: unknown[] = [];

  /** The placeholder of `value`, cast to `type` (`$3::bigint`). */
  add(value: unknown, type: string): string {
    this.values.push(value);
    return `$${this.values.length}::${type}`;
  }
}
