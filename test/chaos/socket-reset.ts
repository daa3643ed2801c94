/**
 * Resetting a TCP connection (RST) without leaking its handle.
 *
 * `socket.resetAndDestroy()` asks libuv for `uv_tcp_close_reset`, which
 * refuses (EINVAL) while a shutdown is pending — from an `end()` made earlier
 * in the same turn of the event loop (Node half-closes a socket by itself
 * when its peer does, unless allowHalfOpen). Node then reports the EINVAL as
 * an 'error', but has already dropped the socket's handle without closing
 * it: the file descriptor stays open, 'close' never comes, and once
 * everything else is done the process never exits — Node's environment
 * cleanup waits for that handle forever, in a loop that keeps a core busy.
 * That is how `npm run chaos` once hung after its summary.
 *
 * So: reset only a socket whose writable side is still open or fully shut;
 * one whose FIN is on its way is destroyed instead (closed, not reset — the
 * peer gets its FIN instead of an RST; the connection dies either way).
 */
import type { Socket } from 'node:net';

export function resetSocket(socket: Socket): void {
  if (socket.destroyed) return;
  const shutdownPending = socket.writableEnded && !socket.writableFinished;
  if (shutdownPending) socket.destroy();
  else socket.resetAndDestroy();
}
