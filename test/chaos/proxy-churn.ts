/**
 * Connection churn through one FaultProxy, for test/chaos/socket-reset.test.ts:
 * clients and an upstream that half-close, close and reset at random, while
 * the proxy's mode changes every few milliseconds; then everything is closed
 * and the process must exit by itself. Before socket-reset.ts, a few seconds
 * of this leaked several socket handles (a reset right after an end()) and the
 * process never exited — what happened to `npm run chaos` after its summary.
 *
 *   node --import tsx test/chaos/proxy-churn.ts [seconds] [seed]
 */
import net from 'node:net';
import { seededRandom } from '../../examples/bank-transfer/cluster/random.ts';
import { pickFreePort } from '../../tools/free-port.ts';
import { FaultProxy, PROXY_MODES } from './fault-proxy.ts';
import { resetSocket } from './socket-reset.ts';

const seconds = Number(process.argv[2] ?? 3);
const random = seededRandom(Number(process.argv[3] ?? 1));
const MAX_OPEN = 60;

// Counts the resets Node could not carry out: each one leaks its socket's handle (socket-reset.ts).
let failedResets = 0;
const resetAndDestroy = net.Socket.prototype.resetAndDestroy;
net.Socket.prototype.resetAndDestroy = function (this: net.Socket) {
  this.once('error', (error: NodeJS.ErrnoException) => {
    if (error.syscall === 'reset') failedResets++;
  });
  return resetAndDestroy.call(this);
};

const upstream = net.createServer((socket) => {
  socket.on('error', () => undefined);
  socket.on('data', (chunk) => {
    const choice = random.int(0, 5);
    if (choice === 0) socket.end(chunk);
    else if (choice === 1) resetSocket(socket);
    else if (choice === 2) socket.destroy();
    else socket.write(chunk);
  });
  if (random.int(0, 7) === 0) setTimeout(() => socket.end('bye'), random.int(0, 50));
});
await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
const proxy = await FaultProxy.start({
  name: 'churn',
  target: { host: '127.0.0.1', port: (upstream.address() as net.AddressInfo).port },
  port: await pickFreePort(),
});

let switching = false;
const switcher = setInterval(() => {
  if (switching) return;
  switching = true;
  void proxy.setMode(random.pick(PROXY_MODES), { delayMs: random.int(0, 30) }).finally(() => (switching = false));
}, 7);

let open = 0;
function connect(): void {
  if (open >= MAX_OPEN) return;
  open++;
  const client = net.connect(proxy.endpoint.port, proxy.endpoint.host);
  client.on('error', () => undefined);
  client.on('close', () => open--);
  client.on('data', () => {
    const choice = random.int(0, 4);
    if (choice === 0) client.end();
    else if (choice === 1) client.destroy();
  });
  client.on('connect', () => {
    for (let i = random.int(0, 3); i > 0; i--) {
      setTimeout(() => client.destroyed || client.write('x'.repeat(random.int(1, 2_000))), random.int(0, 40));
    }
    setTimeout(
      () => {
        const choice = random.int(0, 2);
        if (choice === 0) client.end();
        else if (choice === 1) client.destroy();
        else resetSocket(client);
      },
      random.int(0, 80),
    );
  });
}
const spawner = setInterval(() => {
  for (let i = 0; i < 5; i++) connect();
}, 3);

await new Promise((resolve) => setTimeout(resolve, seconds * 1_000));
clearInterval(spawner);
clearInterval(switcher);
await new Promise((resolve) => setTimeout(resolve, 300));
await proxy.setMode('pass');
await proxy.close();
upstream.close();
const affected = proxy.stats().affected;
process.stdout.write(`churn done: ${PROXY_MODES.map((mode) => `${mode} ${affected[mode]}`).join(', ')}; failed resets ${failedResets}\n`);
