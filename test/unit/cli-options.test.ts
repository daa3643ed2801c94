import { describe, expect, it } from 'vitest';
import { CliUsageError, defineCli, exitWithUsageError, formatUsage, parseCli, parseCliOrExit, type CliIo } from '../../scripts/cli-options.ts';

const cli = defineCli({
  command: 'npm run thing --',
  options: {
    transfers: { type: 'integer', default: 200, min: 1, max: 1_000, description: 'how many' },
    rate: { type: 'number', default: 0, min: 0, max: 0.9, valueName: '0..1', description: 'a share' },
    seed: { type: 'integer', default: () => 42, min: 0, description: 'seed' },
    coordinators: { type: 'integer', min: 1, max: 8, description: 'optional count' },
    scenario: { type: 'string', valueName: 'NAME', choices: ['a', 'b'], description: 'one scenario' },
    path: { type: 'string', pattern: /^\d+(:\d+)*$/, patternHint: 'a path such as 12:3', description: 'a path' },
    soak: { type: 'boolean', description: 'long' },
  },
  notes: ['A note.'],
});

const parse = (...argv: string[]) => parseCli(cli, argv);
const usageError = (...argv: string[]) => {
  try {
    parse(...argv);
  } catch (error) {
    expect(error).toBeInstanceOf(CliUsageError);
    return (error as Error).message;
  }
  throw new Error(`no usage error for ${argv.join(' ')}`);
};

/** Records what parseCliOrExit writes, and turns exit into a throw. */
function fakeIo() {
  const io = { out: '', err: '', code: null as number | null };
  const cliIo: CliIo = {
    stdout: (text) => void (io.out += text),
    stderr: (text) => void (io.err += text),
    exit: (code) => {
      io.code = code;
      throw new Error(`exit ${code}`);
    },
  };
  return { io, cliIo };
}

describe('parseCli', () => {
  it('gives the defaults (a function default drawn at parse time), false for absent booleans, undefined for absent options', () => {
    const { help, values } = parse();
    expect(help).toBe(false);
    expect(values).toEqual({ transfers: 200, rate: 0, seed: 42, coordinators: undefined, scenario: undefined, path: undefined, soak: false });
  });

  it('reads --name value, --name=value and --flag, converting numbers', () => {
    const { values } = parse('--transfers', '500', '--rate=0.05', '--seed', '7', '--coordinators=2', '--scenario', 'b', '--path', '12:0:3', '--soak');
    expect(values).toEqual({ transfers: 500, rate: 0.05, seed: 7, coordinators: 2, scenario: 'b', path: '12:0:3', soak: true });
  });

  it('accepts values at the bounds', () => {
    expect(parse('--transfers', '1', '--rate', '0.9', '--seed', '0').values).toMatchObject({ transfers: 1, rate: 0.9, seed: 0 });
    expect(parse('--transfers', '1000').values.transfers).toBe(1_000);
  });

  it('refuses numbers out of bounds, non-numbers, empty values and fractions for integers, naming the option and the bounds', () => {
    expect(usageError('--transfers', '0')).toBe('--transfers must be an integer between 1 and 1000; got "0"');
    expect(usageError('--transfers', '1001')).toBe('--transfers must be an integer between 1 and 1000; got "1001"');
    expect(usageError('--transfers', '2.5')).toMatch(/^--transfers must be an integer/);
    expect(usageError('--transfers=')).toMatch(/^--transfers must be an integer/);
    expect(usageError('--rate', 'abc')).toBe('--rate must be a number between 0 and 0.9; got "abc"');
    expect(usageError('--rate', 'Infinity')).toMatch(/^--rate must be a number/);
    expect(usageError('--seed', '-1')).toBe('--seed must be a non-negative integer; got "-1"');
    expect(usageError('--coordinators', '9')).toBe('--coordinators must be an integer between 1 and 8; got "9"');
  });

  it('refuses strings outside their choices or pattern', () => {
    expect(usageError('--scenario', 'c')).toBe('--scenario must be one of a, b; got "c"');
    expect(usageError('--path', 'x1')).toBe('--path must be a path such as 12:3; got "x1"');
  });

  it('refuses unknown options, positional arguments, repeated options, valued booleans and missing values', () => {
    expect(usageError('--bogus')).toBe('unknown option --bogus');
    expect(usageError('--constructor', '1')).toBe('unknown option --constructor');
    expect(usageError('extra')).toBe('unexpected argument "extra"');
    expect(usageError('-x')).toBe('unexpected argument "-x"');
    expect(usageError('--seed', '1', '--seed', '2')).toBe('--seed given twice');
    expect(usageError('--soak=yes')).toBe('--soak takes no value');
    expect(usageError('--transfers')).toBe('--transfers needs a value (N)');
    expect(usageError('--transfers', '--soak')).toBe('--transfers needs a value (N)');
  });

  it('answers help for --help or -h, whatever else is on the line', () => {
    expect(parse('--help').help).toBe(true);
    expect(parse('-h').help).toBe(true);
    expect(parse('--transfers', 'nonsense', '--help').help).toBe(true);
  });
});

