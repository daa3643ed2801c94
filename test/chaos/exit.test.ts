/**
 * `npm run chaos` exits on its own once its work is done: a quick variant of
 * the real command (run.ts: its own MariaDB and Redis, one scenario with
 * link faults — resets included — on a one-coordinator cluster, summary,
 * cleanup) is run as a child process and must exit with code 0 soon after
 * printing its summary. It once printed "All invariants held" and then kept
 * a core busy for good (see socket-reset.ts).
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';

/** From the summary to the exit: stopping MariaDB and Redis gracefully, nothing more. */
const EXIT_AFTER_SUMMARY_MS = 30_000;
/** The whole run: servers, cluster, a 4 s fault window, convergence, cleanup. */
const RUN_BOUND_MS = 150_000;
const SUMMARY = 'All invariants held in every scenario';

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
  /** Milliseconds from the summary line to the exit; null without a summary. */
  exitAfterSummaryMs: number | null;
  hung: boolean;
}

function runChaos(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--conditions=dtx-source', '--import', 'tsx', 'test/chaos/run.ts', ...args], {
      cwd: process.cwd(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    let summaryAt: number | null = null;
    let hung = false;
    let deadline: NodeJS.Timeout;
    const giveUp = () => {
      hung = true;
      // SIGTERM first: the runner then stops its servers and cluster; SIGKILL if even that hangs.
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 20_000).unref();
    };
    const onOutput = (chunk: Buffer) => {
      output += chunk.toString();
      if (summaryAt === null && output.includes(SUMMARY)) {
        summaryAt = Date.now();
        clearTimeout(deadline);
        deadline = setTimeout(giveUp, EXIT_AFTER_SUMMARY_MS);
      }
    };
    child.stdout.on('data', onOutput);
    child.stderr.on('data', onOutput);
    deadline = setTimeout(giveUp, RUN_BOUND_MS);
    child.once('exit', (code, signal) => {
      clearTimeout(deadline);
      resolve({ code, signal, output, exitAfterSummaryMs: summaryAt === null ? null : Date.now() - summaryAt, hung });
    });
  });
}

describe('npm run chaos', () => {
  it('prints its summary and exits on its own, with code 0', { timeout: RUN_BOUND_MS + 30_000 }, async () => {
    const run = await runChaos(['--scenario', 'participant-network', '--transfers', '12', '--horizon', '4', '--coordinators', '1', '--seed', '7']);
    expect(run.output).toContain(SUMMARY);
    expect(run.hung, `still running ${EXIT_AFTER_SUMMARY_MS / 1000} s after its summary:\n${run.output}`).toBe(false);
    expect({ code: run.code, signal: run.signal }, run.output).toEqual({ code: 0, signal: null });
    expect(run.exitAfterSummaryMs).toBeLessThan(EXIT_AFTER_SUMMARY_MS);
  });
});
