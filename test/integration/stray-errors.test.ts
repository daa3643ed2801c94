/**
 * An error nothing catches in a running coordinator process (`npm start`,
 * coordinator/main.ts): the process logs one fatal JSON line naming the
 * error and exits with status 1, for its supervisor to restart it.
 */
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startCoordinatorProcess, testEnv, type CoordinatorProcess } from '../support/coordinator-harness.ts';
import { createTestDatabase, uniqueRedisPrefix, type TestDatabase } from '../support/databases.ts';
import { STRAY_ERROR_MESSAGE } from '../support/stray-error.ts';
import { pickFreePort } from '../../tools/free-port.ts';

const TRIGGER = ['--import', './test/support/stray-error.ts'];

let db: TestDatabase;
const started: CoordinatorProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase(inject('mysqlUrl'), 'stray_errors');
});

afterAll(async () => {
  for (const coordinator of started) await coordinator.kill();
  await db?.drop();
});

/** The JSON lines of a log file; anything else in it (a stack trace Node printed) is left out. */
function jsonLines(text: string): Record<string, unknown>[] {
  return text.split('\n').flatMap((line) => {
    try {
      const value: unknown = JSON.parse(line);
      return value !== null && typeof value === 'object' ? [value as Record<string, unknown>] : [];
    } catch {
      return [];
    }
  });
}

describe('a coordinator process and an error nothing catches', () => {
  it.each([
    ['a rejected promise nobody awaits', 'rejection', 'unhandledRejection'],
    ['an exception thrown from a callback', 'exception', 'uncaughtException'],
  ])('%s: one fatal JSON line with the error, then exit status 1', async (_case, kind, origin) => {
    const env = testEnv(db.url, inject('redisUrl'), uniqueRedisPrefix(`stray_${kind}`), { DTX_TEST_STRAY: kind, DTX_LOG_LEVEL: 'info' });
    const coordinator = await startCoordinatorProcess(env, await pickFreePort(), TRIGGER);
    started.push(coordinator);
    const exited = once(coordinator.child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;

    coordinator.child.kill('SIGUSR2');
    const [code, signal] = await exited;

    const log = await readFile(coordinator.logFile, 'utf8');
    expect({ code, signal }, log).toEqual({ code: 1, signal: null });
    const fatal = jsonLines(log).filter((line) => line['level'] === 60);
    expect(fatal, log).toHaveLength(1);
    expect(fatal[0]).toMatchObject({
      origin,
      service: 'dtx-coordinator',
      err: { type: 'Error', message: STRAY_ERROR_MESSAGE },
      msg: expect.stringMatching(/exiting on purpose .* supervisor restarts .* recovery resumes from the transaction log/),
    });
  });
});
