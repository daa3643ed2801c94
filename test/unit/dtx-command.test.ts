/**
 * The coordinator's `dtx` command line (coordinator/bin/command.ts) and
 * where the benchmark finds an entry's built JavaScript (bench/bench-process.ts).
 */
import { describe, expect, it } from 'vitest';
import { builtEntry } from '../../bench/bench-process.ts';
import { needsRelaunch, parseCommand } from '../../coordinator/bin/command.ts';

describe('parseCommand', () => {
  it('knows start and migrate', () => {
    expect(parseCommand(['start'])).toEqual({ kind: 'start' });
    expect(parseCommand(['migrate'])).toEqual({ kind: 'migrate' });
  });

  it('prints the usage when asked or given nothing', () => {
    for (const args of [[], ['help'], ['--help'], ['-h']]) expect(parseCommand(args)).toEqual({ kind: 'help' });
  });

  it('refuses an unknown command and extra arguments', () => {
    expect(parseCommand(['stop'])).toMatchObject({ kind: 'unknown', message: expect.stringContaining('"stop"') });
    expect(parseCommand(['start', '--port=1'])).toMatchObject({ kind: 'unknown', message: expect.stringContaining('--port=1') });
  });
});

describe('parseCommand: dev', () => {
  it('keeps its data in .dtx-dev on port 36789 unless told otherwise', () => {
    expect(parseCommand(['dev'])).toEqual({ kind: 'dev', options: { dataDir: '.dtx-dev', port: 36789 } });
    expect(parseCommand(['dev', '--memory', '--port', '0'])).toEqual({ kind: 'dev', options: { dataDir: null, port: 0 } });
    expect(parseCommand(['dev', '--data', '/tmp/x', '--port', '4000'])).toEqual({ kind: 'dev', options: { dataDir: '/tmp/x', port: 4000 } });
  });

  it.each([[['dev', '--memory', '--data', 'x']], [['dev', '--port', 'many']], [['dev', '--port', '70000']], [['dev', '--data']], [['dev', '--tls']]])(
    'refuses %j',
    (args) => {
      expect(parseCommand(args)).toMatchObject({ kind: 'unknown' });
    },
  );
});

describe('needsRelaunch', () => {
  const flags = ['--max-old-space-size=128'];

  it('relaunches a node started without the flag', () => {
    expect(needsRelaunch([], undefined, flags)).toBe(true);
    expect(needsRelaunch(['--conditions=dtx-source', '--import', 'tsx'], '--enable-source-maps', flags)).toBe(true);
  });

  it('runs in-process when a heap size was chosen, on the command line or in NODE_OPTIONS', () => {
    expect(needsRelaunch(['--max-old-space-size=128'], undefined, flags)).toBe(false);
    expect(needsRelaunch([], '--max-old-space-size=512', flags)).toBe(false);
    expect(needsRelaunch(['--max-old-space-size=64', '--import', 'tsx'], '', flags)).toBe(false);
  });
});

describe('builtEntry', () => {
  it('maps an entry to the dist/ of the folder that builds it', () => {
    expect(builtEntry('coordinator/main.ts')).toBe('coordinator/dist/main.js');
    expect(builtEntry('examples/bank-transfer/bank/main.ts')).toBe('examples/bank-transfer/dist/bank/main.js');
    expect(builtEntry('bench/empty-participant.ts')).toBe('bench/dist/empty-participant.js');
  });

  it('refuses an entry no build compiles', () => {
    expect(() => builtEntry('scripts/dev-servers.ts')).toThrow(/npm run build/);
    expect(() => builtEntry('coordinator/console/console.js')).toThrow(/npm run build/);
  });
});
