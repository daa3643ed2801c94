/**
 * A TCP fault proxy for one network link: it listens on
 * 127.0.0.1 and forwards every connection to a target, unless a fault mode
 * says otherwise. The mode can be changed at any time and applies to new
 * and to already open connections:
 *
 * | mode        | new connections                        | open connections                          |
 * |-------------|----------------------------------------|-------------------------------------------|
 * | `pass`      | forwarded                              | forwarded                                 |
 * | `delay`     | forwarded, each chunk `delayMs` later  | the same, in both directions              |
 * | `drop`      | accepted, bytes read and discarded     | bytes discarded from now on               |
 * | `reset`     | accepted, then reset (RST)             | reset at once                             |
 * | `blackhole` | accepted, never read nor answered      | stalled: nothing read, nothing forwarded  |
 * | `refuse`    | not listening: ECONNREFUSED            | reset at once (the peer is gone)          |
 *
 * Back to `pass` (or `delay`): a stalled connection resumes where it stopped
 * (a healed partition: TCP would have retransmitted); a connection that lost
 * bytes under `drop` is reset, because its byte stream has a hole in it and
 * no protocol can carry on from there (TCP would eventually have given up
 * on it too, after minutes). `refuse` listens again on the same port.
 */
import net from 'node:net';
import { resetSocket } from './socket-reset.ts';

export const PROXY_MODES = ['pass', 'delay', 'drop', 'reset', 'blackhole', 'refuse'] as const;
export type ProxyMode = (typeof PROXY_MODES)[number];

export interface Endpoint {
  host: string;
  port: number;
}

export interface FaultProxyOptions {
  /** Name of the link, for stats and reports. */
  name: string;
  target: Endpoint;
  /** Port to listen on, on 127.0.0.1; it stays the same for the proxy's life. */
  port: number;
}

export interface ProxyStats {
  /** Connections accepted (refused connects never reach the proxy and are not counted). */
  accepted: number;
  open: number;
  /** Times each mode was switched on. */
  switches: Record<ProxyMode, number>;
  /** Connections that met each mode's fault (once per connection and mode). */
  affected: Record<ProxyMode, number>;
}

const zeroes = (): Record<ProxyMode, number> => ({ pass: 0, delay: 0, drop: 0, reset: 0, blackhole: 0, refuse: 0 });

type Direction = 'up' | 'down';

/** One proxied connection: the client side, the upstream side, and a delivery chain per direction. */
class ProxiedConnection {
  upstream: net.Socket | null = null;
  /** Lost bytes under `drop`: nothing is forwarded any more, and it is reset once the link heals. */
  poisoned = false;
  #held = false;
  #release: (() => void) | null = null;
  #gate: Promise<void> = Promise.resolve();
  #upstreamReady: Promise<boolean>;
  #resolveUpstream!: (ok: boolean) => void;
  readonly #chains: Record<Direction, Promise<void>> = { up: Promise.resolve(), down: Promise.resolve() };
  readonly #met = new Set<ProxyMode>();
  #closed = false;

