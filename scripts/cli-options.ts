/**
 * One way to read command-line options for the project's commands (demo,
 * chaos, fuzz): each command declares its options with types, defaults and
 * bounds; `parseCliOrExit` validates argv against them, prints the usage on
 * `--help` (exit 0) and, on bad input, a clear message plus the usage on
 * stderr (exit 2). `parseCli` is the pure part, throwing CliUsageError.
 *
 * Accepted forms: `--name value`, `--name=value`, and `--flag` for booleans.
 * Tools only: the participant SDK and the coordinator do not depend on it.
 */

interface OptionBase {
  /** One line for the usage text. */
  description: string;
}

export interface BooleanOption extends OptionBase {
  type: 'boolean';
}

export interface NumberOption extends OptionBase {
  /** `integer` accepts safe integers only. */
  type: 'integer' | 'number';
  /** A function for a default drawn at parse time (e.g. a fresh seed). */
  default?: number | (() => number);
  min?: number;
  max?: number;
  /** Placeholder in the usage text; default N. */
  valueName?: string;
}

export interface StringOption extends OptionBase {
  type: 'string';
  default?: string;
  choices?: readonly string[];
  pattern?: RegExp;
  /** What a value matching `pattern` looks like, for the error message. */
  patternHint?: string;
  /** Placeholder in the usage text; default VALUE. */
  valueName?: string;
}

export type OptionSpec = BooleanOption | NumberOption | StringOption;

export interface CliSpec<O extends Record<string, OptionSpec> = Record<string, OptionSpec>> {
  /** How the command is run, e.g. `npm run demo --`. */
  command: string;
  /** Lines printed after the options in the usage text. */
  notes?: readonly string[];
  /** Keyed by flag name without the dashes; `help` is built in. */
  options: O;
}

type ValueOf<S> = S extends BooleanOption
  ? boolean
  : S extends NumberOption
    ? S extends { default: number | (() => number) }
      ? number
      : number | undefined
    : S extends StringOption
      ? S extends { default: string }
        ? string
        : string | undefined
      : never;

/** The parsed values, keyed like the spec: booleans default to false, options without a default may be undefined. */
export type CliValues<O extends Record<string, OptionSpec>> = { -readonly [K in keyof O]: ValueOf<O[K]> };

export class CliUsageError extends Error {
  override readonly name = 'CliUsageError';
}

/** Declares a command's options (an identity function that keeps the literal types). */
export function defineCli<const O extends Record<string, OptionSpec>>(spec: CliSpec<O>): CliSpec<O> {
  if ('help' in spec.options) throw new Error('--help is built in');
  return spec;
}

function placeholder(option: OptionSpec): string {
  if (option.type === 'boolean') return '';
  return option.valueName ?? (option.type === 'string' ? 'VALUE' : 'N');
}

function bounds(option: NumberOption): string {
  const { min, max } = option;
  const kind = option.type === 'integer' ? 'an integer' : 'a number';
  if (min !== undefined && max !== undefined) return `${kind} between ${min} and ${max}`;
  if (option.type === 'integer' && min === 0) return 'a non-negative integer';
  if (option.type === 'integer' && min === 1) return 'a positive integer';
  if (min !== undefined) return `${kind} >= ${min}`;
  if (max !== undefined) return `${kind} <= ${max}`;
  return kind;
}

/** The usage text: the synopsis line, then one line per option. */
export function formatUsage(spec: CliSpec): string {
  const entries = Object.entries(spec.options);
  const flag = (name: string, option: OptionSpec) => `--${name}${option.type === 'boolean' ? '' : ` ${placeholder(option)}`}`;
  const synopsis = `${spec.command} ${entries.map(([name, option]) => `[${flag(name, option)}]`).join(' ')}`;
  const width = Math.max(6, ...entries.map(([name, option]) => flag(name, option).length)) + 2;
  const lines = entries.map(([name, option]) => {
    const facts: string[] = [];
    if (option.type === 'string' && option.choices) facts.push(`one of ${option.choices.join(', ')}`);
    if (option.type !== 'boolean' && option.default !== undefined)
      facts.push(`default ${typeof option.default === 'function' ? 'drawn at start' : option.default}`);
    if ((option.type === 'integer' || option.type === 'number') && (option.min !== undefined || option.max !== undefined)) facts.push(bounds(option));
    return `  ${flag(name, option).padEnd(width)}${option.description}${facts.length ? ` (${facts.join('; ')})` : ''}`;
  });
  lines.push(`  ${'--help'.padEnd(width)}this text`);
  return [synopsis, '', ...lines, ...(spec.notes?.length ? ['', ...spec.notes] : [])].join('\n');
}

