/**
 * The fault proxy against a tiny echo server: each mode does what it is named
 * after, on new and on open connections, and back to `pass` heals the link.
 */
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pickFreePort } from '../../tools/free-port.ts';
import { waitFor } from '../../tools/wait.ts';
import { FaultProxy } from './fault-proxy.ts';

interface EchoServer {
  port: number;
  /** Bytes the echo server has received in all. */
  received(): number;
  connections(): number;
  close(): Promise<void>;
}

async function startEcho(): Promise<EchoServer> {
  let received = 0;
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('data', (chunk) => {
      received += chunk.length;
      socket.write(chunk);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as net.AddressInfo;
  return {
    port: address.port,
    received: () => received,
    connections: () => connections,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A client connection that records what it got back and how it ended. */
interface Client {
  socket: net.Socket;
  text(): string;
  error(): NodeJS.ErrnoException | null;
  closed(): boolean;
}

function connect(port: number): Promise<Client> {
  return new Promise((resolve, reject) => {
    let data = '';
    let error: NodeJS.ErrnoException | null = null;
    let closed = false;
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.on('data', (chunk) => (data += chunk.toString()));
    socket.on('close', () => (closed = true));
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.on('error', (e) => (error = e));
      resolve({ socket, text: () => data, error: () => error, closed: () => closed });
    });
    socket.once('error', reject);
  });
}

/**
 * Absence can only be observed over a window: this waits `ms` on purpose,
 * after the proxy has shown (by its counters) that it handled the bytes.
 */
const observe = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let echo: EchoServer;
let proxy: FaultProxy;
const clients: Client[] = [];

async function client(): Promise<Client> {
  const c = await connect(proxy.endpoint.port);
  clients.push(c);
  return c;
}

beforeEach(async () => {
  echo = await startEcho();
  proxy = await FaultProxy.start({ name: 'test-link', target: { host: '127.0.0.1', port: echo.port }, port: await pickFreePort() });
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.socket.destroy();
  await proxy.close();
  await echo.close();
});

describe('FaultProxy', () => {
  it('pass: forwards both ways and counts connections', async () => {
    const c = await client();
    c.socket.write('hello');
    await waitFor(() => c.text() === 'hello', { what: 'the echo' });
    expect(proxy.stats()).toMatchObject({ accepted: 1, open: 1 });
    c.socket.end();
    await waitFor(() => proxy.stats().open === 0, { what: 'the connection to close through the proxy' });
  });

  it('delay: adds the delay to each chunk each way, on open connections too', async () => {
    const c = await client();
    c.socket.write('a');
    await waitFor(() => c.text() === 'a', { what: 'the first echo' });
    await proxy.setMode('delay', { delayMs: 150 });
    const started = Date.now();
    c.socket.write('b');
    await waitFor(() => c.text() === 'ab', { what: 'the delayed echo' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(proxy.stats().affected.delay).toBe(1);
    await proxy.setMode('pass');
    const fast = Date.now();
    c.socket.write('c');
    await waitFor(() => c.text() === 'abc', { what: 'the undelayed echo' });
    expect(Date.now() - fast).toBeLessThan(150);
  });

  it('drop: accepts, swallows bytes, forwards nothing; healing resets what lost bytes', async () => {
    const open = await client();
    await proxy.setMode('drop');
    const fresh = await client();
    open.socket.write('lost-1');
    fresh.socket.write('lost-2');
    await waitFor(() => proxy.stats().affected.drop === 2, { what: 'both connections to lose bytes' });
    await observe(200);
    expect(echo.received()).toBe(0);
    expect(open.text() + fresh.text()).toBe('');
    expect(open.closed() || fresh.closed()).toBe(false);

    await proxy.setMode('pass');
    await waitFor(() => open.closed() && fresh.closed(), { what: 'both broken streams to be reset' });
    expect(open.error()?.code).toBe('ECONNRESET');
    const after = await client();
    after.socket.write('ok');
    await waitFor(() => after.text() === 'ok', { what: 'a new connection to work' });
  });

  it('drop: a connection that sent nothing while dropping is connected once healed', async () => {
    await proxy.setMode('drop');
    const quiet = await client();
    await waitFor(() => proxy.stats().accepted === 1, { what: 'the proxy to accept' });
    expect(echo.connections()).toBe(0);
    await proxy.setMode('pass');
    quiet.socket.write('late');
    await waitFor(() => quiet.text() === 'late', { what: 'the echo after healing' });
  });

  it('reset: resets open connections and every new one', async () => {
    const open = await client();
    await proxy.setMode('reset');
    await waitFor(() => open.closed(), { what: 'the open connection to be reset' });
    expect(open.error()?.code).toBe('ECONNRESET');
    // The RST may arrive before or after the client saw its connect complete.
    const fresh = await client().catch((error: NodeJS.ErrnoException) => error);
    if (fresh instanceof Error) {
      expect(fresh.code).toBe('ECONNRESET');
    } else {
      await waitFor(() => fresh.closed(), { what: 'the new connection to be reset' });
      expect(fresh.error()?.code).toBe('ECONNRESET');
    }
    await waitFor(() => proxy.stats().affected.reset === 2, { what: 'both resets to be counted' });
    await proxy.setMode('pass');
    const after = await client();
    after.socket.write('x');
    await waitFor(() => after.text() === 'x', { what: 'the link to work again' });
  });

  it('blackhole: accepts and holds silently; healing delivers what waited', async () => {
    const open = await client();
    await proxy.setMode('blackhole');
    const fresh = await client();
    open.socket.write('held-1');
    fresh.socket.write('held-2');
    await waitFor(() => proxy.stats().affected.blackhole === 2, { what: 'both connections to be held' });
    await observe(200);
    expect(echo.received()).toBe(0);
    expect(echo.connections()).toBe(1); // the new one never reached the server
    expect(open.text() + fresh.text()).toBe('');
    expect(open.closed() || fresh.closed()).toBe(false);

    await proxy.setMode('pass');
    await waitFor(() => open.text() === 'held-1' && fresh.text() === 'held-2', { what: 'held bytes to be delivered' });
  });

  it('refuse: stops listening (ECONNREFUSED), resets open connections, listens again on the same port', async () => {
    const open = await client();
    const port = proxy.endpoint.port;
    await proxy.setMode('refuse');
    await waitFor(() => open.closed(), { what: 'the open connection to be reset' });
    await expect(connect(port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await proxy.setMode('pass');
    expect(proxy.endpoint.port).toBe(port);
    const after = await client();
    after.socket.write('back');
    await waitFor(() => after.text() === 'back', { what: 'the link to work again' });
    expect(proxy.stats().switches).toMatchObject({ refuse: 1, pass: 1 });
  });

  it('a dead target: the client is reset instead of hanging', async () => {
    await echo.close();
    const c = await client();
    await waitFor(() => c.closed(), { what: 'the client to be reset' });
  });
});
