/**
 * resetSocket (socket-reset.ts): a reset right after an end() must not leak
 * the socket's handle — with `resetAndDestroy()` the process then never
 * exits (it spins in Node's exit cleanup), which is how `npm run chaos` hung
 * after its summary. Both on a bare socket and under connection churn through
 * the fault proxy (proxy-churn.ts), in child processes, so that a leak shows
 * as a process that does not exit.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { resetSocket } from './socket-reset.ts';

const EXIT_BOUND_MS = 15_000;

/** Runs node (with tsx) on `args` in a fresh process; resolves with its exit code, or 'hung'. */
function runNode(args: string[]): Promise<{ exit: number | 'hung'; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--conditions=dtx-source', '--import', 'tsx', ...args], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve({ exit: 'hung', output });
    }, EXIT_BOUND_MS);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ exit: code ?? -1, output });
    });
  });
}

/** The connection the peer sees: FIN ('end') or RST ('error' ECONNRESET). */
async function peerSees(act: (socket: net.Socket) => void): Promise<string> {
  let seen: (what: string) => void = () => undefined;
  const outcome = new Promise<string>((resolve) => (seen = resolve));
  let accepted: () => void = () => undefined;
  const acceptedByServer = new Promise<void>((resolve) => (accepted = resolve));
  const server = net.createServer((peer) => {
    accepted();
    peer.on('end', () => seen('FIN'));
    peer.on('error', (error: NodeJS.ErrnoException) => seen(error.code ?? 'error'));
    peer.resume();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  socket.on('error', () => undefined);
  await new Promise((resolve) => socket.once('connect', resolve));
  await acceptedByServer;
  act(socket);
  try {
    return await outcome;
  } finally {
    server.close();
  }
}

describe('resetSocket', () => {
  it('resets a connection: the peer sees an RST', async () => {
    expect(await peerSees((socket) => resetSocket(socket))).toBe('ECONNRESET');
  });

  it('right after an end() (its FIN on the way) closes the socket instead, and the process still exits', { timeout: 30_000 }, async () => {
    expect(
      await peerSees((socket) => {
        socket.end();
        resetSocket(socket);
      }),
    ).toBe('FIN');
    const run = await runNode([
      '--input-type=module',
      '-e',
      `
      import net from 'node:net';
      import { resetSocket } from './test/chaos/socket-reset.ts';
      const server = net.createServer((peer) => peer.on('error', () => undefined));
      await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
      const socket = net.connect(server.address().port, '127.0.0.1');
      socket.on('error', (error) => console.log('socket error', error.code, error.syscall));
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.end();
      resetSocket(socket);
      server.close();
      server.unref();
      socket.once('close', () => console.log('closed'));
    `,
    ]);
    expect(run, run.output).toEqual({ exit: 0, output: 'closed\n' });
  });

  it('lets a process whose fault proxy churned through thousands of resets exit on its own', { timeout: 60_000 }, async () => {
    const run = await runNode(['test/chaos/proxy-churn.ts', '5', '7']);
    expect(run.output).toMatch(/^churn done: .*reset [1-9]/);
    expect(run.output).toMatch(/failed resets 0\n$/);
    expect(run.exit, run.output).toBe(0);
  });
});