describe('formatUsage', () => {
  it('starts with the synopsis line, then one line per option with defaults, choices and bounds, then the notes', () => {
    const lines = formatUsage(cli).split('\n');
    expect(lines[0]).toBe('npm run thing -- [--transfers N] [--rate 0..1] [--seed N] [--coordinators N] [--scenario NAME] [--path VALUE] [--soak]');
    const text = lines.join('\n');
    expect(text).toMatch(/--transfers N +how many \(default 200; an integer between 1 and 1000\)/);
    expect(text).toMatch(/--rate 0\.\.1 +a share \(default 0; a number between 0 and 0\.9\)/);
    expect(text).toMatch(/--seed N +seed \(default drawn at start; a non-negative integer\)/);
    expect(text).toMatch(/--scenario NAME +one scenario \(one of a, b\)/);
    expect(text).toMatch(/--soak +long\n/);
    expect(text).toMatch(/--help +this text/);
    expect(lines.at(-1)).toBe('A note.');
  });
});

describe('parseCliOrExit', () => {
  it('returns the values when the line is valid, writing nothing', () => {
    const { io, cliIo } = fakeIo();
    expect(parseCliOrExit(cli, ['--transfers', '3'], cliIo).transfers).toBe(3);
    expect(io).toEqual({ out: '', err: '', code: null });
  });

  it('prints the usage on stdout and exits 0 for --help', () => {
    const { io, cliIo } = fakeIo();
    expect(() => parseCliOrExit(cli, ['--help'], cliIo)).toThrow('exit 0');
    expect(io.code).toBe(0);
    expect(io.out).toBe(`${formatUsage(cli)}\n`);
    expect(io.err).toBe('');
  });

  it('prints the message and the usage on stderr and exits 2 on bad input', () => {
    const { io, cliIo } = fakeIo();
    expect(() => parseCliOrExit(cli, ['--transfers', '0'], cliIo)).toThrow('exit 2');
    expect(io.code).toBe(2);
    expect(io.out).toBe('');
    expect(io.err).toBe(`--transfers must be an integer between 1 and 1000; got "0"\n\n${formatUsage(cli)}\n`);
  });

  it('exitWithUsageError reports a check made after parsing the same way', () => {
    const { io, cliIo } = fakeIo();
    expect(() => exitWithUsageError(cli, '--path needs --seed', cliIo)).toThrow('exit 2');
    expect(io.code).toBe(2);
    expect(io.err.startsWith('--path needs --seed\n\nnpm run thing --')).toBe(true);
  });

  it('defineCli refuses a spec that declares help itself', () => {
    expect(() => defineCli({ command: 'x', options: { help: { type: 'boolean', description: 'mine' } } })).toThrow('--help is built in');
  });
});