function convert(name: string, option: OptionSpec, raw: string): number | string {
  if (option.type === 'string') {
    if (option.choices && !option.choices.includes(raw))
      throw new CliUsageError(`--${name} must be one of ${option.choices.join(', ')}; got ${JSON.stringify(raw)}`);
    if (option.pattern && !option.pattern.test(raw))
      throw new CliUsageError(`--${name} must be ${option.patternHint ?? `a value matching ${option.pattern}`}; got ${JSON.stringify(raw)}`);
    return raw;
  }
  if (option.type === 'boolean') throw new Error('unreachable');
  const value = raw.trim() === '' ? Number.NaN : Number(raw);
  const valid =
    (option.type === 'integer' ? Number.isSafeInteger(value) : Number.isFinite(value)) &&
    (option.min === undefined || value >= option.min) &&
    (option.max === undefined || value <= option.max);
  if (!valid) throw new CliUsageError(`--${name} must be ${bounds(option)}; got ${JSON.stringify(raw)}`);
  return value;
}

/**
 * Parses argv (without node and the script) against the spec; `help` is
 * true when --help (or -h) was given, and then nothing else is validated.
 * Throws CliUsageError on anything else that is wrong.
 */
export function parseCli<O extends Record<string, OptionSpec>>(spec: CliSpec<O>, argv: readonly string[]): { help: boolean; values: CliValues<O> } {
  if (argv.includes('--help') || argv.includes('-h')) return { help: true, values: {} as CliValues<O> };
  const given = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const match = /^--([A-Za-z0-9][A-Za-z0-9-]*)(?:=(.*))?$/s.exec(arg);
    if (!match) throw new CliUsageError(`unexpected argument ${JSON.stringify(arg)}`);
    const name = match[1]!;
    const option = Object.hasOwn(spec.options, name) ? spec.options[name] : undefined;
    if (!option) throw new CliUsageError(`unknown option --${name}`);
    if (given.has(name)) throw new CliUsageError(`--${name} given twice`);
    if (option.type === 'boolean') {
      if (match[2] !== undefined) throw new CliUsageError(`--${name} takes no value`);
      given.set(name, true);
    } else if (match[2] !== undefined) {
      given.set(name, match[2]);
    } else {
      const next = argv[i + 1];
      if (next === undefined || /^--[A-Za-z]/.test(next)) throw new CliUsageError(`--${name} needs a value (${placeholder(option)})`);
      given.set(name, next);
      i++;
    }
  }
  const values: Record<string, unknown> = {};
  for (const [name, option] of Object.entries(spec.options)) {
    const raw = given.get(name);
    if (option.type === 'boolean') values[name] = raw === true;
    else if (raw !== undefined) values[name] = convert(name, option, raw as string);
    else values[name] = typeof option.default === 'function' ? option.default() : option.default;
  }
  return { help: false, values: values as CliValues<O> };
}

/** Where parseCliOrExit writes and how it exits (injected by tests). */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  exit: (code: number) => never;
}

const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  exit: (code) => process.exit(code),
};

/** Reports a usage error found after parsing (e.g. a check across options): message and usage on stderr, exit 2. */
export function exitWithUsageError(spec: CliSpec, message: string, io: CliIo = processIo): never {
  io.stderr(`${message}\n\n${formatUsage(spec)}\n`);
  return io.exit(2);
}

/** parseCli for a command's entry point: --help prints the usage and exits 0; bad input exits 2. */
export function parseCliOrExit<O extends Record<string, OptionSpec>>(
  spec: CliSpec<O>,
  argv: readonly string[] = process.argv.slice(2),
  io: CliIo = processIo,
): CliValues<O> {
  let parsed: { help: boolean; values: CliValues<O> };
  try {
    parsed = parseCli(spec, argv);
  } catch (error) {
    if (error instanceof CliUsageError) return exitWithUsageError(spec, error.message, io);
    throw error;
  }
  if (parsed.help) {
    io.stdout(`${formatUsage(spec)}\n`);
    return io.exit(0);
  }
  return parsed.values;
}