  constructor(
    readonly client: net.Socket,
    private readonly proxy: FaultProxy,
  ) {
    this.#upstreamReady = new Promise((resolve) => (this.#resolveUpstream = resolve));
    client.on('data', (chunk: Buffer) => this.#enqueue('up', chunk));
    client.on('end', () => this.#enqueueEnd('up'));
    client.on('error', () => this.destroy());
    // After what the client sent before closing has been delivered (or dropped).
    client.on('close', () => (this.upstream ? this.#enqueueClose('up') : this.destroy()));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Counts this connection once for `mode`. */
  meet(mode: ProxyMode): void {
    if (this.#met.has(mode)) return;
    this.#met.add(mode);
    this.proxy.countAffected(mode);
  }

  connectUpstream(): void {
    if (this.upstream || this.#closed) return;
    const upstream = net.connect({ host: this.proxy.target.host, port: this.proxy.target.port });
    this.upstream = upstream;
    upstream.setNoDelay(true);
    upstream.on('connect', () => this.#resolveUpstream(true));
    upstream.on('data', (chunk: Buffer) => this.#enqueue('down', chunk));
    upstream.on('end', () => this.#enqueueEnd('down'));
    upstream.on('error', () => {
      // Target down: the client sees a reset, as close as a proxy gets to its ECONNREFUSED.
      this.#resolveUpstream(false);
      this.reset();
    });
    upstream.on('close', () => {
      this.#resolveUpstream(false);
      this.#enqueueClose('down');
    });
    if (this.#held) upstream.pause();
  }

  /** Stop reading both sides and forwarding anything (blackhole). */
  hold(): void {
    if (this.#held) return;
    this.#held = true;
    this.#gate = new Promise((resolve) => (this.#release = resolve));
    this.client.pause();
    this.upstream?.pause();
  }

  /**
   * Resume after a hold and flush what waited. With `connect` (the link is
   * healed), connect upstream if it never was, and reset a connection that
   * lost bytes; without (still `drop`), whatever it sends is now discarded.
   */
  resume(connect: boolean): void {
    if (connect && this.poisoned) {
      this.reset();
      return;
    }
    if (connect) this.connectUpstream();
    if (!this.#held) return;
    this.#held = false;
    this.#release?.();
    this.#release = null;
    this.client.resume();
    this.upstream?.resume();
  }

  /** Destroy both sides; the client gets an RST (a FIN if one was already on its way: see socket-reset.ts). */
  reset(): void {
    if (this.#closed) return;
    this.#closed = true;
    resetSocket(this.client);
    if (this.upstream) resetSocket(this.upstream);
    this.#release?.();
    this.#resolveUpstream(false);
    this.proxy.forget(this);
  }

  destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.client.destroy();
    this.upstream?.destroy();
    this.#release?.();
    this.#resolveUpstream(false);
    this.proxy.forget(this);
  }

  #enqueue(direction: Direction, chunk: Buffer): void {
    const arrived = Date.now();
    this.#chains[direction] = this.#chains[direction].then(() => this.#deliver(direction, chunk, arrived));
  }

  /** What happens to a chunk is decided when it is due, by the mode at that time. */
  async #deliver(direction: Direction, chunk: Buffer, arrived: number): Promise<void> {
    await this.#gate;
    if (this.#closed) return;
    if (this.poisoned || this.proxy.mode === 'drop') {
      this.poisoned = true;
      this.meet('drop');
      return;
    }
    if (direction === 'up' && !(await this.#upstreamReady)) return;
    if (this.#closed) return;
    const mode = this.proxy.mode;
    if (mode === 'delay' && this.proxy.delayMs > 0) {
      this.meet('delay');
      const wait = arrived + this.proxy.delayMs - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      await this.#gate;
      if (this.#closed || this.poisoned) return;
    }
    const target = direction === 'up' ? this.upstream : this.client;
    if (target && !target.destroyed) target.write(chunk);
  }

  #enqueueClose(direction: Direction): void {
    this.#chains[direction] = this.#chains[direction].then(() => this.destroy());
  }

  #enqueueEnd(direction: Direction): void {
    this.#chains[direction] = this.#chains[direction].then(async () => {
      await this.#gate;
      if (this.#closed) return;
      if (this.poisoned || this.proxy.mode === 'drop') {
        this.meet('drop');
        this.destroy();
        return;
      }
      if (direction === 'up') await this.#upstreamReady;
      if (this.#closed) return;
      const target = direction === 'up' ? this.upstream : this.client;
      if (target && !target.destroyed) target.end();
    });
  }
}

export class FaultProxy {
  #mode: ProxyMode = 'pass';
  #delayMs = 0;
  #server: net.Server | null = null;
  readonly #connections = new Set<ProxiedConnection>();
  readonly #stats: ProxyStats = { accepted: 0, open: 0, switches: zeroes(), affected: zeroes() };

  private constructor(readonly options: FaultProxyOptions) {}

  /** Starts listening on 127.0.0.1:`port`, in `pass` mode. */
  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const proxy = new FaultProxy(options);
    await proxy.#listen();
    return proxy;
  }

  get name(): string {
    return this.options.name;
  }

  get target(): Endpoint {
    return this.options.target;
  }

  /** Where clients should connect. */
  get endpoint(): Endpoint {
    return { host: '127.0.0.1', port: this.options.port };
  }

  get mode(): ProxyMode {
    return this.#mode;
  }

  get delayMs(): number {
    return this.#delayMs;
  }

  stats(): ProxyStats {
    return {
      ...this.#stats,
      open: this.#connections.size,
      switches: { ...this.#stats.switches },
      affected: { ...this.#stats.affected },
    };
  }

  /** Switches the mode; resolves once it is in force (listening again, connections reset or held). */
  async setMode(mode: ProxyMode, options: { delayMs?: number } = {}): Promise<void> {
    const previous = this.#mode;
    this.#mode = mode;
    this.#delayMs = mode === 'delay' ? Math.max(0, options.delayMs ?? 0) : 0;
    if (mode !== previous) this.#stats.switches[mode]++;
    const connections = [...this.#connections];
    switch (mode) {
      case 'pass':
      case 'delay':
      case 'drop':
        if (previous === 'refuse') await this.#listen();
        // Leaving a blackhole: held connections carry on (under drop, whatever they send is lost).
        for (const c of connections) c.resume(mode !== 'drop');
        break;
      case 'reset':
        if (previous === 'refuse') await this.#listen();
        for (const c of connections) {
          c.meet('reset');
          c.reset();
        }
        break;
      case 'blackhole':
        if (previous === 'refuse') await this.#listen();
        for (const c of connections) {
          c.meet('blackhole');
          c.hold();
        }
        break;
      case 'refuse':
        for (const c of connections) {
          c.meet('refuse');
          c.reset();
        }
        await this.#unlisten();
        break;
    }
  }

  async close(): Promise<void> {
    for (const c of [...this.#connections]) c.destroy();
    await this.#unlisten();
  }

  /** @internal */
  countAffected(mode: ProxyMode): void {
    this.#stats.affected[mode]++;
  }

  /** @internal */
  forget(connection: ProxiedConnection): void {
    this.#connections.delete(connection);
  }

  #accept(client: net.Socket): void {
    this.#stats.accepted++;
    client.setNoDelay(true);
    const connection = new ProxiedConnection(client, this);
    this.#connections.add(connection);
    switch (this.#mode) {
      case 'reset':
      case 'refuse': // a connect that raced the listener closing
        connection.meet(this.#mode);
        connection.reset();
        return;
      case 'blackhole':
        connection.meet('blackhole');
        connection.hold();
        return;
      case 'drop':
        // Not connected upstream: the bytes would go nowhere anyway. Connected when the
        // link heals, unless the client sent something meanwhile (then it is reset).
        connection.meet('drop');
        return;
      default:
        connection.connectUpstream();
    }
  }

  #listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = net.createServer({ pauseOnConnect: false }, (socket) => this.#accept(socket));
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port: this.options.port, exclusive: true }, () => {
        server.off('error', reject);
        server.on('error', () => undefined);
        this.#server = server;
        resolve();
      });
    });
  }

  #unlisten(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    if (!server) return Promise.resolve();
    // close() stops listening at once; its callback waits for connections, which are reset already.
    return new Promise((resolve) => server.close(() => resolve()));
  }
}
