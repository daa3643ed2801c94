/** Free TCP ports on 127.0.0.1 for the private servers and the processes of the demo, chaos and benchmark. */
import fs from 'node:fs';
import net from 'node:net';

/**
 * A free TCP port on 127.0.0.1, checked by binding a server to it and releasing it.
 * Candidates are taken BELOW the kernel's ephemeral range: ports in that range
 * get handed out as local ports of outgoing connections, so after a kill() a
 * port from it could be taken before start() re-binds it. Falls back to the
 * kernel's choice (bind to port 0).
 */
export async function pickFreePort(): Promise<number> {
  const low = ephemeralLowPort();
  const min = 10_000;
  if (low - min >= 1_000) {
    for (let i = 0; i < 20; i++) {
      const candidate = min + Math.floor(Math.random() * (low - min));
      if (await canListen(candidate)) return candidate;
    }
  }
  return listenOnce(0);
}

function ephemeralLowPort(): number {
  try {
    const [low] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
    const value = Number(low);
    return Number.isInteger(value) && value > 0 ? value : 32_768;
  } catch {
    return 32_768;
  }
}

async function canListen(port: number): Promise<boolean> {
  try {
    await listenOnce(port);
    return true;
  } catch {
    return false;
  }
}

function listenOnce(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
      const address = server.address();
      const chosen = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (chosen ? resolve(chosen) : reject(new Error('could not determine port'))));
    });
  });
}
