/**
 * Recovery looks on in-process timers (coordinator/recovery/in-process-recovery.ts):
 * each scheduled look runs at its time, once per (gid, time), at most
 * `concurrency` at once, and a close waits for the running ones.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { InProcessRecovery } from '../../coordinator/recovery/in-process-recovery.ts';
import { waitFor } from '../../tools/wait.ts';

const logger = pino({ level: 'silent' });

function recovery(concurrency = 4) {
  const runs: { gid: string; at: number }[] = [];
  const backend = new InProcessRecovery({ concurrency, now: Date.now, logger });
  return { backend, runs };
}

describe('InProcessRecovery', () => {
  it('runs each look at its time, not before, and a (gid, time) scheduled again while pending or running once', async () => {
    const { backend, runs } = recovery();
    const started = Date.now();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    backend.start(async (gid) => {
      runs.push({ gid, at: Date.now() - started });
      if (gid === 'now') await gate;
    });
    await backend.scheduler.schedule('later', started + 150);
    await backend.scheduler.schedule('later', started + 150);
    await backend.scheduler.schedule('now', started);
    await waitFor(() => runs.length === 1, { what: 'the look due now', timeoutMs: 5_000 });
    await backend.scheduler.schedule('now', started);
    release();
    await waitFor(() => runs.length === 2, { what: 'both looks', timeoutMs: 5_000 });
    expect(runs.map((r) => r.gid)).toEqual(['now', 'later']);
    expect(runs[1]!.at).toBeGreaterThanOrEqual(145);
    await waitFor(async () => (await backend.depth()) === 0, { what: 'nothing left', timeoutMs: 5_000 });
    await backend.close(1_000);
  });

  it('runs at most `concurrency` looks at once, and the rest as the running ones end', async () => {
    const { backend } = recovery(2);
    let running = 0;
    let most = 0;
    const releases: (() => void)[] = [];
    const done: string[] = [];
    backend.start(async (gid) => {
      running++;
      most = Math.max(most, running);
      await new Promise<void>((resolve) => releases.push(resolve));
      running--;
      done.push(gid);
    });
    for (const gid of ['a', 'b', 'c', 'd']) await backend.scheduler.schedule(gid, Date.now());
    await waitFor(() => releases.length === 2, { what: 'two looks running', timeoutMs: 5_000 });
    expect(await backend.depth()).toBe(4);
    for (let released = 0; released < 4; released++) {
      await waitFor(() => releases.length > released, { what: `look ${released + 1} running`, timeoutMs: 5_000 });
      releases[released]!();
    }
    await waitFor(() => done.length === 4, { what: 'every look', timeoutMs: 5_000 });
    expect(most).toBe(2);
    await backend.close(1_000);
  });

  it('keeps going after a look that fails, and a close waits for the running ones (false past the grace)', async () => {
    const { backend } = recovery();
    const seen: string[] = [];
    let release!: () => void;
    backend.start(async (gid) => {
      seen.push(gid);
      if (gid === 'boom') throw new Error('look failed');
      if (gid === 'slow') await new Promise<void>((resolve) => (release = resolve));
    });
    await backend.scheduler.schedule('boom', Date.now());
    await backend.scheduler.schedule('after', Date.now());
    await backend.scheduler.schedule('slow', Date.now());
    await waitFor(() => seen.length === 3, { what: 'the three looks', timeoutMs: 5_000 });
    expect(await backend.close(50)).toBe(false);
    release();
    expect(await backend.close(1_000)).toBe(true);
    await backend.scheduler.schedule('closed', Date.now());
    expect(seen).not.toContain('closed');
  });
});
