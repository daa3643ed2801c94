/**
 * Works around a BullMQ behaviour (seen in 5.81): each of a queue's or
 * worker's Redis connections reports a failed connect by emitting 'error'
 * from a promise handler, and `close()` removes every listener first. When
 * the connect fails after the close — Redis unreachable while the
 * coordinator stops, once the stop disconnects the client — the emit finds
 * no listener, throws, and becomes an unhandled rejection, which ends a Node
 * process with an error instead of a clean exit. An 'error' that nobody
 * listens for any more is dropped instead: the owner is closed, and the
 * failure is the one its listeners already logged while it was open.
 */
import type { EventEmitter } from 'node:events';
import type { Queue, Worker } from 'bullmq';

/** The connection objects BullMQ keeps on a queue or worker (not part of its typed API). */
const CONNECTION_FIELDS = ['connection', 'blockingConnection'] as const;

export function dropErrorsAfterClose(owner: Queue | Worker): void {
  for (const field of CONNECTION_FIELDS) {
    const connection = (owner as unknown as Partial<Record<(typeof CONNECTION_FIELDS)[number], EventEmitter>>)[field];
    if (!connection) continue;
    const emit = connection.emit.bind(connection);
    connection.emit = (event: string | symbol, ...args: unknown[]): boolean =>
      event === 'error' && connection.listenerCount('error') === 0 ? false : emit(event, ...args);
  }
}
